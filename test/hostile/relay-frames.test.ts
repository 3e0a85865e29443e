// Hostile cases 22–36 (../shared/security/hostile-cases.md) in terminating mode: on a relayed connection wsgate
// itself answers a peer that breaks RFC 6455 or a limit with the RFC's close code, and tells the other peer 1001
// (the client broke it or went away) or 1014 (the upstream did). Raw peers on both ends, so every byte is chosen.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { encodeFrame } from '../../src/websocket/encoder.ts';
import { closeBody, OPCODE, RawWsClient, startRawUpstream, waitUntil } from '../helpers/raw-ws.ts';
import { handRules, startGate } from '../integration/relay/support.ts';

/** A frame from raw header bytes: `b0` (FIN, RSV, opcode), the length byte(s), masked with a random key or not. */
function rawFrame(b0: number, payload: Buffer, masked: boolean, lengthBytes?: number[]): Buffer {
  const len =
    lengthBytes ?? (payload.length < 126 ? [payload.length] : [126, payload.length >> 8, payload.length & 0xff]);
  const key = masked ? randomBytes(4) : undefined;
  const body = Buffer.from(payload);
  if (key) for (let i = 0; i < body.length; i++) body[i]! ^= key[i % 4]!;
  return Buffer.concat([
    Buffer.from([b0, (masked ? 0x80 : 0) | len[0]!, ...len.slice(1)]),
    key ?? Buffer.alloc(0),
    body,
  ]);
}

async function relayed(t: Parameters<typeof startGate>[0], path: string, limits = {}) {
  const upstream = await startRawUpstream(t);
  const gate = await startGate(t, { upstreamPort: upstream.port, rules: () => handRules(), limits });
  const client = await RawWsClient.connect(t, gate.port, { path });
  const up = await upstream.connection(path);
  return { gate, client, up };
}

type ClientCase = { name: string; bytes: () => Buffer[]; code: number; limits?: Record<string, number> };

const fromClient: ClientCase[] = [
  { name: 'case 22: an unmasked client frame', bytes: () => [rawFrame(0x81, Buffer.from('hi'), false)], code: 1002 },
  { name: 'case 24: RSV1 without an extension', bytes: () => [rawFrame(0xc1, Buffer.from('hi'), true)], code: 1002 },
  { name: 'case 24: RSV2 and RSV3', bytes: () => [rawFrame(0xb1, Buffer.from('hi'), true)], code: 1002 },
  { name: 'case 24: reserved opcode 0x3', bytes: () => [rawFrame(0x83, Buffer.alloc(0), true)], code: 1002 },
  { name: 'case 24: reserved opcode 0xB', bytes: () => [rawFrame(0x8b, Buffer.alloc(0), true)], code: 1002 },
  { name: 'case 25: a ping of 126 bytes', bytes: () => [rawFrame(0x89, Buffer.alloc(126), true)], code: 1002 },
  { name: 'case 25: a fragmented ping', bytes: () => [rawFrame(0x09, Buffer.from('p'), true)], code: 1002 },
  {
    name: 'case 26: a continuation with no message',
    bytes: () => [rawFrame(0x80, Buffer.from('x'), true)],
    code: 1002,
  },
  {
    name: 'case 26: a new text frame before FIN',
    bytes: () => [rawFrame(0x01, Buffer.from('a'), true), rawFrame(0x81, Buffer.from('b'), true)],
    code: 1002,
  },
  {
    name: 'case 28: invalid UTF-8 text (C0 AF)',
    bytes: () => [rawFrame(0x81, Buffer.from([0xc0, 0xaf]), true)],
    code: 1007,
  },
  {
    name: 'case 28: an invalid UTF-8 close reason',
    bytes: () => [rawFrame(0x88, Buffer.from([0x03, 0xe8, 0xc0, 0xaf]), true)],
    code: 1007,
  },
  { name: 'case 29: close code 999', bytes: () => [rawFrame(0x88, Buffer.from([0x03, 0xe7]), true)], code: 1002 },
  { name: 'case 29: close code 1005', bytes: () => [rawFrame(0x88, Buffer.from([0x03, 0xed]), true)], code: 1002 },
  { name: 'case 29: close code 1006', bytes: () => [rawFrame(0x88, Buffer.from([0x03, 0xee]), true)], code: 1002 },
  { name: 'case 29: close code 5000', bytes: () => [rawFrame(0x88, Buffer.from([0x13, 0x88]), true)], code: 1002 },
  { name: 'case 29: a 1-byte close body', bytes: () => [rawFrame(0x88, Buffer.from([0x03]), true)], code: 1002 },
  {
    name: 'case 30: a header claiming 2^63 bytes',
    bytes: () => [rawFrame(0x82, Buffer.alloc(0), true, [127, 0x80, 0, 0, 0, 0, 0, 0, 0])],
    code: 1009,
  },
  {
    name: 'case 30: a header claiming 2^53 bytes',
    bytes: () => [rawFrame(0x82, Buffer.alloc(0), true, [127, 0, 0x20, 0, 0, 0, 0, 0, 0])],
    code: 1009,
  },
  {
    name: 'case 31: a 2 MiB frame against a 1 MiB limit (closed after the header)',
    bytes: () => [rawFrame(0x82, Buffer.alloc(0), true, [127, 0, 0, 0, 0, 0, 0x20, 0, 0])],
    code: 1009,
    limits: { maxFrameBytes: 1024 * 1024 },
  },
  {
    name: 'case 33: 2000 one-byte fragments without FIN',
    bytes: () => [
      rawFrame(0x01, Buffer.from('a'), true),
      ...Array.from({ length: 1999 }, () => rawFrame(0x00, Buffer.from('a'), true)),
    ],
    code: 1008,
    limits: { maxFragments: 1024 },
  },
];

