// WebSocket through a reverse listener: bytes identical end to end, negotiation passes through,
// and every way a handshake can fail gives the client the right status and a log line.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type net from 'node:net';
import { test } from 'node:test';
import { type EchoServer, startEchoServer } from '../../../src/echo/server.ts';
import { closedPort, rawExchange, startHttpServer, startSilentServer } from '../../helpers/servers.ts';
import { openWs, refusedHandshake, roundTrip, sha256Hex } from '../../helpers/ws-client.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';

async function echo(t: import('node:test').TestContext): Promise<EchoServer> {
  const server = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => server.close());
  return server;
}

test('text and binary messages of 1 B, 64 KiB and 16 MiB come back identical', async (t) => {
  const upstream = await echo(t);
  const gw = await startTestWsgate(t, reverseConfig([{ match: { path: '/echo' }, upstream: upstream.url }]));
  const ws = await openWs(`${gw.ws}/echo`);
  t.after(() => ws.terminate());
  const text = await roundTrip(ws, 'hello wsgate ✓');
  assert.equal(text.isBinary, false);
  assert.equal(text.data.toString('utf8'), 'hello wsgate ✓');
  for (const size of [1, 64 * 1024, 16 * 1024 * 1024]) {
    const payload = randomBytes(size);
    const reply = await roundTrip(ws, payload);
    assert.equal(reply.isBinary, true);
    assert.equal(reply.data.length, size);
    assert.equal(sha256Hex(reply.data), sha256Hex(payload), `binary ${size} bytes`);
  }
  ws.close(1000, 'done');
  const [code] = await once(ws, 'close');
  assert.equal(code, 1000);
  const closed = await gw.logs.waitFor('ws.close');
  assert.equal(closed.route, 'test/route-0');
  const toUpstream = closed.toUpstream as { bytes: number; messages: number };
  const toClient = closed.toClient as { bytes: number; messages: number };
  assert.ok(toUpstream.bytes > 16 * 1024 * 1024);
  assert.ok(toClient.bytes > 16 * 1024 * 1024);
  assert.equal(toUpstream.messages, 4);
  assert.equal(toClient.messages, 4);
  // The echo server closes the TCP connection first, but the client's close frame came first: that is who ended it.
  assert.equal(closed.endedBy, 'client');
  assert.equal(closed.how, 'close');
  assert.equal(closed.closeCode, 1000);
  assert.equal(closed.closeReason, 'done');
  assert.equal(closed.termination, 'CC');
  assert.equal(closed.clean, true);
});

test('subprotocol and permessage-deflate are negotiated end to end', async (t) => {
  const upstream = await echo(t);
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url }]));
  const ws = await openWs(`${gw.ws}/chat`, { perMessageDeflate: true }, ['chat.v1', 'chat.v0']);
  t.after(() => ws.terminate());
  assert.equal(ws.protocol, 'chat.v1');
  assert.match(ws.extensions, /permessage-deflate/);
  const big = 'compress me '.repeat(1000);
  const reply = await roundTrip(ws, big);
  assert.equal(reply.data.toString(), big);
  const opened = await gw.logs.waitFor('ws.open');
  assert.equal(opened.protocol, 'chat.v1');
  assert.match(String(opened.extensions), /permessage-deflate/);
  ws.close();
});

test('a client without deflate gets no extension even though the upstream supports it', async (t) => {
  const upstream = await echo(t);
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url }]));
  const ws = await openWs(`${gw.ws}/echo`, { perMessageDeflate: false });
  t.after(() => ws.terminate());
  assert.equal(ws.extensions, '');
  ws.close();
});

test('an Origin not in allowOrigins gets 403 and never reaches the upstream', async (t) => {
  let upgrades = 0;
  const upstream = await echo(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: upstream.url, allowOrigins: ['https://app.example.test'] }]),
  );
  const denied = await refusedHandshake(`${gw.ws}/echo`, { Origin: 'https://evil.example.test' });
  assert.equal(denied.status, 403);
  assert.equal(denied.headers['x-wsgate-error'], 'WSG_ORIGIN_DENIED');
  assert.match(denied.body, /evil\.example\.test/);
  assert.equal((await gw.logs.waitFor('ws.origin_denied')).code, 'WSG_ORIGIN_DENIED');
  assert.equal(gw.logs.events('ws.open').length, upgrades);
  const ok = await openWs(`${gw.ws}/echo`, { headers: { Origin: 'https://app.example.test' } });
  upgrades += 1;
  assert.equal((await roundTrip(ok, 'hi')).data.toString(), 'hi');
  ok.close();
});

test('an upgrade with no matching route gets 404 naming the host and path', async (t) => {
  const upstream = await echo(t);
  const gw = await startTestWsgate(t, reverseConfig([{ match: { path: '/echo' }, upstream: upstream.url }]));
  const res = await refusedHandshake(`${gw.ws}/nowhere`);
  assert.equal(res.status, 404);
  assert.equal(res.headers['x-wsgate-error'], 'WSG_NO_ROUTE');
  assert.match(res.body, /\/nowhere/);
  assert.match(res.body, /127\.0\.0\.1/);
});

