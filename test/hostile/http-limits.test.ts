// Hostile cases 9, 10, 11 and 13 (test/../shared/security/hostile-cases.md) on a reverse listener: oversized request
// lines and heads, too many header fields, and ambiguous body framing. Each is refused with its exact status and a
// coded `http.client_error` line, the connection is closed, the upstream sees nothing, and wsgate still serves a
// plain request and a WebSocket handshake afterwards.
//
// Not here: case 12 (slowloris) is in slowloris.test.ts and slowloris-crowd.test.ts; the same limits on every entry
// kind (forward absolute-form, in-tunnel, intercepted, and case 14's absolute-form Host) are in entry-kinds.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_HEADER_COUNT, MAX_REQUEST_LINE_BYTES } from '../../src/front/limits.ts';
import { assertHealthy, type Exchange, exchange, startRawSink, wsHandshake } from '../helpers/raw.ts';
import { type LogCapture, reverseConfig, startTestWsgate } from '../helpers/wsgate.ts';

async function setup(t: import('node:test').TestContext) {
  const sink = await startRawSink(t);
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: sink.wsUrl }]));
  return { sink, gw };
}

/** The response wsgate writes itself: exact status, the coded header, and the connection closed after it. */
function assertRefused(ex: Exchange, status: number, code: string): void {
  assert.equal(ex.response?.status, status, ex.raw.toString('latin1').slice(0, 300));
  assert.equal(ex.response?.headers['x-wsgate-error'], code);
  assert.equal(ex.response?.headers.connection, 'close');
  assert.ok(ex.closed, 'wsgate closed the connection after the error');
}

