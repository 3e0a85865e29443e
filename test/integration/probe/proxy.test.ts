// `wsgate probe` through proxies: a forward wsgate (CONNECT for wss, absolute-form for ws), proxies that refuse
// (407 with the schemes they offer, 403 to a non-443 port naming Squid from its headers), a proxy that strips the
// Upgrade header, a PAC file that sends some hosts DIRECT and others through a proxy (falling through a dead one),
// and --compare.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startHttpServer } from '../../helpers/servers.ts';
import { makeTestCa, startTlsEchoServer, tempDir } from '../../helpers/tls.ts';
import { forwardConfig, startProxy } from '../forward/helpers.ts';
import {
  AUTH_407,
  failure,
  probe,
  SQUID_LIKE_403,
  startConnectAnswerer,
  startRefusingProxy,
  startStrippingProxy,
  startWsEcho,
  stepOf,
} from './helpers.ts';

test('wss through a forward wsgate: CONNECT, then TLS to the server, then the WebSocket', async (t) => {
  const ca = await makeTestCa();
  const server = await startTlsEchoServer(t, await ca.issue());
  const gw = await startProxy(t, forwardConfig());
  const report = await probe({ url: `${server.wss}/echo`, proxy: gw.url(), ca: [ca.cert], send: 'through' });
  assert.equal(report.ok, true, JSON.stringify(report.verdict));
  assert.deepEqual(
    report.steps.map((s) => s.step),
    ['path', 'dns', 'tcp', 'connect', 'tls', 'upgrade', 'negotiate', 'message', 'ping'],
  );
  assert.equal(stepOf(report, 'connect').verdict.code, 'CONNECT_OK');
  assert.equal(report.routes[0]?.mode, 'tunnel');
});

test('ws through a forward wsgate as an absolute-form GET, and with --tunnel as CONNECT', async (t) => {
  const echo = await startWsEcho(t);
  const gw = await startProxy(t, forwardConfig());
  const plain = await probe({ url: echo.url, proxy: gw.url(), send: 'a' });
  assert.equal(plain.ok, true, JSON.stringify(plain.verdict));
  assert.match(String(stepOf(plain, 'upgrade').facts['request']), /^GET http:\/\/127\.0\.0\.1:\d+\/echo HTTP\/1\.1$/);
  const tunnelled = await probe({ url: echo.url, proxy: gw.url(), tunnel: true, send: 'b' });
  assert.equal(tunnelled.ok, true, JSON.stringify(tunnelled.verdict));
  assert.equal(stepOf(tunnelled, 'connect').verdict.code, 'CONNECT_OK');
});

test('407 from the proxy: the schemes it offers and how to give credentials', async (t) => {
  const proxy = await startRefusingProxy(t, AUTH_407);
  const report = await probe({ url: 'wss://127.0.0.1:443/socket', proxy: `http://127.0.0.1:${proxy.port}` });
  assert.deepEqual(failure(report), { step: 'connect', code: 'CONNECT_AUTH_REQUIRED' });
  assert.match(report.verdict.detail, /offers Negotiate, Basic/);
  assert.match(report.verdict.hint ?? '', /user:pass@/);
});

test('a forward wsgate with auth: 407 without credentials, through with them', async (t) => {
  const echo = await startWsEcho(t);
  const gw = await startProxy(t, forwardConfig({ auth: { users: [{ name: 'ann', password: 's3cret' }] } }));
  const refused = await probe({ url: echo.url, proxy: gw.url(), tunnel: true });
  assert.deepEqual(failure(refused), { step: 'connect', code: 'CONNECT_AUTH_REQUIRED' });
  assert.equal(refused.proxyProduct, 'wsgate');
  const url = new URL(gw.url());
  url.username = 'ann';
  url.password = 's3cret';
  const through = await probe({ url: echo.url, proxy: url.href, tunnel: true });
  assert.equal(through.ok, true, JSON.stringify(through.verdict));
  assert.ok(!JSON.stringify(through).includes('s3cret'), 'the password never appears in the report');
});

