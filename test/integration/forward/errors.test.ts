// Errors that explain the network: a malformed CONNECT target (400), a refused connection (502
// WSG_UPSTREAM_REFUSED), a name that does not resolve (502 WSG_UPSTREAM_DNS; the test resolver fails it without any
// DNS query), an upstream that never answers (504 WSG_UPSTREAM_TIMEOUT). Each with one log line naming the client,
// the target and the cause, nothing dialed where nothing should be, and the proxy still serving afterwards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyAgent, request } from 'undici';
import { closedPort, rawExchange, startSilentServer } from '../../helpers/servers.ts';
import { forwardConfig, rawConnect, startProxy, startTcpServer } from './helpers.ts';

test('malformed CONNECT targets get 400 and connect.bad_target, dial nothing, and the proxy survives', async (t) => {
  const sink = await startTcpServer(t, (s) => s.on('data', () => s.write('ok')));
  const gw = await startProxy(t, forwardConfig(), { names: ['example.test'] });
  const p = sink.port;
  const targets = [
    'example.test', // no port
    'example.test:0',
    'example.test:65536',
    'example.test:-1',
    'example.test:443x',
    `http://example.test:${p}/`,
    `example.test:${p}/path`,
    `user@example.test:${p}`,
    `[::1:${p}`,
    `ex ample:${p}`, // refused by Node's parser itself
    `a\x00b:${p}`,
    `[fe80::1%eth0]:${p}`,
    `:${p}`,
  ];
  for (const target of targets) {
    const r = await rawConnect(gw.port(), target);
    assert.equal(r.status, 400, JSON.stringify(target));
    assert.match(r.head, /X-Wsgate-Error: WSG_CONNECT_BAD_TARGET/, JSON.stringify(target));
    assert.match(r.body, /invalid CONNECT target/);
  }
  const lines = gw.logs.events('connect.bad_target');
  assert.equal(lines.length, targets.length);
  assert.ok(lines.every((l) => l.client === '127.0.0.1' && l.code === 'WSG_CONNECT_BAD_TARGET' && l.level === 'warn'));
  assert.equal(sink.accepted(), 0);
  const healthy = await rawConnect(gw.port(), `example.test:${p}`);
  assert.equal(healthy.status, 200);
  healthy.socket.destroy();
});

test('a CONNECT whose headers are refused is answered as any request: 431 for too large, 400 for malformed', async (t) => {
  const sink = await startTcpServer(t, (s) => s.on('data', () => s.write('ok')));
  const gw = await startProxy(t, forwardConfig(), { names: ['example.test'] });
  const target = `example.test:${sink.port}`;
  const big = await rawConnect(gw.port(), target, { 'X-Big': 'a'.repeat(20_000) });
  assert.equal(big.status, 431);
  assert.match(big.head, /X-Wsgate-Error: WSG_HEADERS_TOO_LARGE/);
  const malformed: Record<string, string>[] = [{ 'Bad Name': 'x' }, { 'X-Ctl': 'a\x01b' }];
  for (const headers of malformed) {
    const r = await rawConnect(gw.port(), target, headers);
    assert.equal(r.status, 400, JSON.stringify(headers));
    assert.match(r.head, /X-Wsgate-Error: WSG_BAD_REQUEST\r?$/m, JSON.stringify(headers));
    assert.doesNotMatch(r.body, /invalid CONNECT target/);
  }
  assert.equal(gw.logs.events('connect.bad_target').length, 0);
  const errors = gw.logs.events('http.client_error');
  assert.deepEqual(
    errors.map((l) => [l.code, l.status]),
    [
      ['WSG_HEADERS_TOO_LARGE', 431],
      ['WSG_BAD_REQUEST', 400],
      ['WSG_BAD_REQUEST', 400],
    ],
  );
  assert.equal(sink.accepted(), 0);
});