test('upstream refusing the TCP connection gives 502 WSG_UPSTREAM_REFUSED', async (t) => {
  const port = await closedPort();
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: `ws://127.0.0.1:${port}` }]));
  const res = await refusedHandshake(`${gw.ws}/echo`);
  assert.equal(res.status, 502);
  assert.equal(res.headers['x-wsgate-error'], 'WSG_UPSTREAM_REFUSED');
  assert.equal((await gw.logs.waitFor('ws.upstream_error')).code, 'WSG_UPSTREAM_REFUSED');
});

test('an upstream that accepts but never answers the handshake gives 504 after handshakeTimeout', async (t) => {
  const silent = await startSilentServer(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: `ws://127.0.0.1:${silent.port}` }], { limits: { handshakeTimeout: '300ms' } }),
  );
  const started = Date.now();
  const res = await refusedHandshake(`${gw.ws}/echo`);
  assert.equal(res.status, 504);
  assert.equal(res.headers['x-wsgate-error'], 'WSG_HANDSHAKE_TIMEOUT');
  assert.ok(Date.now() - started >= 250, 'not before the timeout');
  assert.equal(silent.accepted(), 1);
});

test('a non-101 answer is relayed as is, and the client connection is closed after it', async (t) => {
  const upstream = await startHttpServer(t, () => {});
  upstream.server.on('upgrade', (_req, socket: net.Socket) => {
    socket.end(
      'HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nX-App: yes\r\n\r\nno thanks',
    );
  });
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url.replace('http', 'ws') }]));
  const key = randomBytes(16).toString('base64');
  // After the refused handshake the client tries to smuggle a second request on the same socket.
  const raw = await rawExchange(
    gw.port,
    `GET /echo HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\nGET /internal HTTP/1.1\r\nHost: a.test\r\n\r\n`,
  );
  const text = raw.toString();
  assert.match(text, /^HTTP\/1\.1 426 Upgrade Required\r\n/);
  assert.match(text, /X-App: yes/);
  assert.match(text, /Connection: close/);
  assert.ok(text.endsWith('no thanks'), 'body relayed and nothing after it');
  assert.equal((text.match(/HTTP\/1\.1/g) ?? []).length, 1, 'only one response');
});

test('a 101 with a wrong Sec-WebSocket-Accept is refused with 502', async (t) => {
  const upstream = await startHttpServer(t, () => {});
  upstream.server.on('upgrade', (_req, socket: net.Socket) => {
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: d3JvbmcgYWNjZXB0IGtleQ==\r\n\r\n',
    );
  });
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url.replace('http', 'ws') }]));
  const res = await refusedHandshake(`${gw.ws}/echo`);
  assert.equal(res.status, 502);
  assert.equal(res.headers['x-wsgate-error'], 'WSG_UPSTREAM_BAD_RESPONSE');
  assert.equal((await gw.logs.waitFor('ws.handshake.bad_accept')).code, 'WSG_UPSTREAM_BAD_RESPONSE');
});

test('the upstream sees the client headers, X-Forwarded-*, and no hop-by-hop headers', async (t) => {
  const upstream = await startHttpServer(t, () => {});
  let seen: Record<string, string | string[] | undefined> = {};
  let rawNames: string[] = [];
  upstream.server.on('upgrade', (req, socket: net.Socket) => {
    seen = req.headers;
    rawNames = req.rawHeaders.filter((_, i) => i % 2 === 0);
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
  });
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url.replace('http', 'ws') }]));
  // A raw handshake: client libraries set their own Connection header, and this one names X-Drop-Me in it.
  const key = randomBytes(16).toString('base64');
  await rawExchange(
    gw.port,
    `GET /echo?x=1 HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\nConnection: Upgrade, X-Drop-Me\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\nOrigin: https://app.test\r\n` +
      `Sec-WebSocket-Protocol: a, b\r\nProxy-Authorization: Basic c2VjcmV0\r\nX-Drop-Me: 1\r\nKeep-Alive: 5\r\n\r\n`,
  );
  assert.equal(seen.origin, 'https://app.test');
  assert.equal(seen['sec-websocket-protocol'], 'a, b');
  assert.equal(seen['x-forwarded-for'], '127.0.0.1');
  assert.equal(seen['x-forwarded-proto'], 'http');
  assert.equal(seen['x-forwarded-host'], `127.0.0.1:${gw.port}`);
  assert.equal(seen.host, `127.0.0.1:${gw.port}`, 'Host kept without changeOrigin');
  assert.equal(seen['proxy-authorization'], undefined);
  assert.equal(seen['x-drop-me'], undefined);
  assert.equal(seen.upgrade, 'websocket');
  assert.equal(seen['keep-alive'], undefined);
  assert.equal(seen.connection, 'Upgrade');
  assert.ok(rawNames.includes('Sec-WebSocket-Key'), 'header case preserved');
});

test('a bad handshake (not websocket, or missing key) gets 400 and no upstream connection', async (t) => {
  const upstream = await startHttpServer(t, () => {});
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url }]));
  const h2c = await rawExchange(
    gw.port,
    'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
  );
  assert.match(h2c.toString(), /^HTTP\/1\.1 400 /);
  assert.match(h2c.toString(), /WSG_HANDSHAKE_INVALID/);
  const noKey = await rawExchange(
    gw.port,
    'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  assert.match(noKey.toString(), /^HTTP\/1\.1 400 /);
  assert.equal(upstream.accepted(), 0);
  assert.equal((await gw.logs.waitFor('upgrade.denied')).code, 'WSG_HANDSHAKE_INVALID');
});
