// Routes mean what they say (issue 11, item 2): a reverse route is matched on the canonical path (RFC 3986 §6.2.2:
// unreserved characters decoded, dot segments removed) and the upstream receives that same path, for plain
// requests and WebSocket handshakes alike; encodings servers read differently are refused with 400
// WSG_AMBIGUOUS_PATH; a route with `rawPath: true` matches and forwards the path exactly as received. Each case
// asserts what the upstream sink received (or that it received nothing) over real sockets.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { exchange, RawClient, type RawResponse, type RawSink, startRawSink, wsHandshake } from '../helpers/raw.ts';
import { reverseConfig, startTestWsgate, type TestWsgate } from '../helpers/wsgate.ts';

type Setup = { gw: TestWsgate; publicSink: RawSink; rawSink: RawSink; otherSink: RawSink | undefined };

/** `/public` → publicSink; `/raw` (rawPath) → rawSink; with `catchAll`, everything else → otherSink. */
async function start(t: TestContext, catchAll: boolean): Promise<Setup> {
  const publicSink = await startRawSink(t);
  const rawSink = await startRawSink(t);
  const otherSink = catchAll ? await startRawSink(t) : undefined;
  const routes: unknown[] = [
    { name: 'public', match: { pathPrefix: '/public' }, upstream: publicSink.httpUrl },
    { name: 'raw', match: { pathPrefix: '/raw' }, upstream: rawSink.httpUrl, rawPath: true },
  ];
  if (otherSink !== undefined) routes.push({ name: 'all', upstream: otherSink.httpUrl });
  const gw = await startTestWsgate(t, reverseConfig(routes));
  return { gw, publicSink, rawSink, otherSink };
}

async function send(t: TestContext, port: number, path: string, ws: boolean): Promise<RawResponse> {
  if (!ws) {
    const result = await exchange(t, port, `GET ${path} HTTP/1.1\r\nHost: wsgate.test\r\nConnection: close\r\n\r\n`);
    assert.ok(result.response, `no response to GET ${path}: ${JSON.stringify(result.raw.toString('latin1'))}`);
    return result.response;
  }
  const client = await RawClient.connect(t, port);
  client.write(wsHandshake(path));
  const res = await client.response();
  client.socket.destroy();
  return res;
}

/** The request lines a sink received, without the HTTP version. */
function received(sink: RawSink | undefined): string[] {
  return (sink?.requestLines() ?? []).map((line) => line.replace(/ HTTP\/1\.1$/, ''));
}

/** [what the client sends, the route it takes, the path that route's upstream receives]. */
const FORWARDED: readonly [path: string, sink: 'public' | 'raw', upstreamPath: string][] = [
  ['/public/./x', 'public', '/public/x'],
  ['/%70ublic/x', 'public', '/public/x'],
  ['/public/a/%2e%2e/b', 'public', '/public/b'],
  ['/x/../public/y', 'public', '/public/y'],
  ['/public/%7e%41?q=%2F..%2F&r=\\', 'public', '/public/~A?q=%2F..%2F&r=\\'],
  ['/public/caf%c3%a9', 'public', '/public/caf%C3%A9'],
  // rawPath: the bytes as received, ambiguous encodings and dot segments included.
  ['/raw/a%2Fb/../c%2e?x=%2F', 'raw', '/raw/a%2Fb/../c%2e?x=%2F'],
  ['/raw/a\\b%5c%00', 'raw', '/raw/a\\b%5c%00'],
  // What the opt-in means: a rawPath route is matched on the raw path, dot segments and all.
  ['/raw/../admin', 'raw', '/raw/../admin'],
];

/** Paths no route may take as written: refused as ambiguous, whatever the route table. */
const AMBIGUOUS: readonly string[] = [
  '/public%2Fadmin',
  '/public/..%2Fadmin',
  '/public\\..\\admin',
  '/public/..;/admin',
  '/public/%2e%2e;/admin',
  '/public/%252e%252e/admin',
  '/public/x%00',
  '/public/x%5Cy',
  '/public/a%ZZ',
];

for (const ws of [false, true]) {
  const kind = ws ? 'WebSocket handshake' : 'request';

  test(`${kind}: matched and forwarded as the canonical path (or raw on a rawPath route)`, async (t) => {
    const s = await start(t, false);
    for (const [path, sink, upstreamPath] of FORWARDED) {
      const res = await send(t, s.gw.port, path, ws);
      assert.equal(res.status, ws ? 101 : 200, `${path}: ${res.statusLine} ${res.body.toString('latin1')}`);
      const target = sink === 'public' ? s.publicSink : s.rawSink;
      assert.equal(received(target).at(-1), `GET ${upstreamPath}`, path);
    }
    assert.equal(received(s.publicSink).length + received(s.rawSink).length, FORWARDED.length);
  });

  test(`${kind}: dot segments that leave a route are not that route's (no route → 404)`, async (t) => {
    const s = await start(t, false);
    for (const path of ['/public/../admin', '/public/%2e%2e/admin', '/public/.%2E/admin', '/%2e%2e/admin']) {
      const res = await send(t, s.gw.port, path, ws);
      assert.equal(res.status, 404, `${path}: ${res.statusLine}`);
      assert.equal(res.headers['x-wsgate-error'], 'WSG_NO_ROUTE', path);
    }
    const lines = s.gw.logs.events(ws ? 'ws.no_route' : 'http.no_route');
    assert.equal(lines.length, 4);
    assert.ok(
      lines.every((l) => String(l.why).includes('path "/admin"')),
      JSON.stringify(lines),
    );
    assert.deepEqual([...received(s.publicSink), ...received(s.rawSink)], [], 'no upstream received anything');
  });

  test(`${kind}: with a catch-all route, the upstream receives the canonical path`, async (t) => {
    const s = await start(t, true);
    for (const path of ['/public/../admin', '/public/%2e%2e/admin', '/public/./../admin/./x']) {
      const res = await send(t, s.gw.port, path, ws);
      assert.equal(res.status, ws ? 101 : 200, `${path}: ${res.statusLine}`);
    }
    assert.deepEqual(received(s.otherSink), ['GET /admin', 'GET /admin', 'GET /admin/x']);
    assert.deepEqual(received(s.publicSink), [], 'the /public route never saw them');
  });

  for (const catchAll of [false, true]) {
    test(`${kind}: ambiguous encodings get 400 WSG_AMBIGUOUS_PATH${catchAll ? ' (with a catch-all route)' : ''}`, async (t) => {
      const s = await start(t, catchAll);
      for (const path of AMBIGUOUS) {
        const res = await send(t, s.gw.port, path, ws);
        assert.equal(res.status, 400, `${path}: ${res.statusLine} ${res.body.toString('latin1')}`);
        assert.equal(res.headers['x-wsgate-error'], 'WSG_AMBIGUOUS_PATH', path);
        assert.equal(res.headers.connection, 'close', path);
        assert.match(res.body.toString('utf8'), /rawPath: true/, 'the answer names the way out');
      }
      const lines = s.gw.logs.events(ws ? 'ws.ambiguous_path' : 'http.ambiguous_path');
      assert.equal(lines.length, AMBIGUOUS.length, JSON.stringify(lines));
      assert.ok(lines.every((l) => l.level === 'warn' && l.code === 'WSG_AMBIGUOUS_PATH' && l.status === 400));
      const all = [...received(s.publicSink), ...received(s.rawSink), ...received(s.otherSink)];
      assert.deepEqual(all, [], 'no upstream received anything');
      // Still serving.
      const ok = await send(t, s.gw.port, '/public/ok', ws);
      assert.equal(ok.status, ws ? 101 : 200);
    });
  }
}