test('a CONNECT that announces content (Content-Length above 0, Transfer-Encoding) gets 400 and dials nothing', async (t) => {
  // RFC 9110 §9.3.6: a CONNECT has no content, and what its header section's data means is undefined: the bytes a
  // proxy in front took for its body went into the tunnel as its first bytes. Envoy refuses it the same way.
  const sink = await startTcpServer(t, (s) => s.on('data', () => s.write('ok')));
  const gw = await startProxy(t, forwardConfig(), { names: ['example.test'] });
  const target = `example.test:${sink.port}`;
  const announcing: Record<string, string>[] = [{ 'Content-Length': '5' }, { 'Transfer-Encoding': 'chunked' }];
  for (const headers of announcing) {
    const r = await rawConnect(gw.port(), target, headers);
    assert.equal(r.status, 400, JSON.stringify(headers));
    assert.match(r.head, /X-Wsgate-Error: WSG_BAD_REQUEST\r?$/m, JSON.stringify(headers));
    assert.match(r.body, /a CONNECT request has no content/);
  }
  const lines = gw.logs.events('connect.bad_target');
  assert.deepEqual(
    lines.map((l) => [l.code, l.status, l.outcome]),
    [
      ['WSG_BAD_REQUEST', 400, 'bad_target'],
      ['WSG_BAD_REQUEST', 400, 'bad_target'],
    ],
  );
  assert.equal(sink.accepted(), 0);
  const empty = await rawConnect(gw.port(), target, { 'Content-Length': '0' });
  assert.equal(empty.status, 200, 'Content-Length: 0 announces nothing');
  empty.socket.destroy();
});

test('a refused connection is 502 WSG_UPSTREAM_REFUSED, for CONNECT and for absolute-form requests', async (t) => {
  const port = await closedPort();
  const gw = await startProxy(t, forwardConfig());
  const r = await rawConnect(gw.port(), `127.0.0.1:${port}`);
  assert.equal(r.status, 502);
  assert.match(r.head, /X-Wsgate-Error: WSG_UPSTREAM_REFUSED/);
  assert.match(r.body, new RegExp(`upstream 127\\.0\\.0\\.1:${port} refused the connection`));
  const line = await gw.logs.waitFor('connect.upstream_error');
  assert.equal(line.code, 'WSG_UPSTREAM_REFUSED');
  assert.equal(line.client, '127.0.0.1');
  assert.equal(line.target, `127.0.0.1:${port}`);
  assert.match(String(line.cause), /ECONNREFUSED/);
  const agent = new ProxyAgent(gw.url());
  t.after(() => agent.close());
  const http = await request(`http://127.0.0.1:${port}/x`, { dispatcher: agent });
  assert.equal(http.statusCode, 502);
  assert.equal(http.headers['x-wsgate-error'], 'WSG_UPSTREAM_REFUSED');
  await http.body.dump();
  assert.equal((await gw.logs.waitFor('forward.upstream_error')).code, 'WSG_UPSTREAM_REFUSED');
});

test('a name that does not resolve is 502 WSG_UPSTREAM_DNS naming the host', async (t) => {
  const gw = await startProxy(t, forwardConfig());
  const r = await rawConnect(gw.port(), 'nowhere.test:443');
  assert.equal(r.status, 502);
  assert.match(r.head, /X-Wsgate-Error: WSG_UPSTREAM_DNS/);
  assert.match(r.body, /upstream host nowhere\.test could not be resolved/);
  const line = await gw.logs.waitFor('connect.upstream_error');
  assert.equal(line.target, 'nowhere.test:443');
  const raw = (
    await rawExchange(gw.port(), 'GET http://nowhere.test/ HTTP/1.1\r\nHost: nowhere.test\r\nConnection: close\r\n\r\n')
  ).toString();
  assert.match(raw, /^HTTP\/1\.1 502 /);
  assert.match(raw, /x-wsgate-error: WSG_UPSTREAM_DNS/i);
});

test('an upstream that accepts and never answers is 504 WSG_UPSTREAM_TIMEOUT after responseTimeout', async (t) => {
  const silent = await startSilentServer(t);
  const gw = await startProxy(t, forwardConfig({}, { limits: { responseTimeout: '500ms' } }));
  const started = Date.now();
  const raw = (
    await rawExchange(
      gw.port(),
      `GET http://127.0.0.1:${silent.port}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      10_000,
    )
  ).toString();
  const elapsed = Date.now() - started;
  assert.match(raw, /^HTTP\/1\.1 504 /);
  assert.match(raw, /x-wsgate-error: WSG_UPSTREAM_TIMEOUT/i);
  assert.ok(elapsed >= 400 && elapsed < 3000, `answered after ${elapsed} ms`);
  const line = await gw.logs.waitFor('forward.upstream_error');
  assert.equal(line.code, 'WSG_UPSTREAM_TIMEOUT');
  assert.equal(line.target, `127.0.0.1:${silent.port}`);
});