/** The coded log line for this refusal (the n-th one when a test provokes several). */
async function assertLogged(logs: LogCapture, code: string, status: number, n = 1): Promise<void> {
  await logs.waitFor('http.client_error');
  const deadline = Date.now() + 5000;
  while (logs.events('http.client_error').filter((l) => l.code === code).length < n && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const lines = logs.events('http.client_error').filter((l) => l.code === code);
  assert.equal(
    lines.length,
    n,
    `http.client_error lines with ${code}: ${JSON.stringify(logs.events('http.client_error'))}`,
  );
  for (const line of lines) {
    assert.equal(line.status, status);
    assert.equal(line.level, 'warn');
  }
}

function headers(count: number, prefix = 'X-Junk'): string {
  let out = '';
  for (let i = 0; i < count; i += 1) out += `${prefix}-${i}: v\r\n`;
  return out;
}

test('case 9: a 9 KiB request line gets 414, plain or upgrade, and never reaches the upstream', async (t) => {
  const { sink, gw } = await setup(t);
  const path = `/${'a'.repeat(9 * 1024)}`;
  const plain = await exchange(t, gw.port, `GET ${path} HTTP/1.1\r\nHost: wsgate.test\r\n\r\n`);
  assertRefused(plain, 414, 'WSG_URI_TOO_LONG');
  // With a body announced: wsgate closes instead of reading the body as a next request.
  const post = await exchange(
    t,
    gw.port,
    `POST ${path} HTTP/1.1\r\nHost: wsgate.test\r\nContent-Length: 40\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n`,
  );
  assertRefused(post, 414, 'WSG_URI_TOO_LONG');
  const upgrade = await exchange(t, gw.port, wsHandshake(path));
  assertRefused(upgrade, 414, 'WSG_URI_TOO_LONG');
  await assertLogged(gw.logs, 'WSG_URI_TOO_LONG', 414, 3);
  assert.equal(sink.accepted(), 0, 'the upstream saw no connection');
  await assertHealthy(t, gw.port);
});

test('case 9: a request line just under the limit is served', async (t) => {
  const { sink, gw } = await setup(t);
  const target = `/${'a'.repeat(MAX_REQUEST_LINE_BYTES - 'GET  HTTP/1.1'.length - 1)}`;
  const ex = await exchange(t, gw.port, `GET ${target} HTTP/1.1\r\nHost: wsgate.test\r\nConnection: close\r\n\r\n`);
  assert.equal(ex.response?.status, 200);
  assert.deepEqual(sink.requestLines(), [`GET ${target} HTTP/1.1`]);
  assert.equal(gw.logs.events('http.client_error').length, 0);
});

test('case 10: one 20 KiB header gets 431 and never reaches the upstream', async (t) => {
  const { sink, gw } = await setup(t);
  const big = `X-Big: ${'b'.repeat(20 * 1024)}\r\n`;
  assertRefused(
    await exchange(t, gw.port, `GET / HTTP/1.1\r\nHost: wsgate.test\r\n${big}\r\n`),
    431,
    'WSG_HEADERS_TOO_LARGE',
  );
  assertRefused(await exchange(t, gw.port, wsHandshake('/', [big.trimEnd()])), 431, 'WSG_HEADERS_TOO_LARGE');
  await assertLogged(gw.logs, 'WSG_HEADERS_TOO_LARGE', 431, 2);
  assert.equal(sink.accepted(), 0);
  await assertHealthy(t, gw.port);
});

test('case 10: 150 small headers get 431 (limit 100 fields), none dropped silently', async (t) => {
  const { sink, gw } = await setup(t);
  assertRefused(
    await exchange(t, gw.port, `GET / HTTP/1.1\r\nHost: wsgate.test\r\n${headers(149)}\r\n`),
    431,
    'WSG_HEADERS_TOO_LARGE',
  );
  assertRefused(
    await exchange(t, gw.port, `GET / HTTP/1.1\r\nHost: wsgate.test\r\n${headers(MAX_HEADER_COUNT)}\r\n`),
    431,
    'WSG_HEADERS_TOO_LARGE',
  );
  await assertLogged(gw.logs, 'WSG_HEADERS_TOO_LARGE', 431, 2);
  assert.equal(sink.accepted(), 0);
  // Exactly the limit (Host, Connection and 98 more) passes, and every one of them reaches the upstream.
  const ok = await exchange(
    t,
    gw.port,
    `GET /ok HTTP/1.1\r\nHost: wsgate.test\r\nConnection: close\r\n${headers(MAX_HEADER_COUNT - 2)}\r\n`,
  );
  assert.equal(ok.response?.status, 200);
  assert.equal(sink.text().match(/^X-Junk-\d+: v$/gim)?.length, MAX_HEADER_COUNT - 2);
  await assertHealthy(t, gw.port);
});

test('case 11: 2000 junk headers before the upgrade headers get 431, no tunnel, wsgate survives', async (t) => {
  const { sink, gw } = await setup(t);
  // The CVE-2024-37890 shape: small enough in bytes (about 14 KiB) to pass a size limit, many enough in count
  // that a server dropping fields beyond its count would lose the Upgrade and Sec-WebSocket-Key lines.
  const junk = 'a: b\r\n'.repeat(2000);
  assert.ok(Buffer.byteLength(junk) < 16 * 1024);
  const ex = await exchange(
    t,
    gw.port,
    `GET / HTTP/1.1\r\nHost: wsgate.test\r\n${junk}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${'A'.repeat(22)}==\r\n\r\n`,
  );
  assertRefused(ex, 431, 'WSG_HEADERS_TOO_LARGE');
  await assertLogged(gw.logs, 'WSG_HEADERS_TOO_LARGE', 431);
  assert.equal(sink.accepted(), 0);
  assert.equal(gw.logs.events('ws.open').length, 0);
  await assertHealthy(t, gw.port);
});

test('case 13: ambiguous body framing gets 400 and the upstream receives nothing', async (t) => {
  const { sink, gw } = await setup(t);
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: wsgate.test\r\n\r\n';
  const variants = [
    // CL.TE: a front end trusting Content-Length and a back end trusting chunked disagree on where the body ends.
    `POST / HTTP/1.1\r\nHost: wsgate.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    `POST / HTTP/1.1\r\nHost: wsgate.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\n${smuggled}`,
    // Two different lengths (RFC 9112 §6.3: unrecoverable error).
    `POST / HTTP/1.1\r\nHost: wsgate.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
    // Chunked not the final coding of a request (RFC 9112 §6.3: 400).
    `POST / HTTP/1.1\r\nHost: wsgate.test\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
    // The same on an upgrade request.
    `GET / HTTP/1.1\r\nHost: wsgate.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${'A'.repeat(22)}==\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  ];
  for (const request of variants) {
    assertRefused(await exchange(t, gw.port, request), 400, 'WSG_BAD_REQUEST');
  }
  await assertLogged(gw.logs, 'WSG_BAD_REQUEST', 400, variants.length);
  assert.equal(sink.accepted(), 0, 'the upstream sink saw no connection');
  await assertHealthy(t, gw.port);
});
