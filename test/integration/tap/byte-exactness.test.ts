// The tap never changes a byte: random message sequences in both directions (text and binary, 0 B to 200 KiB,
// fragmented, with pings and pongs between fragments, masked with random keys from the client) pass through wsgate
// at tap level "payload", and each end receives exactly what the other sent. The tap's own account of the
// connection (message events, counters) matches what was sent.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeFrame } from '../../../src/websocket/encoder.ts';
import { OPCODE } from '../../../src/websocket/frame.ts';
import { RawWsClient, startRawUpstream, waitUntil } from '../../helpers/raw-ws.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';
import { byEvent, type Counters, connectionLog, DATA, messages } from './support.ts';

const PREVIEW_BYTES = 1024;

type Control = { at: number; opcode: number; size: number };
type MessageSpec = { kind: 'text' | 'binary'; size: number; cuts: number[]; controls: Control[]; seed: number };

/** mulberry32: a small deterministic generator, so a failing case can be replayed from fast-check's seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

// Text mixes 1-, 2-, 3- and 4-byte UTF-8 sequences so that fragment boundaries fall inside characters.
const TEXT_PALETTE = ['a', 'b', ' ', '{', '"', '\n', 'é', 'ß', '€', '✓', '😀', '𝄞'];

/** Exactly `size` bytes: valid UTF-8 text, or random binary. */
function payloadOf(kind: 'text' | 'binary', size: number, rand: () => number): Buffer {
  if (kind === 'binary') {
    const out = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) out[i] = Math.floor(rand() * 256);
    return out;
  }
  const parts: string[] = [];
  let length = 0;
  while (length < size - 4) {
    const ch = TEXT_PALETTE[Math.floor(rand() * TEXT_PALETTE.length)]!;
    parts.push(ch);
    length += Buffer.byteLength(ch);
  }
  parts.push('x'.repeat(size - length));
  const text = Buffer.from(parts.join(''), 'utf8');
  assert.equal(text.length, size);
  return text;
}

type Built = {
  frames: Buffer[];
  data: { kind: string; size: number; fragments: number; preview: string; truncated: boolean }[];
  controls: { kind: string; size: number; preview: string | undefined }[];
};

/** Encodes a direction's messages into frames, controls placed between the fragments. */
function build(specs: MessageSpec[], masked: boolean): Built {
  const built: Built = { frames: [], data: [], controls: [] };
  for (const spec of specs) {
    const rand = prng(spec.seed);
    const key = () => (masked ? Buffer.from([0, 0, 0, 0].map(() => Math.floor(rand() * 256))) : undefined);
    const payload = payloadOf(spec.kind, spec.size, rand);
    const bounds = [0, ...spec.cuts.map((c) => c % (spec.size + 1)).sort((a, b) => a - b), spec.size];
    const fragments = bounds.length - 1;
    const controlsAfter = new Map<number, Control[]>();
    for (const c of spec.controls) {
      const at = c.at % fragments;
      controlsAfter.set(at, [...(controlsAfter.get(at) ?? []), c]);
    }
    for (let i = 0; i < fragments; i++) {
      built.frames.push(
        encodeFrame({
          opcode: i === 0 ? (spec.kind === 'text' ? OPCODE.TEXT : OPCODE.BINARY) : OPCODE.CONTINUATION,
          fin: i === fragments - 1,
          payload: payload.subarray(bounds[i], bounds[i + 1]),
          maskKey: key(),
        }),
      );
      for (const c of controlsAfter.get(i) ?? []) {
        const body = payloadOf('binary', c.size, rand);
        built.frames.push(encodeFrame({ opcode: c.opcode, payload: body, maskKey: key() }));
        built.controls.push({
          kind: c.opcode === OPCODE.PING ? 'ping' : 'pong',
          size: c.size,
          preview: c.size > 0 ? body.toString('hex') : undefined,
        });
      }
    }
    const shown = payload.subarray(0, PREVIEW_BYTES);
    built.data.push({
      kind: spec.kind,
      size: spec.size,
      fragments,
      preview: spec.kind === 'text' ? shown.toString('utf8') : shown.toString('hex'),
      truncated: spec.size > PREVIEW_BYTES,
    });
  }
  return built;
}

