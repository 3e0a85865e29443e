// What the tap needs from the decoder to enforce limits: stream offsets of frame starts and ends (so a gate can stop
// forwarding exactly before a frame), the bytes of a header still incomplete, and limits that are only reported
// (stopOnLimit false) while decoding goes on with framing intact.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameDecoder, type FrameHandler } from '../../../src/websocket/decoder.ts';
import { encodeFrame } from '../../../src/websocket/encoder.ts';
import { OPCODE } from '../../../src/websocket/frame.ts';
import type { Violation } from '../../../src/websocket/violation.ts';

const KEY = Uint8Array.from([1, 2, 3, 4]);

// Frames of each header form (7-bit, 16-bit and 64-bit lengths, masked), an empty one and a control frame.
const FRAMES = [
  encodeFrame({ opcode: OPCODE.TEXT, payload: 'hi', maskKey: KEY }),
  encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(300, 7), maskKey: KEY }),
  encodeFrame({ opcode: OPCODE.PING, maskKey: KEY }),
  encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(70_000, 9), maskKey: KEY }),
  encodeFrame({ opcode: OPCODE.TEXT, payload: 'end', maskKey: KEY }),
];
const STREAM = Buffer.concat(FRAMES);
const STARTS = FRAMES.map((_, i) => FRAMES.slice(0, i).reduce((n, f) => n + f.length, 0));
const ENDS = STARTS.map((s, i) => s + FRAMES[i]!.length);
const HEADER_ENDS = STARTS.map((s, i) => s + (i === 3 ? 14 : i === 1 ? 8 : 6));

type Seen = { headers: [number, number][]; ends: number[]; pending: number[] };

function record(chunks: Buffer[]): Seen {
  const seen: Seen = { headers: [], ends: [], pending: [] };
  const handler: FrameHandler = {
    onFrameHeader: () => seen.headers.push([decoder.frameStart, decoder.offset]),
    onFrameEnd: () => seen.ends.push(decoder.offset),
    onViolation: (v) => assert.fail(v.message),
  };
  const decoder = new FrameDecoder({ expectMasked: true, allowRsv1: false }, handler);
  for (const chunk of chunks) {
    decoder.push(chunk);
    seen.pending.push(decoder.pendingHeaderBytes);
    assert.equal(
      decoder.offset,
      chunks.slice(0, chunks.indexOf(chunk) + 1).reduce((n, c) => n + c.length, 0),
    );
  }
  return seen;
}

test('frame starts and ends are stream offsets, the same for every way the stream is cut', () => {
  const expected = { headers: STARTS.map((s, i) => [s, HEADER_ENDS[i]!]), ends: ENDS };
  const whole = record([STREAM]);
  assert.deepEqual({ headers: whole.headers, ends: whole.ends }, expected);
  assert.deepEqual(whole.pending, [0]);
  // Every cut inside the first 400 bytes and around each later header, in two chunks.
  const cuts = [
    ...Array.from({ length: 400 }, (_, i) => i + 1),
    ...STARTS.slice(3).flatMap((s) => Array.from({ length: 16 }, (_, i) => s - 1 + i)),
  ];
  for (const cut of cuts) {
    const split = record([STREAM.subarray(0, cut), STREAM.subarray(cut)]);
    assert.deepEqual({ headers: split.headers, ends: split.ends }, expected, `cut at ${cut}`);
    // A cut inside a header leaves exactly the header bytes before it pending.
    const inHeader = STARTS.findIndex((s, i) => cut > s && cut < HEADER_ENDS[i]!);
    assert.equal(split.pending[0], inHeader === -1 ? 0 : cut - STARTS[inHeader]!, `pending at cut ${cut}`);
  }
});

