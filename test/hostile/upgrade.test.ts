// Hostile cases 17 to 21 on a reverse listener: upgrades that are not WebSocket handshakes, upgrade requests with
// a body, the two WebSocket smuggling shapes (a refused upgrade followed by a second request on the same socket,
// and an upstream 101 that is not a valid WebSocket accept), and cross-site handshakes.
// Every refusal is checked for its exact status, its coded log line, what the upstream sink received (nothing,
// or exactly one request) and that wsgate still serves a plain request and a handshake afterwards.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type TestContext, test } from 'node:test';
import { encodeFrame } from '../../src/websocket/encoder.ts';
import { OPCODE } from '../../src/websocket/frame.ts';
import { computeAcceptKey } from '../../src/websocket/handshake.ts';
import {
  assertHealthy,
  defaultResponder,
  exchange,
  RawClient,
  randomKey,
  type SinkConnection,
  startRawSink,
  wsHandshake,
} from '../helpers/raw.ts';
import { reverseConfig, startTestWsgate } from '../helpers/wsgate.ts';

const ALLOWED_ORIGIN = 'https://app.example.test';

/** The upstream's answer by path: refusals and broken 101s on purpose, a proper 101 or 200 otherwise. */
function respond(head: string): string {
  const path = /^\S+ (\S+)/.exec(head)?.[1] ?? '/';
  const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? '';
  const accept = computeAcceptKey(key);
  switch (path) {
    case '/refuse':
      // A keep-alive refusal: an upstream like this would read whatever comes next on the socket as a new request.
      return 'HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n';
    case '/refuse-with-body':
      return 'HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nContent-Length: 4\r\n\r\nnope';
    case '/no-accept':
      return 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
    case '/wrong-accept':
      return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAcceptKey(randomKey())}\r\n\r\n`;
    case '/h2c':
      return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
    default:
      return defaultResponder(head);
  }
}

async function setup(t: TestContext) {
  const sink = await startRawSink(t, respond);
  const gw = await startTestWsgate(
    t,
    reverseConfig([
      { match: { pathPrefix: '/origin' }, upstream: sink.wsUrl, allowOrigins: [ALLOWED_ORIGIN] },
      { upstream: sink.wsUrl },
    ]),
  );
  return { sink, gw };
}

const VALID_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** Waits (bounded) until wsgate has closed its connection to the sink. */
async function waitClosed(conn: SinkConnection): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!conn.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(conn.closed, 'wsgate closed its upstream connection');
}

test('case 17: Upgrade: h2c gets 400, is logged with its token, and never becomes a tunnel', async (t) => {
  const { sink, gw } = await setup(t);
  const ex = await exchange(
    t,
    gw.port,
    // Otherwise a complete WebSocket handshake (version and key), so only the Upgrade token is wrong.
    `GET / HTTP/1.1\r\nHost: wsgate.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${VALID_KEY}\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`,
  );
  assert.equal(ex.response?.status, 400);
  assert.equal(ex.response?.headers['x-wsgate-error'], 'WSG_HANDSHAKE_INVALID');
  assert.ok(ex.closed);
  const denied = await gw.logs.waitFor('upgrade.denied');
  assert.equal(denied.code, 'WSG_HANDSHAKE_INVALID');
  assert.equal(denied.token, 'h2c');
  assert.match(String(denied.msg), /only websocket is proxied/);
  assert.equal(denied.level, 'warn');
  assert.equal(sink.accepted(), 0, 'no upstream connection, so no tunnel');
  await assertHealthy(t, gw.port);
});

test('case 17: h2c without "Connection: upgrade" is a plain request forwarded with the upgrade stripped', async (t) => {
  const { sink, gw } = await setup(t);
  const ex = await exchange(
    t,
    gw.port,
    'GET /plain HTTP/1.1\r\nHost: wsgate.test\r\nConnection: HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
  );
  assert.equal(ex.response?.status, 200);
  assert.equal((await gw.logs.waitFor('http.access')).status, 200);
  assert.deepEqual(sink.requestLines(), ['GET /plain HTTP/1.1']);
  assert.doesNotMatch(sink.text(), /h2c|http2-settings|^upgrade:/im);
});

test('case 18: an upgrade on POST, or with a body, gets 400 and no tunnel', async (t) => {
  const { sink, gw } = await setup(t);
  const variants = [
    ['POST', wsHandshake('/', ['Content-Length: 5'], VALID_KEY).replace(/^GET/, 'POST') + 'hello'],
    ['GET', `${wsHandshake('/', ['Content-Length: 5'], VALID_KEY)}hello`],
    ['GET', `${wsHandshake('/', ['Transfer-Encoding: chunked'], VALID_KEY)}5\r\nhello\r\n0\r\n\r\n`],
  ] as const;
  for (const [method, request] of variants) {
    const ex = await exchange(t, gw.port, request);
    assert.equal(ex.response?.status, 400, `${method}: ${ex.raw.toString('latin1')}`);
    assert.equal(ex.response?.headers['x-wsgate-error'], 'WSG_HANDSHAKE_INVALID');
    assert.ok(ex.closed);
  }
  await gw.logs.waitFor('upgrade.denied');
  const denied = gw.logs.events('upgrade.denied');
  assert.deepEqual(
    denied.map((l) => [l.method, l.code, l.token]),
    variants.map(([method]) => [method, 'WSG_HANDSHAKE_INVALID', 'websocket']),
  );
  assert.equal(sink.accepted(), 0);
  await assertHealthy(t, gw.port);
});

// Both a refusal with a body and an empty one (Content-Length: 0) must end the connection at once.
for (const path of ['/refuse-with-body', '/refuse']) {
  test(`case 19: after a 426 at ${path}, a second request on the same socket never reaches the upstream`, async (t) => {
    const { sink, gw } = await setup(t);
    const client = await RawClient.connect(t, gw.port);
    client.write(wsHandshake(path));
    const refusal = await client.response();
    assert.equal(refusal.status, 426, 'the client gets the upstream’s own answer');
    assert.equal(refusal.headers.upgrade, 'websocket');
    assert.equal(refusal.headers.connection, 'close');
    client.write('GET /internal HTTP/1.1\r\nHost: wsgate.test\r\n\r\n');
    assert.ok(await client.waitClosed(), 'wsgate closes the connection after a refused upgrade');
    assert.equal(client.received.toString('latin1').match(/HTTP\/1\.1 /g)?.length, 1, 'exactly one response');
    const refused = await gw.logs.waitFor('ws.refused');
    assert.equal(refused.status, 426);
    await waitClosed(sink.connections[0]!);
    assert.deepEqual(sink.requestLines(), [`GET ${path} HTTP/1.1`], 'the sink saw no second request');
    await assertHealthy(t, gw.port);
  });

  test(`case 19: a request pipelined behind the handshake at ${path} is held, then dropped`, async (t) => {
    const { sink, gw } = await setup(t);
    const client = await RawClient.connect(t, gw.port);
    // One write: the smuggled request arrives with the handshake, as `head` of Node's 'upgrade' event.
    client.write(`${wsHandshake(path)}GET /internal HTTP/1.1\r\nHost: wsgate.test\r\n\r\n`);
    const refusal = await client.response();
    assert.equal(refusal.status, 426);
    assert.ok(await client.waitClosed(), 'wsgate closes the connection after a refused upgrade');
    await gw.logs.waitFor('ws.refused');
    // Once wsgate has let go of the upstream connection, whatever it was going to send has arrived.
    await waitClosed(sink.connections[0]!);
    assert.deepEqual(sink.requestLines(), [`GET ${path} HTTP/1.1`], 'the pipelined request never reached the sink');
    await assertHealthy(t, gw.port);
  });
}

test('case 19: bytes sent with an accepted handshake still arrive, after the 101', async (t) => {
  const { sink, gw } = await setup(t);
  const client = await RawClient.connect(t, gw.port);
  const frame = encodeFrame({ opcode: OPCODE.TEXT, payload: Buffer.from('early'), maskKey: randomBytes(4) });
  client.write(Buffer.concat([Buffer.from(wsHandshake('/accept')), frame]));
  assert.equal((await client.response()).status, 101);
  const upstreamConn = sink.connections[0]!;
  const deadline = Date.now() + 5000;
  while (!upstreamConn.bytes().includes(frame) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const bytes = upstreamConn.bytes();
  const headEnd = bytes.indexOf('\r\n\r\n') + 4;
  assert.deepEqual(bytes.subarray(headEnd), frame, 'the frame follows the handshake, byte for byte');
});

for (const [path, detail] of [
  ['/no-accept', /Sec-WebSocket-Accept is missing/],
  ['/wrong-accept', /Sec-WebSocket-Accept is wrong/],
  ['/h2c', /does not upgrade to websocket/],
] as const) {
  test(`case 20: an upstream 101 at ${path} gets the client a 502 and the upstream socket is destroyed`, async (t) => {
    const { sink, gw } = await setup(t);
    const client = await RawClient.connect(t, gw.port);
    client.write(`${wsHandshake(path)}GET /internal HTTP/1.1\r\nHost: wsgate.test\r\n\r\n`);
    const res = await client.response();
    assert.equal(res.status, 502);
    assert.equal(res.headers['x-wsgate-error'], 'WSG_UPSTREAM_BAD_RESPONSE');
    assert.match(res.body.toString(), detail);
    assert.ok(await client.waitClosed(), 'the client connection is closed');
    const bad = await gw.logs.waitFor('ws.handshake.bad_accept');
    assert.equal(bad.code, 'WSG_UPSTREAM_BAD_RESPONSE');
    assert.equal(bad.level, 'warn');
    await waitClosed(sink.connections[0]!);
    assert.deepEqual(sink.requestLines(), [`GET ${path} HTTP/1.1`], 'nothing followed the handshake upstream');
    assert.equal(gw.logs.events('ws.open').length, 0);
    await assertHealthy(t, gw.port);
  });
}

test('case 21: a foreign Origin on a route with allowOrigins gets 403 and never reaches the upstream', async (t) => {
  const { sink, gw } = await setup(t);
  const foreign = [
    ['Origin: https://evil.example.test'],
    ['Origin: null'],
    [`Origin: ${ALLOWED_ORIGIN}.evil.example.test`],
    [`Origin: ${ALLOWED_ORIGIN}:8443`],
    // Two Origin fields: Node joins them, and the joined value is not an allowed origin.
    [`Origin: ${ALLOWED_ORIGIN}`, 'Origin: https://evil.example.test'],
  ];
  for (const extra of foreign) {
    const ex = await exchange(t, gw.port, wsHandshake('/origin', extra));
    assert.equal(ex.response?.status, 403, extra.join(' + '));
    assert.equal(ex.response?.headers['x-wsgate-error'], 'WSG_ORIGIN_DENIED');
    assert.equal(ex.response?.headers['x-content-type-options'], 'nosniff');
    assert.ok(ex.closed);
  }
  await gw.logs.waitFor('ws.origin_denied');
  assert.equal(gw.logs.events('ws.origin_denied').length, foreign.length);
  assert.ok(gw.logs.events('ws.origin_denied').every((l) => l.code === 'WSG_ORIGIN_DENIED' && l.level === 'warn'));
  assert.equal(sink.accepted(), 0);
  // The allowed origin, and a client that sends none (not a browser, so not cross-site), get through.
  for (const extra of [[`Origin: ${ALLOWED_ORIGIN}`], []]) {
    const key = randomKey();
    const client = await RawClient.connect(t, gw.port);
    client.write(wsHandshake('/origin', extra, key));
    const res = await client.response();
    assert.equal(res.status, 101);
    assert.equal(res.headers['sec-websocket-accept'], computeAcceptKey(key));
    client.socket.destroy();
  }
  await assertHealthy(t, gw.port);
});
