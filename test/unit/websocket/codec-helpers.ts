// Shared by the codec tests: a recording FrameHandler that turns decoder callbacks into plain comparable events,
// feeders that split input in different ways, and `ws` as an oracle (its Receiver/Sender are not in @types/ws).

import { createRequire } from 'node:module';
import fc from 'fast-check';
import { FrameDecoder, type FrameDecoderOptions, type FrameHandler } from '../../../src/websocket/decoder.ts';
import { encodeFrame } from '../../../src/websocket/encoder.ts';
import type { FrameHeader, MessageInfo } from '../../../src/websocket/frame.ts';
import { unmaskInto } from '../../../src/websocket/mask.ts';
import type { Violation } from '../../../src/websocket/violation.ts';

export type HeaderEvent = {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  maskKey: string | undefined;
  payloadLength: number;
  headerLength: number;
};

export type Event =
  | { type: 'header'; header: HeaderEvent }
  | { type: 'violation'; code: string; rule: string; closeCode: number; fatal: boolean; message: string }
  // `raw` is the payload as it was on the wire, `data` unmasked; pieces of one frame are joined.
  | { type: 'frameEnd'; opcode: number; fin: boolean; raw: string; data: string }
  | { type: 'control'; opcode: number; payload: string }
  | { type: 'messageEnd'; opcode: number; fragments: number; size: number; compressed: boolean };

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
export const fromHex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function snapshot(h: Readonly<FrameHeader>): HeaderEvent {
  return {
    fin: h.fin,
    rsv1: h.rsv1,
    rsv2: h.rsv2,
    rsv3: h.rsv3,
    opcode: h.opcode,
    masked: h.masked,
    maskKey: h.maskKey === undefined ? undefined : hex(h.maskKey),
    payloadLength: h.payloadLength,
    headerLength: h.headerLength,
  };
}

/** Records events; checks on the way that payload pieces are contiguous and stay within the frame. */
export class Recorder implements FrameHandler {
  events: Event[] = [];
  #raw: Buffer[] = [];
  #data: Buffer[] = [];
  #expectedOffset = 0;
  #header: Readonly<FrameHeader> | undefined;

  onFrameHeader(h: Readonly<FrameHeader>): void {
    this.#header = h;
    this.#raw = [];
    this.#data = [];
    this.#expectedOffset = 0;
    this.events.push({ type: 'header', header: snapshot(h) });
  }

