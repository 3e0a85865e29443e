// Access control of a forward listener: ports, host patterns, destination classes, proxy authentication, loops,
// and the refusal to start an open proxy beyond loopback. Every refusal is checked to dial nothing (the target's
// accept count stays 0), to log one coded line, and to leave the proxy serving the next client.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ProxyAgent, request } from 'undici';
import { configFromObject } from '../../../src/config/load.ts';
import type { WsgateError } from '../../../src/errors.ts';
import { runCli } from '../../helpers/cli.ts';
import { rawExchange, startHttpServer } from '../../helpers/servers.ts';
import { tempDir } from '../../helpers/tls.ts';
import { forwardConfig, rawConnect, readUntil, startProxy, startTcpServer } from './helpers.ts';

/** A TCP server that answers "pong" to anything: what a permitted tunnel reaches. */
async function pongServer(t: import('node:test').TestContext) {
  return startTcpServer(t, (s) => s.on('data', () => s.write('pong')));
}

/** The proxy still opens a permitted tunnel after whatever the test did. */
async function assertHealthy(port: number, target: string): Promise<void> {
  const ok = await rawConnect(port, target);
  assert.equal(ok.status, 200, 'a healthy CONNECT after the refusals');
  ok.socket.destroy();
}

test('a port outside allowPorts gets 403 reason=port, and no connection is attempted', async (t) => {
  const sink = await pongServer(t);
  const gw = await startProxy(t, forwardConfig({ allowPorts: [443, '8000-8999'] }));
  const r = await rawConnect(gw.port(), `127.0.0.1:${sink.port}`);
  assert.equal(r.status, 403);
  assert.match(r.head, /X-Wsgate-Error: WSG_FORWARD_DENIED/);
  assert.match(r.body, /port \d+ is not in forward\.allowPorts/);
  const line = await gw.logs.waitFor('connect.denied');
  assert.equal(line.reason, 'port');
  assert.equal(line.client, '127.0.0.1');
  assert.equal(line.target, `127.0.0.1:${sink.port}`);
  assert.equal(line.level, 'warn');
  assert.equal(sink.accepted(), 0);
});

test('by default, ports browsers block (22, 25) are refused; other ports are allowed on loopback', async (t) => {
  const gw = await startProxy(t, forwardConfig(), { names: ['allowed.test'] });
  for (const port of [22, 25]) {
    const r = await rawConnect(gw.port(), `allowed.test:${port}`);
    assert.equal(r.status, 403, `port ${port}`);
    assert.match(r.body, /non-web service port/);
  }
  assert.deepEqual(
    gw.logs.events('connect.denied').map((l) => l.reason),
    ['port', 'port'],
  );
  const sink = await pongServer(t);
  await assertHealthy(gw.port(), `allowed.test:${sink.port}`);
});

test('allowHosts and denyHosts: patterns for names, ranges for what names resolve to', async (t) => {
  const sink = await pongServer(t);
  const gw = await startProxy(
    t,
    forwardConfig({ allowHosts: ['*.good.test', '.local.test', 'localhost'], denyHosts: ['bad.good.test'] }),
    { names: ['api.good.test', 'bad.good.test', 'local.test', 'evil.test'] },
  );
  const cases: [string, number][] = [
    ['api.good.test', 200],
    ['local.test', 200],
    ['bad.good.test', 403],
    ['evil.test', 403],
    ['good.test', 403],
  ];
  for (const [host, status] of cases) {
    const r = await rawConnect(gw.port(), `${host}:${sink.port}`);
    assert.equal(r.status, status, host);
    r.socket.destroy();
  }
  assert.equal(sink.accepted(), 2);
  const ranged = await startProxy(t, forwardConfig({ denyHosts: ['127.0.0.0/8'] }), { names: ['sneaky.test'] });
  const r = await rawConnect(ranged.port(), `sneaky.test:${sink.port}`);
  assert.equal(r.status, 403);
  assert.match(r.body, /sneaky\.test resolves to 127\.0\.0\.1, in denyHosts "127\.0\.0\.0\/8"/);
  assert.equal(sink.accepted(), 2, 'the resolved address was checked before it was dialed');
});

