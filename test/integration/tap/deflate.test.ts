// permessage-deflate through the tap: a real client and a real server (`ws`) compress every message (threshold 0)
// with the parameters they agreed — context takeover on or off, LZ77 windows of 9 to 15 bits — and the traffic log
// shows each message as the original text, in order, in both directions.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import { constants, deflateRawSync } from 'node:zlib';
import WebSocket, { WebSocketServer } from 'ws';
import { RawWsClient, startRawUpstream, waitUntil } from '../../helpers/raw-ws.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';
import { connectionLog, DATA, messages } from './support.ts';

type Deflate = {
  serverNoContextTakeover?: boolean;
  clientNoContextTakeover?: boolean;
  serverMaxWindowBits?: number;
  clientMaxWindowBits?: number;
};

const WORDS = ['frame', 'tap', 'deflate', 'window', 'context', 'message', 'gateway', 'proxy', 'socket', 'upstream'];

/**
 * A distinct, compressible text: a numbered header, then words drawn from a shared vocabulary (so later messages
 * can refer back into earlier ones when the context is kept), some non-ASCII, 200 B to about 3 KiB.
 */
function text(side: string, i: number): string {
  let seed = (i + 1) * (side === 'client' ? 7919 : 104_729);
  const next = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed;
  };
  const words: string[] = [`${side} message #${i} ✓ —`];
  const count = 30 + (next() % 400);
  for (let w = 0; w < count; w++) words.push(WORDS[next() % WORDS.length]!);
  return `${words.join(' ')} ${'é'.repeat(i)} end of ${side} #${i}`;
}

const ROUNDS = 6;

async function exchange(t: TestContext, deflate: Deflate, path: string) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0, ...deflate } });
  t.after(() => {
    for (const c of server.clients) c.terminate();
    server.close();
  });
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  server.on('connection', (socket) => {
    let n = 0;
    socket.on('message', () => socket.send(text('server', n++)));
  });
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: `ws://127.0.0.1:${port}` }], { tap: { level: 'payload', previewBytes: '64KiB' } }),
  );
  const ws = new WebSocket(`${gw.ws}${path}`, { perMessageDeflate: { threshold: 0, ...deflate } });
  t.after(() => ws.terminate());
  await once(ws, 'open');
  const replies: string[] = [];
  ws.on('message', (data: Buffer) => replies.push(data.toString('utf8')));
  for (let i = 0; i < ROUNDS; i++) {
    ws.send(text('client', i));
    await waitUntil(() => replies.length === i + 1, `reply ${i}`);
  }
  ws.close(1000);
  await once(ws, 'close');
  assert.deepEqual(
    replies,
    Array.from({ length: ROUNDS }, (_, i) => text('server', i)),
    'the client got the texts the server sent',
  );
  return connectionLog(gw.logs, path);
}

function assertDecoded(log: Awaited<ReturnType<typeof exchange>>, label: string): void {
  for (const [dir, side] of [
    ['toUpstream', 'client'],
    ['toClient', 'server'],
  ] as const) {
    const seen = messages(log.lines, dir, DATA).map((l) => ({
      kind: l.kind,
      compressed: l.compressed,
      preview: l.preview,
      decodedSize: l.decodedSize,
      note: l.note,
    }));
    const expected = Array.from({ length: ROUNDS }, (_, i) => ({
      kind: 'text',
      compressed: true,
      preview: text(side, i),
      decodedSize: Buffer.byteLength(text(side, i)),
      note: undefined,
    }));
    assert.deepEqual(seen, expected, `${label} ${dir}`);
  }
}