test('byte by byte, every header byte is pending until the header is complete', () => {
  const head = STREAM.subarray(0, ENDS[1]!);
  const seen = record([...head].map((b) => Buffer.from([b])));
  const pendingAt = (offset: number) => seen.pending[offset - 1];
  assert.equal(pendingAt(1), 1);
  assert.equal(pendingAt(HEADER_ENDS[0]! - 1), HEADER_ENDS[0]! - 1);
  assert.equal(pendingAt(HEADER_ENDS[0]!), 0);
  assert.equal(pendingAt(STARTS[1]! + 7), 7);
  assert.equal(pendingAt(HEADER_ENDS[1]!), 0);
});

function violations(options: { maxFrameBytes?: number; maxMessageBytes?: number; maxFragments?: number }) {
  const found: Violation[] = [];
  const ends: number[] = [];
  const messages: number[] = [];
  const decoder = new FrameDecoder(
    { expectMasked: true, allowRsv1: false, stopOnLimit: false, ...options },
    {
      onFrameHeader: () => {},
      onFrameEnd: () => ends.push(decoder.offset),
      onViolation: (v) => found.push(v),
      onMessageEnd: (m) => messages.push(m.size),
    },
  );
  return { decoder, found, ends, messages };
}

test('stopOnLimit false: an oversized frame is reported and the next frame still decodes', () => {
  const { decoder, found, ends } = violations({ maxFrameBytes: 10 });
  const big = encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(11), maskKey: KEY });
  const small = encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(10), maskKey: KEY });
  decoder.push(Buffer.concat([big, small, big]));
  assert.deepEqual(
    found.map((v) => [v.code, v.closeCode, v.message]),
    [
      ['WSG_WS_FRAME_TOO_LARGE', 1009, 'frame payload is 11 bytes; the limit is 10'],
      ['WSG_WS_FRAME_TOO_LARGE', 1009, 'frame payload is 11 bytes; the limit is 10'],
    ],
  );
  assert.equal(decoder.stopped, false);
  assert.deepEqual(ends, [big.length, big.length + small.length, 2 * big.length + small.length]);
});

test('stopOnLimit false: message size and fragment count are reported once per message', () => {
  const frag = (opcode: number, fin: boolean) => encodeFrame({ opcode, fin, payload: Buffer.alloc(4), maskKey: KEY });
  const message = (n: number) =>
    Buffer.concat(
      Array.from({ length: n }, (_, i) => frag(i === 0 ? OPCODE.BINARY : OPCODE.CONTINUATION, i === n - 1)),
    );
  const bySize = violations({ maxMessageBytes: 10 });
  bySize.decoder.push(Buffer.concat([message(5), message(2), message(4)]));
  assert.deepEqual(
    bySize.found.map((v) => v.message),
    ['message reached 12 bytes; the limit is 10', 'message reached 12 bytes; the limit is 10'],
  );
  assert.deepEqual(bySize.messages, [20, 8, 16], 'every message still ends');

  const byCount = violations({ maxFragments: 3 });
  byCount.decoder.push(Buffer.concat([message(6), message(3), message(4)]));
  assert.deepEqual(
    byCount.found.map((v) => [v.code, v.closeCode]),
    [
      ['WSG_WS_TOO_MANY_FRAGMENTS', 1008],
      ['WSG_WS_TOO_MANY_FRAGMENTS', 1008],
    ],
  );
  assert.deepEqual(byCount.messages, [24, 12, 16]);
});

test('by default a limit stops the decoder, as a relay needs', () => {
  const found: Violation[] = [];
  const decoder = new FrameDecoder(
    { expectMasked: true, allowRsv1: false, maxFragments: 1 },
    { onFrameHeader: () => {}, onFrameEnd: () => {}, onViolation: (v) => found.push(v) },
  );
  decoder.push(
    Buffer.concat([
      encodeFrame({ opcode: OPCODE.TEXT, fin: false, payload: 'a', maskKey: KEY }),
      encodeFrame({ opcode: OPCODE.CONTINUATION, payload: 'b', maskKey: KEY }),
    ]),
  );
  assert.deepEqual(
    found.map((v) => v.code),
    ['WSG_WS_TOO_MANY_FRAGMENTS'],
  );
  assert.equal(decoder.stopped, true);
});