const sizeArb = fc.oneof(
  fc.integer({ min: 0, max: 200 }),
  fc.constantFrom(125, 126, 127, 65_535, 65_536),
  fc.integer({ min: 0, max: 200 * 1024 }),
);
const messageArb: fc.Arbitrary<MessageSpec> = fc.record({
  kind: fc.constantFrom('text' as const, 'binary' as const),
  size: sizeArb,
  cuts: fc.array(fc.nat(), { maxLength: 4 }),
  controls: fc.array(
    fc.record({
      at: fc.nat(4),
      opcode: fc.constantFrom(OPCODE.PING, OPCODE.PONG),
      size: fc.integer({ min: 0, max: 125 }),
    }),
    { maxLength: 3 },
  ),
  seed: fc.integer(),
});
const scenarioArb = fc.record({
  toUpstream: fc.array(messageArb, { maxLength: 5 }),
  toClient: fc.array(messageArb, { maxLength: 5 }),
  // Where each side's byte stream is cut into separate writes (anywhere: inside headers, payloads, controls).
  upSplits: fc.array(fc.nat(), { maxLength: 12 }),
  downSplits: fc.array(fc.nat(), { maxLength: 12 }),
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Writes the frames as one stream cut at `splits` (taken modulo its length), each piece flushed to the kernel and
 * a turn of the event loop apart, so pieces tend to arrive as separate reads.
 */
async function writeAll(write: (b: Buffer) => Promise<void>, frames: Buffer[], splits: number[]): Promise<void> {
  const stream = Buffer.concat(frames);
  const cuts = [0, ...splits.map((c) => c % (stream.length + 1)).sort((a, b) => a - b), stream.length];
  for (let i = 0; i + 1 < cuts.length; i++) {
    if (cuts[i] === cuts[i + 1]) continue;
    await write(stream.subarray(cuts[i], cuts[i + 1]));
    await new Promise((r) => setImmediate(r));
  }
}

test('random message sequences both ways arrive byte for byte, and the tap reports them', {
  timeout: 180_000,
}, async (t) => {
  const upstream = await startRawUpstream(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: upstream.url }], { tap: { level: 'payload', previewBytes: PREVIEW_BYTES } }),
  );
  let run = 0;
  await fc.assert(
    fc.asyncProperty(scenarioArb, async (scenario) => {
      const path = `/run-${run++}`;
      const client = await RawWsClient.connect(t, gw.port, { path });
      const server = await upstream.connection(path);
      const up = build(scenario.toUpstream, true);
      const down = build(scenario.toClient, false);
      await Promise.all([
        writeAll((b) => client.write(b), up.frames, scenario.upSplits),
        writeAll((b) => server.write(b), down.frames, scenario.downSplits),
      ]);
      const upLength = up.frames.reduce((n, f) => n + f.length, 0);
      const downLength = down.frames.reduce((n, f) => n + f.length, 0);
      await waitUntil(
        () => server.receivedLength >= upLength && client.receivedLength >= downLength,
        `${path}: all data to arrive (upstream ${server.receivedLength}/${upLength}, client ${client.receivedLength}/${downLength})`,
      );
      // The client closes; the raw upstream answers and ends the TCP connection.
      await client.sendClose(1000, 'done');
      await Promise.all([client.closed, server.closed]);

      assert.equal(sha256(server.received()), sha256(client.sentBytes()), `${path}: what the upstream received`);
      assert.equal(sha256(client.received()), sha256(server.sentBytes()), `${path}: what the client received`);

      const log = await connectionLog(gw.logs, path);
      assert.deepEqual(byEvent(log.lines, 'ws.violation'), [], `${path}: no violations`);
      for (const [dir, built] of [
        ['toUpstream', up],
        ['toClient', down],
      ] as const) {
        const seen = messages(log.lines, dir, DATA).map((l) => ({
          kind: l.kind,
          size: l.size,
          fragments: l.fragments,
          preview: l.preview,
          // A message of 0 bytes has an empty preview and no truncated flag.
          truncated: l.truncated ?? false,
        }));
        assert.deepEqual(seen, built.data, `${path} ${dir}: data messages`);
        const controls = messages(log.lines, dir, ['ping', 'pong']).map((l) => ({
          kind: l.kind,
          size: l.size,
          preview: l.preview,
        }));
        assert.deepEqual(controls, built.controls, `${path} ${dir}: pings and pongs`);
        assert.equal(messages(log.lines, dir, ['close']).length, 1, `${path} ${dir}: one close`);
      }
      const closeFrame = (masked: boolean) =>
        encodeFrame({ opcode: OPCODE.CLOSE, payload: Buffer.alloc(6), maskKey: masked ? Buffer.alloc(4) : undefined })
          .length;
      const expectUp: Counters = {
        frames: up.frames.length + 1,
        messages: up.data.length,
        bytes: upLength + closeFrame(true),
      };
      const expectDown: Counters = {
        frames: down.frames.length + 1,
        messages: down.data.length,
        bytes: downLength + closeFrame(false),
      };
      assert.deepEqual(log.close.toUpstream, expectUp, `${path}: toUpstream counters`);
      assert.deepEqual(log.close.toClient, expectDown, `${path}: toClient counters`);
      assert.equal(log.close.termination, 'CC');
      assert.equal(log.close.clean, true);
    }),
    { numRuns: 20, interruptAfterTimeLimit: 150_000 },
  );
});
