// Absolute-form HTTP through the forward proxy: curl --proxy and undici's ProxyAgent reach real servers on
// 127.0.0.1; bodies stream both ways; hop-by-hop headers and Proxy-Authorization stop at wsgate; Host is the
// target's authority; Via is added both ways; an origin-form request is told what a forward proxy is.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type http from 'node:http';
import { test } from 'node:test';
import { ProxyAgent, request } from 'undici';
import { startEchoServer } from '../../../src/echo/server.ts';
import { rawExchange, startHttpServer } from '../../helpers/servers.ts';
import { curl, forwardConfig, startProxy } from './helpers.ts';

type Seen = { method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[]; body: Buffer };

/** An upstream that records each request and answers with a JSON summary (or a body of the requested size). */
async function recordingServer(t: import('node:test').TestContext) {
  const seen: Seen[] = [];
  const server = await startHttpServer(t, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      });
      const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('size') ?? 0);
      if (size > 0) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', connection: 'keep-alive, x-private' });
        res.end(Buffer.alloc(size, 7));
        return;
      }
      res.writeHead(201, { 'content-type': 'application/json', 'x-private': 'hop', connection: 'x-private' });
      res.end(JSON.stringify({ sha: createHash('sha256').update(body).digest('hex'), length: body.length }));
    });
  });
  return { ...server, seen };
}

test('curl --proxy: GET and POST reach the upstream with Via both ways; a 1 MiB body streams through ProxyAgent', async (t) => {
  const upstream = await recordingServer(t);
  const gw = await startProxy(t, forwardConfig());
  const get = await curl(['-i', '--proxy', gw.url(), `${upstream.url}/hello?x=1`]);
  assert.equal(get.code, 0, get.stderr);
  assert.match(get.stdout, /^HTTP\/1\.1 201/);
  assert.match(get.stdout, /\r\nvia: 1\.1 wsgate-[0-9a-f]{6}\r\n/i);
  // The upstream's Connection named x-private as hop-by-hop: it must not reach the client.
  assert.doesNotMatch(get.stdout, /x-private/i);
  assert.equal(upstream.seen[0]!.url, '/hello?x=1', 'origin-form towards the upstream');
  assert.match(String(upstream.seen[0]!.headers.via), /^1\.1 wsgate-/);

  const post = await curl(['--proxy', gw.url(), '--data-binary', 'hello=world', `${upstream.url}/form`]);
  assert.equal(post.code, 0, post.stderr);
  assert.equal(upstream.seen[1]!.method, 'POST');
  assert.equal(upstream.seen[1]!.body.toString(), 'hello=world');

  const payload = randomBytes(1024 * 1024);
  const agent = new ProxyAgent(gw.url());
  t.after(() => agent.close());
  const res = await request(`${upstream.url}/upload`, { method: 'POST', body: payload, dispatcher: agent });
  assert.equal(res.statusCode, 201);
  const summary = (await res.body.json()) as { sha: string; length: number };
  assert.equal(summary.length, payload.length);
  assert.equal(summary.sha, createHash('sha256').update(payload).digest('hex'));
  const access = gw.logs.events('http.access');
  assert.ok(access.some((l) => l.method === 'POST' && l.status === 201 && l.via === 'direct'));
});

test('a large response streams through, and the access line names the listener route', async (t) => {
  const upstream = await recordingServer(t);
  const gw = await startProxy(t, forwardConfig());
  const agent = new ProxyAgent(gw.url());
  t.after(() => agent.close());
  const res = await request(`${upstream.url}/big?size=${8 * 1024 * 1024}`, { dispatcher: agent });
  assert.equal(res.statusCode, 200);
  const body = Buffer.from(await res.body.arrayBuffer());
  assert.equal(body.length, 8 * 1024 * 1024);
  const line = await gw.logs.waitFor('http.access');
  assert.equal(line.route, 'proxy/forward');
  assert.equal(line.upstream, upstream.url);
});

test('an absolute-form request reaches the target with its path as written (dot segments, encodings)', async (t) => {
  const upstream = await recordingServer(t);
  const gw = await startProxy(t, forwardConfig());
  const reply = await rawExchange(
    gw.port(),
    `GET ${upstream.url}/a/./b/../c%7e?q=%7e HTTP/1.1\r\nHost: ${upstream.url.slice('http://'.length)}\r\nConnection: close\r\n\r\n`,
  );
  assert.match(reply.toString(), /^HTTP\/1\.1 201 /);
  assert.equal(upstream.seen.at(-1)?.url, '/a/./b/../c%7e?q=%7e');
});

test('hop-by-hop headers, Proxy-Authorization and Proxy-Connection stop at wsgate; Host is the target', async (t) => {
  const upstream = await recordingServer(t);
  const gw = await startProxy(t, forwardConfig({}, {}), { names: ['a.test', 'b.test'] });
  const raw = await rawExchange(
    gw.port(),
    `GET http://a.test:${upstream.port}/path HTTP/1.1\r\n` +
      'Host: b.test\r\n' +
      'Proxy-Authorization: Basic c2VjcmV0OnNlY3JldA==\r\n' +
      'Proxy-Connection: keep-alive\r\n' +
      'Connection: close, X-Drop-Me\r\n' +
      'X-Drop-Me: 1\r\n' +
      'Keep-Alive: timeout=5\r\n' +
      'X-Keep: yes\r\n\r\n',
  );
  assert.match(raw.toString('latin1'), /^HTTP\/1\.1 201/);
  const seen = upstream.seen[0]!;
  // RFC 9112 §3.2.2: the proxy replaces Host with the request target's authority.
  assert.equal(seen.headers.host, `a.test:${upstream.port}`);
  const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  for (const name of ['proxy-authorization', 'proxy-connection', 'x-drop-me', 'keep-alive']) {
    assert.ok(!names.includes(name), `${name} reached the upstream`);
  }
  assert.equal(seen.headers['x-keep'], 'yes');
  assert.ok(!gw.logs.raw.join('\n').includes('c2VjcmV0OnNlY3JldA=='), 'credentials in the log');
});