  onPayload(slice: Uint8Array, offsetInFrame: number): void {
    const h = this.#header;
    if (h === undefined) throw new Error('payload before any header');
    if (offsetInFrame !== this.#expectedOffset)
      throw new Error(`offset ${offsetInFrame}, expected ${this.#expectedOffset}`);
    if (slice.length === 0) throw new Error('empty payload piece');
    this.#expectedOffset += slice.length;
    if (this.#expectedOffset > h.payloadLength) throw new Error('payload beyond the frame');
    this.#raw.push(Buffer.from(slice));
    if (h.maskKey === undefined) {
      this.#data.push(Buffer.from(slice));
    } else {
      const out = Buffer.alloc(slice.length);
      unmaskInto(out, slice, h.maskKey, offsetInFrame);
      this.#data.push(out);
    }
  }

  onFrameEnd(h: Readonly<FrameHeader>): void {
    if (this.#expectedOffset !== h.payloadLength) throw new Error('frame ended early');
    this.events.push({
      type: 'frameEnd',
      opcode: h.opcode,
      fin: h.fin,
      raw: Buffer.concat(this.#raw).toString('hex'),
      data: Buffer.concat(this.#data).toString('hex'),
    });
  }

  onViolation(v: Violation): void {
    this.events.push({ type: 'violation', ...v });
  }

  onControl(h: Readonly<FrameHeader>, payload: Uint8Array): void {
    this.events.push({ type: 'control', opcode: h.opcode, payload: hex(payload) });
  }

  onMessageEnd(m: Readonly<MessageInfo>): void {
    this.events.push({ type: 'messageEnd', ...m });
  }

  violations(): string[] {
    return this.events.flatMap((e) => (e.type === 'violation' ? [e.code] : []));
  }

  frames(): Extract<Event, { type: 'frameEnd' }>[] {
    return this.events.flatMap((e) => (e.type === 'frameEnd' ? [e] : []));
  }
}

export const SERVER_TO_CLIENT: FrameDecoderOptions = { expectMasked: false, allowRsv1: false };
export const CLIENT_TO_SERVER: FrameDecoderOptions = { expectMasked: true, allowRsv1: false };

/** Decodes the chunks in order and returns the events. */
export function decodeChunks(options: FrameDecoderOptions, chunks: readonly Uint8Array[]): Event[] {
  const rec = new Recorder();
  const decoder = new FrameDecoder(options, rec);
  for (const c of chunks) decoder.push(c);
  return rec.events;
}

export function decode(options: FrameDecoderOptions, input: Uint8Array): Event[] {
  return decodeChunks(options, [input]);
}

// Above this size, cutting at every offset is quadratic (a 64 KiB vector would decode 4 GB): cut at every offset
// near both ends, where the header and the frame boundaries are, and at every 61st offset in between.
const EVERY_OFFSET_MAX = 4096;
const EDGE = 512;

/** Every way of feeding `input` that the golden tests try: whole, cut at each offset, one byte at a time. */
export function* splits(input: Uint8Array): Generator<{ name: string; chunks: Uint8Array[] }> {
  yield { name: 'whole', chunks: [input] };
  const n = input.length;
  for (let i = 1; i < n; i++) {
    if (n > EVERY_OFFSET_MAX && i > EDGE && i < n - EDGE && i % 61 !== 0) continue;
    yield { name: `cut at ${i}`, chunks: [input.subarray(0, i), input.subarray(i)] };
  }
  const bytes: Uint8Array[] = [];
  for (let i = 0; i < input.length; i++) bytes.push(input.subarray(i, i + 1));
  yield { name: 'byte by byte', chunks: bytes };
}

/** Cuts `input` at the given offsets (any order, duplicates and out-of-range ones ignored). */
export function cutAt(input: Uint8Array, offsets: readonly number[]): Uint8Array[] {
  const points = [...new Set(offsets.filter((o) => o > 0 && o < input.length))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    chunks.push(input.subarray(prev, p));
    prev = p;
  }
  chunks.push(input.subarray(prev));
  return chunks;
}

// --- ws as an oracle -----------------------------------------------------------------------------------------

type WsReceiver = {
  on(event: 'error', cb: (err: Error & { code?: string }) => void): void;
  on(event: 'conclude', cb: (code: number, reason: Buffer) => void): void;
  on(event: 'message', cb: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'ping' | 'pong', cb: (data: Buffer) => void): void;
  write(chunk: Buffer): boolean;
};
type WsReceiverClass = new (options: {
  isServer?: boolean;
  maxPayload?: number;
  extensions?: Record<string, unknown>;
}) => WsReceiver;
type WsSenderClass = {
  frame(
    data: Buffer,
    options: {
      fin?: boolean;
      rsv1?: boolean;
      opcode: number;
      mask?: boolean;
      readOnly?: boolean;
      generateMask?: (mask: Buffer) => void;
    },
  ): Buffer[];
};

const require = createRequire(import.meta.url);
const ws = require('ws') as { Receiver: WsReceiverClass; Sender: WsSenderClass };
export const { Receiver, Sender } = ws;

export type WsVerdict = { errorCode: string | undefined; closeCode: number | undefined; messages: number };

/** What ws's Receiver makes of `input` (fed a copy: it unmasks in place). */
export async function wsVerdict(input: Uint8Array, isServer: boolean, maxPayload?: number): Promise<WsVerdict> {
  const r = new Receiver({ isServer, maxPayload });
  const verdict: WsVerdict = { errorCode: undefined, closeCode: undefined, messages: 0 };
  r.on('error', (err) => {
    verdict.errorCode = err.code;
    const sym = Object.getOwnPropertySymbols(err).find((s) => s.description === 'status-code');
    verdict.closeCode = sym === undefined ? undefined : ((err as unknown as Record<symbol, number>)[sym] ?? undefined);
  });
  r.on('message', () => {
    verdict.messages++;
  });
  r.write(Buffer.from(input));
  await new Promise((resolve) => setImmediate(resolve));
  return verdict;
}

// --- random valid streams for property tests -----------------------------------------------------------------

export type PlannedFrame = { opcode: number; fin: boolean; payload: Uint8Array; maskKey: Uint8Array | undefined };
export type PlannedMessage = { opcode: number; data: Uint8Array; fragments: number };
export type Plan = { masked: boolean; frames: PlannedFrame[]; messages: PlannedMessage[]; wire: Buffer };

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff;
  return out;
}

// Lengths around the 7-bit / 16-bit / 64-bit length forms and the 125-byte control limit.
const dataLength = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 40 }) },
  { weight: 3, arbitrary: fc.constantFrom(124, 125, 126, 127, 128, 255, 256) },
  { weight: 1, arbitrary: fc.constantFrom(65534, 65535, 65536, 65537) },
);

