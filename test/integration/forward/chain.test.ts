// Corporate proxy chaining: client → wsgate → a second wsgate acting as the corporate proxy (Basic auth) → echo.
// Forward and reverse upstreams, plain and TLS, HTTP and WebSocket go through it; its refusals (407, 403, 5xx)
// reach the client with a body naming the upstream proxy (never its credentials); NO_PROXY decides what bypasses
// it, verified by which proxy saw each request.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { ProxyAgent, request } from 'undici';
import WebSocket from 'ws';
import { type EchoServer, startEchoServer } from '../../../src/echo/server.ts';
import { closedPort, rawExchange } from '../../helpers/servers.ts';
import { makeTestCa, startTlsEchoServer, tempDir, writePem } from '../../helpers/tls.ts';
import { eventually, forwardConfig, rawConnect, startProxy, startTcpServer, type TestProxy } from './helpers.ts';

const CORP_USER = 'corp-user';
const CORP_PASS = 'corp-s3cret';

async function echoServer(t: import('node:test').TestContext): Promise<EchoServer> {
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  return echo;
}

/** The "corporate proxy": a wsgate forward listener with Basic auth, refusing blocked.test. */
async function corpProxy(t: import('node:test').TestContext): Promise<TestProxy> {
  return startProxy(
    t,
    forwardConfig({
      auth: { realm: 'corp', users: [{ name: CORP_USER, password: CORP_PASS }] },
      denyHosts: ['blocked.test'],
    }),
  );
}

const corpUrl = (corp: TestProxy, password = CORP_PASS) => `http://${CORP_USER}:${password}@127.0.0.1:${corp.port()}`;

/** Tunnels the corporate proxy opened, by target. */
const tunnelsSeen = (corp: TestProxy) => corp.logs.events('connect.open').map((l) => l.target);

async function wsRoundTrip(ws: WebSocket, text: string): Promise<string> {
  await once(ws, 'open');
  ws.send(text);
  const [reply] = await once(ws, 'message');
  ws.close(1000);
  await once(ws, 'close');
  return String(reply);
}

test('forward mode through the corporate proxy: HTTP and a ws:// session over CONNECT, both with its auth', async (t) => {
  const echo = await echoServer(t);
  const corp = await corpProxy(t);
  const gw = await startProxy(
    t,
    forwardConfig({ via: 'corp' }, { proxies: [{ name: 'corp', url: corpUrl(corp), noProxy: '<-loopback>' }] }),
  );
  const agent = new ProxyAgent(gw.url());
  t.after(() => agent.close());
  const res = await request(`http://127.0.0.1:${echo.address.port}/`, { dispatcher: agent });
  assert.equal(res.statusCode, 200);
  // Two proxies, two Via entries: the corporate one and this wsgate.
  assert.equal(String(res.headers['via']).split(',').length, 2);
  await res.body.dump();
  const corpAccess = await corp.logs.waitFor('http.access');
  assert.equal(corpAccess.user, CORP_USER, 'the corporate proxy authenticated wsgate');
  assert.equal(corpAccess.url, `http://127.0.0.1:${echo.address.port}/`, 'absolute-form towards an HTTP proxy');
  assert.equal((await gw.logs.waitFor('http.access')).via, `http://127.0.0.1:${corp.port()}`);

  const tunnel = await rawConnect(gw.port(), `127.0.0.1:${echo.address.port}`);
  assert.equal(tunnel.status, 200);
  const ws = new WebSocket(`ws://127.0.0.1:${echo.address.port}/echo`, {
    createConnection: () => tunnel.socket.resume(),
  });
  assert.equal(await wsRoundTrip(ws, 'via corp'), 'via corp');
  await eventually(() => tunnelsSeen(corp).includes(`127.0.0.1:${echo.address.port}`), 5000, 'corp saw the tunnel');
  assert.equal(corp.logs.events('connect.open')[0]!.user, CORP_USER);
  const line = await gw.logs.waitFor('connect.close');
  assert.equal(line.via, `http://127.0.0.1:${corp.port()}`);
  // The credentials of the corporate proxy appear in neither log.
  for (const logs of [gw.logs, corp.logs]) assert.ok(!logs.raw.join('\n').includes(CORP_PASS));
});

