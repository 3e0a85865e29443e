// A plain request that fails on its way to the upstream is sent again where that cannot make a server act twice
// (src/upstream/http-retry.ts): to the next server of a pool when its connection was refused (a body too: it is read
// from the client only once a connection is made), and on a new connection when a kept-alive one turns out closed
// (idempotent requests only). What was sent and may have been acted on is never sent again.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { type TestContext, test } from 'node:test';
import { parsePrometheusText, sampleValue } from '../../helpers/prom-text.ts';
import { closedPort, closesKeptAlive, startHttpServer } from '../../helpers/servers.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';

/** An upstream that answers with its name, the method, and the size and SHA-256 of the body it read. */
async function bodyEcho(t: TestContext, name: string) {
  const seen: string[] = [];
  const server = await startHttpServer(t, (req, res) => {
    const hash = createHash('sha256');
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      size += chunk.length;
    });
    req.on('end', () => {
      seen.push(req.method ?? '');
      res.end(`${name} ${req.method} ${size} ${hash.digest('hex')}`);
    });
  });
  return { ...server, seen };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

test('a request whose server refused the connection goes to the next server, with its whole body', async (t) => {
  const live = await bodyEcho(t, 'live');
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app' }], {
      upstreams: [{ name: 'app', servers: [dead, live.url], balance: 'round-robin', failTimeout: '30s' }],
      inspector: { bind: '127.0.0.1:0' },
    }),
  );
  // 256 KiB: more than one read's worth, so a body read early would be lost with the refused attempt.
  const body = Buffer.alloc(256 * 1024, 7);
  const res = await fetch(`${gw.http}/upload`, { method: 'POST', body });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), `live POST ${body.length} ${sha256(body)}`);
  assert.deepEqual(live.seen, ['POST'], 'the live server got the request once');

  const failed = gw.logs.events('upstream.server_failed');
  assert.deepEqual(
    failed.map((e) => ({ server: e['server'], code: e['code'], next: e['next'] })),
    [{ server: dead, code: 'WSG_UPSTREAM_REFUSED', next: true }],
  );
  const retry = await gw.logs.waitFor('http.upstream_retry');
  assert.deepEqual(
    { server: retry['server'], next: retry['next'], reason: retry['reason'], level: retry['level'] },
    { server: dead, next: live.url, reason: 'server failed', level: 'info' },
  );
  const access = await gw.logs.waitFor('http.access');
  assert.deepEqual(
    { status: access['status'], server: access['server'], retries: access['retries'] },
    { status: 200, server: live.url, retries: 1 },
  );
  assert.equal(gw.logs.events('http.upstream_error').length, 0);
  const metrics = parsePrometheusText(await (await fetch(`${gw.running.inspector!.admin.url}/metrics`)).text());
  assert.equal(sampleValue(metrics, 'wsgate_http_retries_total', { listener: 'test' }), 1);
});

test('with every server refusing, a GET is tried once on each and gets its 502', async (t) => {
  const [a, b] = [`http://127.0.0.1:${await closedPort()}`, `http://127.0.0.1:${await closedPort()}`];
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app' }], { upstreams: [{ name: 'app', servers: [a, b] }] }),
  );
  const res = await fetch(`${gw.http}/`);
  assert.equal(res.status, 502);
  await res.arrayBuffer();
  const failed = gw.logs.events('upstream.server_failed').map((e) => [e['server'], e['next']]);
  assert.deepEqual(
    failed.toSorted(),
    [
      [a, true],
      [b, false],
    ].toSorted(),
  );
  assert.equal(gw.logs.events('http.upstream_retry').length, 1);
  assert.equal((await gw.logs.waitFor('http.upstream_error'))['code'], 'WSG_UPSTREAM_REFUSED');
});

