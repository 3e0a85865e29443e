// Plain HTTP through a reverse listener: routing, streamed bodies both ways, forwarding headers,
// and the coded errors a user sees when there is no route or the upstream fails.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { request } from 'undici';
import { closedPort, startHttpServer, startSilentServer } from '../../helpers/servers.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';

test('GET is routed by path and host to the right upstream', async (t) => {
  const a = await startHttpServer(t, (req, res) => res.end(`a:${req.url}`));
  const b = await startHttpServer(t, (req, res) => res.end(`b:${req.url}`));
  const gw = await startTestWsgate(
    t,
    reverseConfig([
      { match: { host: '*.b.test' }, upstream: b.url },
      { match: { pathPrefix: '/a' }, upstream: a.url },
    ]),
  );
  const viaPath = await request(`${gw.http}/a/x?q=1`);
  assert.equal(viaPath.statusCode, 200);
  assert.equal(await viaPath.body.text(), 'a:/a/x?q=1');
  const viaHost = await request(`${gw.http}/a/y`, { headers: { host: 'www.b.test' } });
  assert.equal(await viaHost.body.text(), 'b:/a/y', 'first match wins');
  const access = await gw.logs.waitFor('http.access');
  assert.equal(access.status, 200);
  assert.equal(access.method, 'GET');
});

test('a POST body is streamed to the upstream and the response streamed back', async (t) => {
  const upstream = await startHttpServer(t, (req, res) => {
    const hash = createHash('sha256');
    let size = 0;
    req.on('data', (c: Buffer) => {
      hash.update(c);
      size += c.length;
    });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ size, sha: hash.digest('hex'), te: req.headers['transfer-encoding'] ?? null }));
    });
  });
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url }]));
  const chunk = Buffer.alloc(64 * 1024, 7);
  const chunks = 80; // 5 MiB, sent chunked so nothing can buffer it whole on the way in
  async function* body() {
    for (let i = 0; i < chunks; i++) yield chunk;
  }
  const expected = createHash('sha256');
  for (let i = 0; i < chunks; i++) expected.update(chunk);
  const res = await request(`${gw.http}/upload`, { method: 'POST', body: Readable.from(body()) });
  const json = (await res.body.json()) as { size: number; sha: string; te: string | null };
  assert.equal(json.size, chunk.length * chunks);
  assert.equal(json.sha, expected.digest('hex'));
  assert.equal(json.te, 'chunked');
});

test('X-Forwarded-* are wsgate’s own, hop-by-hop headers are dropped, changeOrigin sets Host', async (t) => {
  const upstream = await startHttpServer(t, (req, res) => res.end(JSON.stringify(req.headers)));
  const gw = await startTestWsgate(
    t,
    reverseConfig([
      { match: { pathPrefix: '/keep' }, upstream: upstream.url },
      { match: { pathPrefix: '/change' }, upstream: upstream.url, changeOrigin: true },
    ]),
  );
  const kept = (await (
    await request(`${gw.http}/keep`, {
      headers: { 'x-secret-hop': 'no', 'x-forwarded-for': '10.9.9.9', 'proxy-authorization': 'Basic eDp5' },
    })
  ).body.json()) as Record<string, string>;
  assert.equal(kept.host, `127.0.0.1:${gw.port}`);
  // The client's own X-Forwarded-For is replaced: 127.0.0.1 is not in the listener's trustForwarded.
  assert.equal(kept['x-forwarded-for'], '127.0.0.1');
  assert.equal(kept['x-forwarded-proto'], 'http');
  assert.equal(kept['x-forwarded-host'], `127.0.0.1:${gw.port}`);
  assert.equal(kept['proxy-authorization'], undefined);
  const changed = (await (await request(`${gw.http}/change`)).body.json()) as Record<string, string>;
  assert.equal(changed.host, `127.0.0.1:${upstream.port}`);
});

test('no route: 404 with x-wsgate-error and a body naming host and path', async (t) => {
  const upstream = await startHttpServer(t, (_req, res) => res.end('x'));
  const gw = await startTestWsgate(t, reverseConfig([{ match: { path: '/only' }, upstream: upstream.url }]));
  const res = await request(`${gw.http}/missing`, { headers: { host: 'shop.test' } });
  assert.equal(res.statusCode, 404);
  assert.equal(res.headers['x-wsgate-error'], 'WSG_NO_ROUTE');
  const body = await res.body.text();
  assert.match(body, /shop\.test/);
  assert.match(body, /\/missing/);
  assert.equal((await gw.logs.waitFor('http.no_route')).code, 'WSG_NO_ROUTE');
  assert.equal(upstream.accepted(), 0);
});

test('upstream refused: 502 WSG_UPSTREAM_REFUSED with a log line', async (t) => {
  const port = await closedPort();
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: `http://127.0.0.1:${port}` }]));
  const res = await request(`${gw.http}/`);
  assert.equal(res.statusCode, 502);
  assert.equal(res.headers['x-wsgate-error'], 'WSG_UPSTREAM_REFUSED');
  await res.body.text();
  const line = await gw.logs.waitFor('http.upstream_error');
  assert.equal(line.code, 'WSG_UPSTREAM_REFUSED');
  assert.equal(line.level, 'warn');
});

test('upstream silent: 504 WSG_UPSTREAM_TIMEOUT after responseTimeout', async (t) => {
  const silent = await startSilentServer(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: `http://127.0.0.1:${silent.port}` }], { limits: { responseTimeout: '300ms' } }),
  );
  const started = Date.now();
  const res = await request(`${gw.http}/slow`);
  assert.equal(res.statusCode, 504);
  assert.equal(res.headers['x-wsgate-error'], 'WSG_UPSTREAM_TIMEOUT');
  assert.match(await res.body.text(), /did not answer within 300ms/);
  assert.ok(Date.now() - started >= 250);
});