test('destinations: public refuses loopback in every spelling, before any connection', async (t) => {
  const sink = await pongServer(t);
  const gw = await startProxy(t, forwardConfig({ destinations: 'public' }));
  const p = sink.port;
  for (const target of [
    `127.0.0.1:${p}`,
    `127.0.0.2:${p}`,
    `[::1]:${p}`,
    `[::ffff:127.0.0.1]:${p}`,
    `2130706433:${p}`,
    `0x7f.1:${p}`,
    `127.1:${p}`,
    `localhost:${p}`,
  ]) {
    const r = await rawConnect(gw.port(), target);
    assert.equal(r.status, 403, target);
    assert.match(r.body, /loopback address/, target);
  }
  assert.ok(gw.logs.events('connect.denied').every((l) => l.reason === 'destination'));
  assert.equal(gw.logs.events('connect.denied').length, 8);
  assert.equal(sink.accepted(), 0);
});

test('proxy authentication: 407 with Proxy-Authenticate, wrong credentials 407, right ones pass; never logged', async (t) => {
  const sink = await pongServer(t);
  const password = 'pa55-w0rd-not-in-logs';
  const gw = await startProxy(t, forwardConfig({ auth: { realm: 'dev proxy', users: [{ name: 'dev', password }] } }));
  const target = `127.0.0.1:${sink.port}`;
  const none = await rawConnect(gw.port(), target);
  assert.equal(none.status, 407);
  assert.match(none.head, /\r\nProxy-Authenticate: Basic realm="dev proxy", charset="UTF-8"/);
  assert.match(none.head, /X-Wsgate-Error: WSG_PROXY_AUTH_REQUIRED/);
  const wrongCreds = Buffer.from(`dev:${password}x`).toString('base64');
  const wrong = await rawConnect(gw.port(), target, { 'Proxy-Authorization': `Basic ${wrongCreds}` });
  assert.equal(wrong.status, 407);
  assert.match(wrong.body, /unknown user or wrong password/);
  const rightCreds = Buffer.from(`dev:${password}`).toString('base64');
  const right = await rawConnect(gw.port(), target, { 'Proxy-Authorization': `Basic ${rightCreds}` });
  assert.equal(right.status, 200);
  right.socket.write('ping');
  assert.equal((await readUntil(right.socket, (b) => b.length >= 4)).toString(), 'pong');
  right.socket.destroy();
  assert.equal(sink.accepted(), 1, 'only the authenticated tunnel reached the target');
  // Absolute-form requests authenticate the same way.
  const web = await startHttpServer(t, (req, res) => res.end(String(req.headers['proxy-authorization'])));
  const authed = new ProxyAgent({ uri: gw.url(), token: `Basic ${rightCreds}` });
  t.after(() => authed.close());
  const refused = (
    await rawExchange(gw.port(), `GET ${web.url}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
  ).toString();
  assert.match(refused, /^HTTP\/1\.1 407 /);
  assert.match(refused, /\r\nproxy-authenticate: Basic realm="dev proxy"/i);
  const allowed = await request(`${web.url}/`, { dispatcher: authed });
  assert.equal(allowed.statusCode, 200);
  assert.equal(await allowed.body.text(), 'undefined', 'Proxy-Authorization never reaches the upstream');
  assert.equal(web.accepted(), 1);
  const closeLine = await gw.logs.waitFor('connect.close');
  assert.equal(closeLine.user, 'dev');
  const all = gw.logs.raw.join('\n');
  for (const secret of [password, rightCreds, wrongCreds, `${password}x`]) {
    assert.ok(!all.includes(secret), `a secret reached the log: ${secret}`);
  }
  assert.deepEqual(
    gw.logs.events('connect.auth_required').map((l) => l.reason),
    ['missing', 'invalid'],
  );
});

test('a CONNECT refused for its credentials is logged as every refused CONNECT is: status, CONNECT target', async (t) => {
  const gw = await startProxy(
    t,
    forwardConfig({ auth: { users: [{ name: 'dev', password: 'pw' }] }, allowPorts: [443] }),
    { names: ['app.test'] },
  );
  const creds = Buffer.from('dev:pw').toString('base64');
  assert.equal((await rawConnect(gw.port(), 'app.test:443')).status, 407);
  assert.equal((await rawConnect(gw.port(), 'app.test:8443', { 'Proxy-Authorization': `Basic ${creds}` })).status, 403);
  const auth = await gw.logs.waitFor('connect.auth_required');
  const denied = await gw.logs.waitFor('connect.denied');
  // The same fields as the other CONNECT refusals, and a message that starts the same way.
  assert.deepEqual(Object.keys(auth).sort(), Object.keys(denied).sort());
  assert.equal(auth.status, 407);
  assert.equal(auth.outcome, 'auth_required');
  assert.equal(auth.target, 'app.test:443');
  assert.equal(auth.msg, 'CONNECT app.test:443: proxy authentication required: no Proxy-Authorization header was sent');
  assert.equal(auth.reason, 'missing');
  assert.match(String(denied.msg), /^CONNECT app\.test:8443: /);
});

test('CONNECT to the proxy listener itself is a loop: 508, and the proxy keeps serving', async (t) => {
  const gw = await startProxy(t, forwardConfig());
  const r = await rawConnect(gw.port(), `127.0.0.1:${gw.port()}`);
  assert.equal(r.status, 508);
  assert.match(r.body, /request loop: 127\.0\.0\.1:\d+ is this proxy listener itself/);
  assert.equal((await gw.logs.waitFor('connect.loop')).code, 'WSG_FORWARD_LOOP');
  const sink = await pongServer(t);
  await assertHealthy(gw.port(), `127.0.0.1:${sink.port}`);
});

test('a target on the unspecified address (0.0.0.0, [::]) reaching the listener is a loop too: 508, nothing relayed', async (t) => {
  const gw = await startProxy(
    t,
    forwardConfig(
      {},
      {
        listeners: [
          { name: 'proxy', bind: '127.0.0.1:0', forward: {} },
          { name: 'proxy6', bind: '[::1]:0', forward: {} },
        ],
      },
    ),
  );
  for (const [listener, address, host] of [
    ['proxy', '0.0.0.0', '127.0.0.1'],
    ['proxy6', '[::]', '::1'],
  ] as const) {
    const port = gw.port(listener);
    const connect = (
      await rawExchange(port, `CONNECT ${address}:${port} HTTP/1.1\r\nHost: ${address}:${port}\r\n\r\n`, 5000, host)
    ).toString('latin1');
    assert.match(connect, /^HTTP\/1\.1 508 /, connect);
    assert.match(connect, /X-Wsgate-Error: WSG_FORWARD_LOOP/i);
    const plain = (
      await rawExchange(
        port,
        `GET http://${address}:${port}/x HTTP/1.1\r\nHost: ${address}:${port}\r\nConnection: close\r\n\r\n`,
        5000,
        host,
      )
    ).toString('latin1');
    assert.match(plain, /^HTTP\/1\.1 508 /, plain);
    assert.match(plain, /is this proxy listener itself/);
  }
  assert.equal(gw.logs.events('connect.loop').length, 2);
  // Nothing came back around: the only requests the listeners saw are the two absolute-form ones.
  assert.deepEqual(
    gw.logs.events('http.access').map((l) => [l.status, l.code]),
    [
      [508, 'WSG_FORWARD_LOOP'],
      [508, 'WSG_FORWARD_LOOP'],
    ],
  );
});