test('wrong credentials for the corporate proxy: the client gets 407 naming that proxy, without its credentials', async (t) => {
  const echo = await echoServer(t);
  const corp = await corpProxy(t);
  const gw = await startProxy(
    t,
    forwardConfig(
      { via: 'corp' },
      { proxies: [{ name: 'corp', url: corpUrl(corp, 'wrong-pass'), noProxy: '<-loopback>' }] },
    ),
  );
  const r = await rawConnect(gw.port(), `127.0.0.1:${echo.address.port}`);
  assert.equal(r.status, 407);
  assert.match(r.head, /X-Wsgate-Error: WSG_UPSTREAM_PROXY_REFUSED/);
  assert.doesNotMatch(r.head, /Proxy-Authenticate/i, 'the corporate challenge is not the client’s to answer');
  assert.match(
    r.body,
    new RegExp(
      `upstream proxy corp \\(http://127\\.0\\.0\\.1:${corp.port()}\\) refused CONNECT 127\\.0\\.0\\.1:\\d+: 407`,
    ),
  );
  assert.match(r.body, /rejected the credentials in the proxy URL \(corp\)/);
  assert.doesNotMatch(r.body, /wrong-pass|corp-user/);
  const line = await gw.logs.waitFor('connect.upstream_error');
  assert.equal(line.status, 407);
  assert.equal(line.code, 'WSG_UPSTREAM_PROXY_REFUSED');

  // An absolute-form request the corporate proxy refuses the same way.
  const raw = (
    await rawExchange(
      gw.port(),
      `GET http://127.0.0.1:${echo.address.port}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    )
  ).toString();
  assert.match(raw, /^HTTP\/1\.1 407 /);
  assert.doesNotMatch(raw, /proxy-authenticate/i);
  assert.match(raw, /upstream proxy corp \(http:\/\/127\.0\.0\.1:\d+\) refused/);
  assert.ok(!gw.logs.raw.join('\n').includes('wrong-pass'));
});

test('403 and 5xx from the corporate proxy reach the client with the proxy named and the reason', async (t) => {
  const corp = await corpProxy(t);
  const gw = await startProxy(
    t,
    forwardConfig({ via: 'corp' }, { proxies: [{ name: 'corp', url: corpUrl(corp), noProxy: '<-loopback>' }] }),
  );
  const denied = await rawConnect(gw.port(), 'blocked.test:443');
  assert.equal(denied.status, 403);
  assert.match(denied.body, /upstream proxy corp .* refused CONNECT blocked\.test:443: 403 Forbidden: its policy/);
  const down = await closedPort();
  const unreachable = await rawConnect(gw.port(), `127.0.0.1:${down}`);
  assert.equal(unreachable.status, 502);
  assert.match(unreachable.body, /refused CONNECT 127\.0\.0\.1:\d+: 502 Bad Gateway: the proxy could not reach/);
  assert.deepEqual(
    gw.logs.events('connect.upstream_error').map((l) => l.status),
    [403, 502],
  );
});

test('HTTPS_PROXY and NO_PROXY from the environment (lower case wins): which proxy saw which tunnel', async (t) => {
  const viaCorp = await echoServer(t);
  const direct = await echoServer(t);
  const corp = await corpProxy(t);
  const bogus = await closedPort();
  const gw = await startProxy(t, forwardConfig(), {
    env: {
      https_proxy: corpUrl(corp),
      HTTPS_PROXY: `http://127.0.0.1:${bogus}`,
      NO_PROXY: `<-loopback>, 127.0.0.1:${direct.address.port}`,
    },
  });
  for (const echo of [viaCorp, direct]) {
    const tunnel = await rawConnect(gw.port(), `127.0.0.1:${echo.address.port}`);
    assert.equal(tunnel.status, 200);
    const ws = new WebSocket(`ws://127.0.0.1:${echo.address.port}/`, {
      createConnection: () => tunnel.socket.resume(),
    });
    assert.equal(await wsRoundTrip(ws, 'hi'), 'hi');
  }
  await eventually(() => gw.logs.events('connect.close').length === 2);
  const via = Object.fromEntries(gw.logs.events('connect.close').map((l) => [l.target, l.via]));
  assert.equal(via[`127.0.0.1:${viaCorp.address.port}`], `http://127.0.0.1:${corp.port()}`);
  assert.equal(via[`127.0.0.1:${direct.address.port}`], 'direct');
  await eventually(() => tunnelsSeen(corp).length === 1);
  assert.deepEqual(tunnelsSeen(corp), [`127.0.0.1:${viaCorp.address.port}`]);
  const env = gw.logs.events('proxy.env');
  assert.deepEqual(
    env.map((l) => l.variable),
    ['https_proxy'],
  );
});