test('a kept-alive connection the server closed under a GET: sent again on a new one; a POST is not', async (t) => {
  const upstream = await closesKeptAlive(t);
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url }]));
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${gw.http}/page/${i}`);
    assert.equal(res.status, 200, `GET ${i}`);
    assert.equal(await res.text(), 'ok');
  }
  assert.deepEqual(upstream.requests, ['GET /page/0 HTTP/1.1', 'GET /page/1 HTTP/1.1', 'GET /page/2 HTTP/1.1']);
  assert.equal(upstream.connections(), 3, 'each retry took a new connection');
  const retries = gw.logs.events('http.upstream_retry');
  assert.equal(retries.length, 2);
  assert.deepEqual(
    { reason: retries[0]!['reason'], code: retries[0]!['code'] },
    { reason: 'kept-alive connection closed', code: 'WSG_UPSTREAM_RESET' },
  );

  // A POST may have been acted on before the connection closed: it gets its 502, never a second delivery.
  const post = await fetch(`${gw.http}/order`, { method: 'POST', body: 'one order' });
  assert.equal(post.status, 502);
  await post.arrayBuffer();
  assert.equal(gw.logs.events('http.upstream_retry').length, 2, 'the POST was not sent again');
  assert.equal(upstream.connections(), 3);
  assert.equal((await gw.logs.waitFor('http.upstream_error'))['code'], 'WSG_UPSTREAM_RESET');
});

test('a kept-alive connection closed under a request does not count against its server', async (t) => {
  const upstream = await closesKeptAlive(t);
  const other = await bodyEcho(t, 'other');
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app' }], {
      upstreams: [{ name: 'app', servers: [upstream.url, other.url], balance: 'round-robin' }],
    }),
  );
  const bodies: string[] = [];
  for (let i = 0; i < 3; i++) bodies.push(await (await fetch(`${gw.http}/`)).text());
  // In turn: the first server, the other, the first again on its kept-alive connection (closed: sent again).
  assert.deepEqual(bodies, ['ok', `other GET 0 ${sha256(Buffer.alloc(0))}`, 'ok']);
  const retries = gw.logs.events('http.upstream_retry');
  assert.deepEqual(
    retries.map((e) => [e['server'], e['next'], e['reason']]),
    [[upstream.url, upstream.url, 'kept-alive connection closed']],
  );
  assert.equal(gw.logs.events('upstream.server_failed').length, 0, 'the server is not skipped');
});

test('bodies reach a pool whole when nothing fails, with Expect: 100-continue too', async (t) => {
  const [a, b] = [await bodyEcho(t, 'a'), await bodyEcho(t, 'b')];
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app' }], { upstreams: [{ name: 'app', servers: [a.url, b.url] }] }),
  );
  const body = Buffer.alloc(100_000, 3);
  const plain = await fetch(`${gw.http}/`, { method: 'PUT', body });
  assert.match(await plain.text(), new RegExp(`^[ab] PUT ${body.length} ${sha256(body)}$`));
  // The client waits for 100 Continue before its body: wsgate's own comes at once, then the body is held as any.
  const answer = await new Promise<string>((resolve, reject) => {
    const req = http.request(`${gw.http}/`, {
      method: 'POST',
      headers: { expect: '100-continue', 'content-length': body.length },
    });
    req.on('continue', () => req.end(body));
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve(`${res.statusCode} ${text}`));
    });
    req.on('error', reject);
  });
  assert.match(answer, new RegExp(`^200 [ab] POST ${body.length} ${sha256(body)}$`));
  assert.equal(gw.logs.events('http.upstream_retry').length, 0);
});

test('a pool of many servers all refusing: each tried once, no listener-leak warning', async (t) => {
  const servers = [];
  for (let i = 0; i < 12; i++) servers.push(`http://127.0.0.1:${await closedPort()}`);
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: 'app' }], { upstreams: [{ name: 'app', servers }] }));
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const res = await fetch(`${gw.http}/`);
  assert.equal(res.status, 502);
  await res.arrayBuffer();
  await new Promise((r) => setImmediate(r));
  assert.equal(gw.logs.events('upstream.server_failed').length, 12);
  assert.deepEqual(
    warnings.map((w) => w.name),
    [],
  );
});

test('wsgate closes its idle kept-alive upstream connections after 4 s, before common servers do', async (t) => {
  let closedAfter: number | undefined;
  let answered = 0;
  const upstream = await startHttpServer(t, (_req, res) => {
    answered = performance.now();
    res.end('ok');
  });
  upstream.server.keepAliveTimeout = 30_000;
  upstream.server.on('connection', (socket) => socket.on('close', () => (closedAfter = performance.now() - answered)));
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url }]));
  assert.equal(await (await fetch(`${gw.http}/`)).text(), 'ok');
  const deadline = performance.now() + 8000;
  while (closedAfter === undefined && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(closedAfter !== undefined && closedAfter > 3500 && closedAfter < 6000, `closed after ${closedAfter} ms`);
  assert.equal(upstream.accepted(), 1);
});