const cases: { name: string; deflate: Deflate; agreed: RegExp[] }[] = [];
for (let bits = 9; bits <= 15; bits++) {
  cases.push({
    name: `context takeover, windows of ${bits} bits`,
    deflate: { serverMaxWindowBits: bits, clientMaxWindowBits: bits },
    agreed: [new RegExp(`server_max_window_bits=${bits}`), new RegExp(`client_max_window_bits=${bits}`)],
  });
  cases.push({
    name: `no context takeover, windows of ${bits} bits`,
    deflate: {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: bits,
      clientMaxWindowBits: bits,
    },
    agreed: [/server_no_context_takeover/, /client_no_context_takeover/, new RegExp(`server_max_window_bits=${bits}`)],
  });
}
cases.push(
  { name: 'defaults (15-bit windows, context kept)', deflate: {}, agreed: [/permessage-deflate/] },
  {
    name: 'only the server drops its context',
    deflate: { serverNoContextTakeover: true },
    agreed: [/server_no_context_takeover/],
  },
  {
    name: 'only the client drops its context',
    deflate: { clientNoContextTakeover: true },
    agreed: [/client_no_context_takeover/],
  },
  {
    name: 'different windows per direction (client 9, server 15)',
    deflate: { clientMaxWindowBits: 9, serverMaxWindowBits: 15 },
    agreed: [/client_max_window_bits=9/],
  },
  {
    name: 'different windows per direction (client 15, server 9)',
    deflate: { clientMaxWindowBits: 15, serverMaxWindowBits: 9 },
    agreed: [/server_max_window_bits=9/],
  },
);

for (const [index, c] of cases.entries()) {
  test(`ws with permessage-deflate, ${c.name}: the log shows the original texts`, async (t) => {
    const log = await exchange(t, c.deflate, `/deflate-${index}`);
    for (const re of c.agreed) assert.match(String(log.open.extensions), re, 'the parameters were agreed');
    assertDecoded(log, c.name);
  });
}

test('a compressed message fragmented around a ping is decoded from its data frames only', async (t) => {
  const upstream = await startRawUpstream(t, { extensions: 'permessage-deflate' });
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url }], { tap: { level: 'payload' } }));
  const client = await RawWsClient.connect(t, gw.port, {
    path: '/fragments',
    headers: ['Sec-WebSocket-Extensions: permessage-deflate'],
  });
  const server = await upstream.connection('/fragments');
  const original = text('client', 3);
  const deflated = deflateRawSync(original, { finishFlush: constants.Z_SYNC_FLUSH });
  const body = deflated.subarray(0, deflated.length - 4); // RFC 7692 §7.2.1: drop the 00 00 ff ff tail
  const a = Math.floor(body.length / 3);
  await client.send({ opcode: 0x1, rsv1: true, fin: false, payload: body.subarray(0, a) });
  await client.send({ opcode: 0x9, payload: 'ping between fragments' });
  await client.send({ opcode: 0x0, fin: false, payload: body.subarray(a, 2 * a) });
  await client.send({ opcode: 0xa, payload: 'unsolicited pong' });
  await client.send({ opcode: 0x0, fin: true, payload: body.subarray(2 * a) });
  await client.sendClose(1000);
  await Promise.all([client.closed, server.closed]);
  const log = await connectionLog(gw.logs, '/fragments');
  const [message, ...more] = messages(log.lines, 'toUpstream', DATA);
  assert.equal(more.length, 0);
  assert.equal(message?.compressed, true);
  assert.equal(message?.fragments, 3);
  assert.equal(message?.size, body.length);
  assert.equal(message?.note, undefined);
  assert.equal(message?.preview, original);
});

test('a compressed text longer than previewBytes is shown cut, with its decoded size', async (t) => {
  const upstream = await startRawUpstream(t, { extensions: 'permessage-deflate; server_no_context_takeover' });
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url }], { tap: { level: 'payload' } }));
  const client = await RawWsClient.connect(t, gw.port, {
    path: '/long',
    headers: ['Sec-WebSocket-Extensions: permessage-deflate'],
  });
  const server = await upstream.connection('/long');
  const original = `${text('server', 5)} ${text('server', 6)}`.repeat(3);
  assert.ok(Buffer.byteLength(original) > 2048);
  const deflated = deflateRawSync(original, { finishFlush: constants.Z_SYNC_FLUSH });
  await server.send({ opcode: 0x1, rsv1: true, payload: deflated.subarray(0, deflated.length - 4) });
  await waitUntil(() => client.frames.length === 1, 'the message at the client');
  await client.sendClose(1000);
  await Promise.all([client.closed, server.closed]);
  const log = await connectionLog(gw.logs, '/long');
  const [message] = messages(log.lines, 'toClient', DATA);
  assert.equal(message?.decodedSize, Buffer.byteLength(original));
  assert.equal(message?.truncated, true);
  assert.equal(message?.preview, Buffer.from(original).subarray(0, 1024).toString('utf8'));
});