test('reverse routes reach their upstream through the corporate proxy: ws, http, and wss with TLS inside', async (t) => {
  const echo = await echoServer(t);
  const ca = await makeTestCa();
  const tlsEcho = await startTlsEchoServer(t, await ca.issue({ names: ['localhost', '127.0.0.1'] }));
  const caFile = writePem(tempDir(t), 'ca.pem', ca.cert);
  const corp = await corpProxy(t);
  const gw = await startProxy(t, {
    listeners: [
      {
        name: 'web',
        bind: '127.0.0.1:0',
        routes: [{ match: { pathPrefix: '/secure' }, upstream: 'secure' }, { upstream: 'echo' }],
      },
    ],
    upstreams: [
      { name: 'echo', url: `ws://127.0.0.1:${echo.address.port}`, via: 'corp' },
      { name: 'secure', url: `wss://localhost:${tlsEcho.port}`, via: 'corp', tls: { ca: caFile } },
    ],
    proxies: [{ name: 'corp', url: corpUrl(corp), noProxy: ['<-loopback>'] }],
    shutdown: { grace: '200ms' },
  });
  const ws = new WebSocket(`ws://127.0.0.1:${gw.port()}/chat`);
  assert.equal(await wsRoundTrip(ws, 'reverse via corp'), 'reverse via corp');
  const http = await request(`http://127.0.0.1:${gw.port()}/page`);
  assert.equal(http.statusCode, 200);
  await http.body.dump();
  const secure = new WebSocket(`ws://127.0.0.1:${gw.port()}/secure`);
  assert.equal(await wsRoundTrip(secure, 'tls inside the tunnel'), 'tls inside the tunnel');
  await eventually(() => tunnelsSeen(corp).length >= 3, 5000, 'three tunnels through corp');
  const targets = tunnelsSeen(corp);
  assert.equal(targets.filter((x) => x === `127.0.0.1:${echo.address.port}`).length, 2, 'ws and http');
  assert.ok(targets.includes(`localhost:${tlsEcho.port}`), 'wss');
  await eventually(() => corp.logs.events('connect.close').some((l) => l.target === `localhost:${tlsEcho.port}`));
  assert.equal(corp.logs.events('connect.close').find((l) => l.target === `localhost:${tlsEcho.port}`)?.content, 'tls');
  assert.equal(tlsEcho.secureConnections(), 1);
});

test('a wss upstream named by its IP address through the corporate proxy: its certificate is checked for that address', async (t) => {
  const ca = await makeTestCa();
  // Only the address: a check against any other name ("localhost", the proxy's) fails.
  const tlsEcho = await startTlsEchoServer(t, await ca.issue({ names: ['127.0.0.1'] }));
  const caFile = writePem(tempDir(t), 'ca.pem', ca.cert);
  const corp = await corpProxy(t);
  const gw = await startProxy(t, {
    listeners: [{ name: 'web', bind: '127.0.0.1:0', routes: [{ upstream: 'secure' }] }],
    upstreams: [{ name: 'secure', url: `wss://127.0.0.1:${tlsEcho.port}`, via: 'corp', tls: { ca: caFile } }],
    proxies: [{ name: 'corp', url: corpUrl(corp), noProxy: ['<-loopback>'] }],
    shutdown: { grace: '200ms' },
  });
  const secure = new WebSocket(`ws://127.0.0.1:${gw.port()}/by-address`);
  assert.equal(await wsRoundTrip(secure, 'by address'), 'by address');
  assert.deepEqual(tunnelsSeen(corp), [`127.0.0.1:${tlsEcho.port}`]);
});

test('a corporate proxy that never answers CONNECT gives 504 after connectTimeout (±20 %)', async (t) => {
  // Reads what it is sent (so it sees the connection close) and never answers.
  const silent = await startTcpServer(t, (s) => s.resume());
  const gw = await startProxy(
    t,
    forwardConfig(
      { via: 'corp' },
      {
        proxies: [{ name: 'corp', url: `http://127.0.0.1:${silent.port}`, noProxy: '<-loopback>' }],
        limits: { connectTimeout: '1s' },
      },
    ),
  );
  const started = Date.now();
  const r = await rawConnect(gw.port(), '127.0.0.1:8443');
  const elapsed = Date.now() - started;
  assert.equal(r.status, 504);
  assert.match(r.head, /X-Wsgate-Error: WSG_UPSTREAM_TIMEOUT/);
  assert.match(r.body, /127\.0\.0\.1:8443 through proxy corp \(http:\/\/127\.0\.0\.1:\d+\) did not answer within 1s/);
  assert.ok(elapsed >= 800 && elapsed <= 1200 + 300, `504 after ${elapsed} ms`);
  assert.equal(silent.accepted(), 1);
  await eventually(() => silent.open() === 0, 3000, 'the connection to the silent proxy closed');
});