for (const c of fromClient) {
  test(`relay, ${c.name}: the client gets ${c.code}, the upstream 1001, nothing of it forwarded`, async (t) => {
    const path = `/c-${fromClient.indexOf(c)}`;
    const { gate, client, up } = await relayed(t, path, c.limits);
    for (const b of c.bytes()) await client.write(b);
    const close = await client.waitForClose();
    assert.equal(closeBody(close.payload).code, c.code);
    const upClose = await up.waitForClose();
    assert.equal(closeBody(upClose.payload).code, 1001);
    assert.ok(
      up.frames.every((f) => f.opcode === OPCODE.CLOSE),
      `only a close reached the upstream: ${up.frames.map((f) => f.opcode)}`,
    );
    await client.closed;
    const end = await gate.end(path);
    assert.equal(end.endedBy, 'wsgate');
    assert.equal(end.closeCode, c.code);
    assert.ok(gate.of(path).some((e) => e.type === 'violation' && e.closeCode === c.code));
  });
}

test('relay, case 23: a masked frame from the upstream: the upstream gets 1002, the client 1014', async (t) => {
  const { gate, client, up } = await relayed(t, '/masked-up');
  await up.write(encodeFrame({ opcode: OPCODE.TEXT, payload: 'x', maskKey: randomBytes(4) }));
  assert.equal(closeBody((await up.waitForClose()).payload).code, 1002);
  assert.equal(closeBody((await client.waitForClose()).payload).code, 1014);
  assert.ok(client.frames.every((f) => f.opcode === OPCODE.CLOSE));
  const end = await gate.end('/masked-up');
  assert.equal(end.how, 'violation');
});

test('relay, case 28: valid UTF-8 split across fragments is accepted', async (t) => {
  const { client, up } = await relayed(t, '/utf8-split');
  const text = Buffer.from('€😀', 'utf8');
  await client.send({ opcode: OPCODE.TEXT, payload: text.subarray(0, 2), fin: false });
  await client.send({ opcode: OPCODE.CONTINUATION, payload: text.subarray(2), fin: true });
  await waitUntil(() => up.frames.length === 1, 'the message');
  assert.equal(up.frames[0]!.payload.toString('utf8'), '€😀');
});

for (const code of [1000, 3000, 4999]) {
  test(`relay, case 29: close code ${code} is passed on and the answer comes back`, async (t) => {
    const { client, up } = await relayed(t, `/echo-${code}`);
    await client.sendClose(code, 'bye');
    assert.deepEqual(closeBody((await up.waitForClose()).payload), { code, reason: 'bye' });
    assert.deepEqual(closeBody((await client.waitForClose()).payload), { code, reason: 'bye' });
    await client.closed;
  });
}

test('relay, case 34: the upstream resets mid-message: the client gets 1014 and no part of the message', async (t) => {
  const { gate, client, up } = await relayed(t, '/up-rst');
  await up.send({ opcode: OPCODE.TEXT, payload: 'half of a', fin: false });
  await new Promise((r) => setTimeout(r, 30));
  up.socket.resetAndDestroy();
  assert.equal(closeBody((await client.waitForClose()).payload).code, 1014);
  assert.ok(
    client.frames.every((f) => f.opcode === OPCODE.CLOSE),
    'the partial message was not delivered',
  );
  await client.closed;
  const end = await gate.end('/up-rst');
  assert.equal(end.endedBy, 'upstream');
  assert.equal(end.how, 'rst');
});

test('relay, case 35: the client dies mid-message: the upstream gets 1001', async (t) => {
  const { gate, client, up } = await relayed(t, '/client-rst');
  await client.send({ opcode: OPCODE.BINARY, payload: Buffer.alloc(10), fin: false });
  await new Promise((r) => setTimeout(r, 30));
  client.socket.resetAndDestroy();
  assert.equal(closeBody((await up.waitForClose()).payload).code, 1001);
  assert.ok(up.frames.every((f) => f.opcode === OPCODE.CLOSE));
  await up.closed;
  const end = await gate.end('/client-rst');
  assert.equal(end.endedBy, 'client');
});

test('relay, case 36: the client sends Close then FIN: the handshake completes and the upstream is torn down', async (t) => {
  const { gate, client, up } = await relayed(t, '/close-fin');
  await client.sendClose(1000, '');
  client.socket.end();
  assert.equal(closeBody((await up.waitForClose()).payload).code, 1000);
  await up.closed;
  const end = await gate.end('/close-fin');
  assert.equal(end.endedBy, 'client');
  assert.equal(end.how, 'close');
  assert.equal(end.closeCode, 1000);
  assert.equal(end.clean, true);
});