test('a forward listener beyond loopback without auth or allowHosts is a config error naming the fix', async (t) => {
  assert.throws(
    () => configFromObject({ listeners: [{ name: 'open', bind: '0.0.0.0:8888', forward: {} }] }),
    (err: WsgateError) =>
      err.code === 'WSG_CONFIG_INVALID' &&
      /listeners\[0\]\.forward: this forward listener binds 0\.0\.0\.0, beyond loopback, with neither auth nor allowHosts/.test(
        err.message,
      ),
  );
  // With auth or allowHosts it is accepted, and defaults lock it down: ports 80 and 443, public destinations.
  const ok = configFromObject({
    listeners: [{ bind: '0.0.0.0:8888', forward: { auth: { users: [{ name: 'a', password: 'b' }] } } }],
  });
  assert.deepEqual(ok.listeners[0]!.forward?.allowPorts, [
    { from: 80, to: 80 },
    { from: 443, to: 443 },
  ]);
  assert.equal(ok.listeners[0]!.forward?.destinations, 'public');

  // From the command line: exit 2 and a message, before anything listens.
  const file = join(tempDir(t), 'open.yaml');
  writeFileSync(file, 'listeners:\n  - name: open\n    bind: 0.0.0.0:0\n    forward: {}\n');
  const r = await runCli(['run', '-c', file]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /open\.yaml:4:\d+ listeners\[0\]\.forward: this forward listener binds 0\.0\.0\.0/);
  assert.match(r.stderr, /Add forward\.auth \(users\), or forward\.allowHosts, or bind 127\.0\.0\.1/);
  const cli = await runCli(['run', '--forward', '0.0.0.0:0']);
  assert.equal(cli.code, 2);
  assert.match(cli.stderr, /--forward 0\.0\.0\.0:0 would be an open proxy/);
});