test('undici ProxyAgent reaches the built-in echo server over HTTP through wsgate', async (t) => {
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const gw = await startProxy(t, forwardConfig());
  const agent = new ProxyAgent(gw.url());
  t.after(() => agent.close());
  const res = await request(`http://127.0.0.1:${echo.address.port}/`, { dispatcher: agent });
  assert.equal(res.statusCode, 200);
  assert.match(await res.body.text(), /echo server/);
});

test('an origin-form request is not proxied: 400 with a body that says how to use a forward proxy', async (t) => {
  const gw = await startProxy(t, forwardConfig());
  const res = await request(`${gw.url()}/some/path`);
  assert.equal(res.statusCode, 400);
  assert.equal(res.headers['x-wsgate-error'], 'WSG_FORWARD_NOT_PROXY');
  assert.match(await res.body.text(), /forward proxy: send "GET http:\/\/host\/path" or "CONNECT host:port"/);
});

test('a request whose Via already names this wsgate is a loop: 508, and nothing is forwarded', async (t) => {
  const upstream = await recordingServer(t);
  const gw = await startProxy(t, forwardConfig());
  const agent = new ProxyAgent(gw.url());
  t.after(() => agent.close());
  const first = await request(`${upstream.url}/`, { dispatcher: agent });
  const via = String(first.headers['via']);
  await first.body.dump();
  const looped = await request(`${upstream.url}/again`, { dispatcher: agent, headers: { via: `1.0 other, ${via}` } });
  assert.equal(looped.statusCode, 508);
  assert.equal(looped.headers['x-wsgate-error'], 'WSG_FORWARD_LOOP');
  await looped.body.dump();
  assert.equal(upstream.seen.length, 1);
});

test('Max-Forwards on OPTIONS and TRACE (RFC 9110 §7.6.2): 0 is answered by wsgate, more goes on with one less', async (t) => {
  const upstream = await recordingServer(t);
  const gw = await startProxy(t, forwardConfig());
  const authority = new URL(upstream.url).host;
  const send = async (head: string) =>
    (await rawExchange(gw.port(), `${head}Host: ${authority}\r\nConnection: close\r\n\r\n`)).toString('latin1');

  // 0: this hop is the final recipient, nothing is dialed.
  const options = await send(`OPTIONS ${upstream.url}/x HTTP/1.1\r\nMax-Forwards: 0\r\n`);
  assert.match(options, /^HTTP\/1\.1 200 /, options);
  assert.match(options, /\r\nallow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE, CONNECT\r\n/i);
  const trace = await send(
    `TRACE ${upstream.url}/t?q=1 HTTP/1.1\r\nMax-Forwards: 0\r\nX-Probe: 1\r\nCookie: s=secret\r\nAuthorization: Basic c2VjcmV0\r\n`,
  );
  assert.match(trace, /^HTTP\/1\.1 200 [\s\S]*\r\ncontent-type: message\/http\r\n/i, trace);
  assert.equal(
    trace.slice(trace.indexOf('\r\n\r\n') + 4),
    `TRACE ${upstream.url}/t?q=1 HTTP/1.1\r\nMax-Forwards: 0\r\nX-Probe: 1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`,
    'the request as received, without its cookie and credentials',
  );
  assert.equal(upstream.seen.length, 0, 'neither reached the upstream');
  assert.deepEqual(
    gw.logs.events('forward.max_forwards').map((l) => [l.method, l.target]),
    [
      ['OPTIONS', authority],
      ['TRACE', authority],
    ],
  );

  // Above 0: forwarded, counted down.
  assert.match(await send(`OPTIONS ${upstream.url}/o HTTP/1.1\r\nMax-Forwards: 3\r\n`), /^HTTP\/1\.1 201 /);
  assert.match(await send(`TRACE ${upstream.url}/t HTTP/1.1\r\nMax-Forwards: 1\r\n`), /^HTTP\/1\.1 201 /);
  // Other methods, and a value that is no number, carry it on as received.
  assert.match(await send(`GET ${upstream.url}/g HTTP/1.1\r\nMax-Forwards: 0\r\n`), /^HTTP\/1\.1 201 /);
  assert.match(await send(`OPTIONS ${upstream.url}/n HTTP/1.1\r\nMax-Forwards: x\r\n`), /^HTTP\/1\.1 201 /);
  assert.deepEqual(
    upstream.seen.map((s) => [s.method, s.url, s.headers['max-forwards']]),
    [
      ['OPTIONS', '/o', '2'],
      ['TRACE', '/t', '0'],
      ['GET', '/g', '0'],
      ['OPTIONS', '/n', 'x'],
    ],
  );
});