const textPayload = fc
  .tuple(fc.string({ unit: 'binary', maxLength: 40 }), dataLength)
  .map(([s, pad]) => new Uint8Array(Buffer.concat([Buffer.from(s), Buffer.alloc(pad, 0x61)])));
const binaryPayload = fc.tuple(dataLength, fc.nat(255)).map(([n, seed]) => pattern(n, seed));

const controlFrame = fc.oneof(
  fc.record({
    opcode: fc.constantFrom(0x9, 0xa),
    payload: fc.oneof(fc.uint8Array({ maxLength: 125 }), fc.constant(new Uint8Array(125))),
  }),
  fc.record({
    opcode: fc.constant(0x8),
    payload: fc.oneof(
      fc.constant(new Uint8Array(0)),
      fc
        .tuple(
          fc.constantFrom(1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999),
          fc.string({ maxLength: 40 }),
        )
        .map(([code, reason]) => {
          const r = Buffer.from(reason).subarray(0, 100);
          // Keep the reason valid UTF-8 after the cut: drop a partial trailing code point.
          const text = r.toString('utf8').replace(/\ufffd+$/, '');
          return new Uint8Array(Buffer.concat([Buffer.from([code >>> 8, code & 0xff]), Buffer.from(text)]));
        }),
    ),
  }),
);

const dataMessage = fc
  .record({
    opcode: fc.constantFrom(0x1, 0x2),
    text: textPayload,
    binary: binaryPayload,
    cuts: fc.array(fc.nat(), { maxLength: 3 }),
    // Control frames after fragment i (only between fragments: the rest go between messages).
    controls: fc.array(fc.tuple(fc.nat(3), controlFrame), { maxLength: 2 }),
  })
  .map((m) => ({ ...m, data: m.opcode === 0x1 ? m.text : m.binary }));

const item = fc.oneof(
  { weight: 3, arbitrary: dataMessage.map((m) => ({ kind: 'message' as const, m })) },
  { weight: 1, arbitrary: controlFrame.map((c) => ({ kind: 'control' as const, c })) },
);

/** A random valid stream: data messages (fragmented at random, control frames between fragments) and controls. */
export const planArbitrary: fc.Arbitrary<Plan> = fc
  .record({
    masked: fc.boolean(),
    items: fc.array(item, { minLength: 1, maxLength: 6 }),
    keys: fc.array(fc.uint8Array({ minLength: 4, maxLength: 4 }), { minLength: 1, maxLength: 8 }),
  })
  .map(({ masked, items, keys }) => {
    const frames: PlannedFrame[] = [];
    const messages: PlannedMessage[] = [];
    let k = 0;
    const key = () => (masked ? keys[k++ % keys.length] : undefined);
    for (const it of items) {
      if (it.kind === 'control') {
        frames.push({ opcode: it.c.opcode, fin: true, payload: it.c.payload, maskKey: key() });
        continue;
      }
      const { opcode, data, cuts, controls } = it.m;
      const pieces = cutAt(
        data,
        cuts.map((c) => (data.length === 0 ? 0 : c % data.length)),
      );
      pieces.forEach((p, i) => {
        frames.push({ opcode: i === 0 ? opcode : 0, fin: i === pieces.length - 1, payload: p, maskKey: key() });
        if (i < pieces.length - 1) {
          for (const [after, c] of controls) {
            if (after % pieces.length === i) frames.push({ ...c, fin: true, maskKey: key() });
          }
        }
      });
      messages.push({ opcode, data, fragments: pieces.length });
    }
    const wire = Buffer.concat(frames.map((f) => encodeFrame(f)));
    return { masked, frames, messages, wire };
  });