test('interim 100 and 103 before the 200 to CONNECT: read past, named in the connect step, and the tunnel works', async (t) => {
  const echo = await startWsEcho(t);
  const proxy = await startConnectAnswerer(
    t,
    [
      'HTTP/1.1 100 Continue\r\n\r\n',
      'HTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\n\r\n',
      'HTTP/1.1 200 Connection established\r\n\r\n',
    ],
    echo.port,
  );
  const report = await probe({ url: echo.url, proxy: `http://127.0.0.1:${proxy.port}`, tunnel: true, send: 'x' });
  assert.equal(report.ok, true, JSON.stringify(report.verdict));
  const connect = stepOf(report, 'connect');
  assert.equal(connect.verdict.code, 'CONNECT_OK');
  assert.equal(
    connect.verdict.detail,
    'tunnel open: 200 Connection established (after interim 100 Continue, 103 Early Hints)',
  );
  assert.equal(connect.facts['status'], 200);
  assert.deepEqual(connect.facts['interim'], [
    { status: 100, statusLine: '100 Continue', headers: [] },
    { status: 103, statusLine: '103 Early Hints', headers: [['Link', '</a.js>; rel=preload']] },
  ]);
  assert.equal(stepOf(report, 'message').verdict.code, 'MESSAGE_OK');
});

test('an interim 100 before a 407 to CONNECT: the 407 is the answer judged; a 101 is an answer, not interim', async (t) => {
  const auth = await startConnectAnswerer(t, ['HTTP/1.1 100 Continue\r\n\r\n', AUTH_407], 9);
  const refused = await probe({ url: 'wss://127.0.0.1:443/socket', proxy: `http://127.0.0.1:${auth.port}` });
  assert.deepEqual(failure(refused), { step: 'connect', code: 'CONNECT_AUTH_REQUIRED' });
  assert.match(refused.verdict.detail, /\(after interim 100 Continue\)$/);
  // RFC 9110 §15.2.2: 101 switches protocols, so it ends the wait; to CONNECT it is no tunnel.
  const switched = await startConnectAnswerer(
    t,
    ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', 'HTTP/1.1 200 OK\r\n\r\n'],
    9,
  );
  const report = await probe({ url: 'wss://127.0.0.1:443/socket', proxy: `http://127.0.0.1:${switched.port}` });
  assert.deepEqual(failure(report), { step: 'connect', code: 'CONNECT_FAILED' });
  assert.equal(stepOf(report, 'connect').facts['status'], 101);
  assert.equal(stepOf(report, 'connect').facts['interim'], undefined);
});

test('403 to CONNECT on a non-443 port names Squid from its headers and says to use 443', async (t) => {
  const proxy = await startRefusingProxy(t, SQUID_LIKE_403);
  const report = await probe({ url: 'wss://127.0.0.1:8443/socket', proxy: `http://127.0.0.1:${proxy.port}` });
  assert.deepEqual(failure(report), { step: 'connect', code: 'CONNECT_REFUSED_PORT' });
  assert.match(report.verdict.detail, /403 Forbidden from Squid 5\.7/);
  assert.match(report.verdict.hint ?? '', /port 443/);
  assert.equal(report.proxyProduct, 'Squid 5.7');
});

test('a proxy that strips Upgrade: "something on the path removed the Upgrade header"', async (t) => {
  const proxy = await startStrippingProxy(t);
  const report = await probe({ url: 'ws://127.0.0.1:9/socket', proxy: `http://127.0.0.1:${proxy.port}` });
  assert.deepEqual(failure(report), { step: 'upgrade', code: 'UPGRADE_STRIPPED' });
  assert.match(report.verdict.detail, /removed the Upgrade header/);
  assert.match(report.verdict.hint ?? '', /wss:\/\//);
});

test('PAC: DIRECT for one host, a proxy list (the first one dead) for another', async (t) => {
  const echo = await startWsEcho(t);
  const gw = await startProxy(t, forwardConfig(), { names: ['app.example.test'] });
  const dir = tempDir(t, 'wsgate-pac-');
  const pac = join(dir, 'proxy.pac');
  writeFileSync(
    pac,
    `function FindProxyForURL(url, host) {
      if (host === "127.0.0.1") return "DIRECT";
      if (shExpMatch(url, "http://*.example.test:*")) return "PROXY 127.0.0.1:1; PROXY 127.0.0.1:${gw.port()}";
      return "DIRECT";
    }`,
  );
  const direct = await probe({ url: echo.url, pac });
  assert.equal(direct.ok, true, JSON.stringify(direct.verdict));
  assert.equal(stepOf(direct, 'path').verdict.code, 'PATH_DIRECT');
  assert.match(stepOf(direct, 'path').verdict.detail, /PAC/);

  const port = new URL(echo.url).port;
  const proxied = await probe({ url: `ws://app.example.test:${port}/echo`, pac, send: 'pac' });
  assert.equal(proxied.ok, true, JSON.stringify(proxied.verdict));
  assert.equal(proxied.routes.length, 2, 'fell through the dead proxy to the next');
  assert.equal(proxied.routes[1]?.proxy, `http://127.0.0.1:${gw.port()}`);
  const tcp = proxied.steps.filter((s) => s.step === 'tcp');
  assert.equal(tcp[0]?.verdict.code, 'TCP_REFUSED');
  assert.equal(tcp[0]?.verdict.warn, true);
});

test('--compare: direct works, the stripping proxy breaks it, and the difference is shown', async (t) => {
  const echo = await startWsEcho(t);
  const proxy = await startStrippingProxy(t);
  const report = await probe({ url: echo.url, proxy: `http://127.0.0.1:${proxy.port}`, compare: true });
  const compare = stepOf(report, 'compare');
  assert.equal(compare.verdict.code, 'COMPARE_PROXY_BREAKS');
  assert.equal((compare.facts['direct'] as { status: number }).status, 101);
  assert.equal((compare.facts['proxied'] as { status: number }).status, 426);
  const removed = (compare.facts['removed'] as [string, string][]).map(([n]) => n);
  assert.ok(removed.includes('sec-websocket-accept'), JSON.stringify(removed));
  assert.deepEqual(failure(report), { step: 'upgrade', code: 'UPGRADE_STRIPPED' });
});

test('a PAC script that throws is a path failure', async (t) => {
  const dir = tempDir(t, 'wsgate-pac-');
  const pac = join(dir, 'bad.pac');
  writeFileSync(pac, 'function FindProxyForURL(url, host) { throw new Error("no network here"); }');
  const report = await probe({ url: 'ws://127.0.0.1:9/', pac });
  assert.deepEqual(failure(report), { step: 'path', code: 'PATH_PAC_FAILED' });
  assert.match(report.verdict.detail, /no network here/);
  assert.match(report.verdict.hint ?? '', /^Fix the PAC script/);
});

test('a PAC file that cannot be read is said as such, with its own hint, not as a script to fix', async (t) => {
  const missing = join(tempDir(t, 'wsgate-pac-'), 'missing.pac');
  const report = await probe({ url: 'ws://127.0.0.1:9/', pac: missing });
  assert.deepEqual(failure(report), { step: 'path', code: 'PATH_PAC_FAILED' });
  assert.equal(report.verdict.detail, `PAC ${missing}: cannot read it: no such file`);
  assert.match(report.verdict.hint ?? '', /^Check the file or URL given to --pac/);
});

test('a PAC file fetched from a URL', async (t) => {
  const echo = await startWsEcho(t);
  const served = await startHttpServer(t, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/x-ns-proxy-autoconfig' });
    res.end('function FindProxyForURL(url, host) { return "DIRECT"; }');
  });
  const report = await probe({ url: echo.url, pac: `${served.url}/proxy.pac` });
  assert.equal(report.ok, true, JSON.stringify(report.verdict));
  assert.match(stepOf(report, 'path').verdict.detail, /PAC http:\/\/127\.0\.0\.1:\d+\/proxy\.pac: DIRECT/);
});
