// Micro-benchmark of the frame codec: FrameDecoder throughput over 64 KiB chunks (the size Node reads from a
// socket), for small and large frames, masked (client→server) and unmasked (server→client), with ws's Receiver as
// the reference. Numbers from one run on a shared machine are noisy: compare ratios.
//
//   node scripts/bench/codec.ts [seconds per case, default 1]

import { createRequire } from 'node:module';
import { FrameDecoder, type FrameHandler } from '../../src/websocket/decoder.ts';
import { encodeFrame } from '../../src/websocket/encoder.ts';
import { OPCODE } from '../../src/websocket/frame.ts';
import { unmaskInto } from '../../src/websocket/mask.ts';

type WsReceiver = { on(event: string, cb: (...args: unknown[]) => void): void; write(chunk: Buffer): boolean };
const require = createRequire(import.meta.url);
const { Receiver } = require('ws') as {
  Receiver: new (options: { isServer: boolean; maxPayload: number; skipUTF8Validation?: boolean }) => WsReceiver;
};

const CHUNK = 64 * 1024;
const STREAM_BYTES = 8 * 1024 * 1024;
const seconds = Number(process.argv[2] ?? 1);
const MAX_ROUNDS = 10_000;

type Case = { name: string; frameBytes: number; masked: boolean; opcode: number };

const CASES: Case[] = [
  { name: '64 B binary, unmasked (s→c)', frameBytes: 64, masked: false, opcode: OPCODE.BINARY },
  { name: '64 B binary, masked (c→s)', frameBytes: 64, masked: true, opcode: OPCODE.BINARY },
  { name: '1 MiB binary, unmasked (s→c)', frameBytes: 1 << 20, masked: false, opcode: OPCODE.BINARY },
  { name: '1 MiB binary, masked (c→s)', frameBytes: 1 << 20, masked: true, opcode: OPCODE.BINARY },
  { name: '64 B text, unmasked (s→c)', frameBytes: 64, masked: false, opcode: OPCODE.TEXT },
  { name: '64 B text, masked (c→s)', frameBytes: 64, masked: true, opcode: OPCODE.TEXT },
  { name: '1 MiB text, unmasked (s→c)', frameBytes: 1 << 20, masked: false, opcode: OPCODE.TEXT },
  { name: '1 MiB text, masked (c→s)', frameBytes: 1 << 20, masked: true, opcode: OPCODE.TEXT },
];

function buildStream(c: Case): { chunks: Buffer[]; frames: number } {
  const payload = Buffer.alloc(c.frameBytes);
  for (let i = 0; i < payload.length; i++) payload[i] = 0x20 + (i % 90); // printable ASCII: valid text
  const key = Uint8Array.from([0x37, 0xfa, 0x21, 0x3d]);
  const frame = encodeFrame({ opcode: c.opcode, payload, maskKey: c.masked ? key : undefined });
  const frames = Math.max(1, Math.floor(STREAM_BYTES / frame.length));
  const stream = Buffer.concat(Array.from({ length: frames }, () => frame));
  // Copy each chunk into its own buffer, as socket reads arrive.
  const chunks: Buffer[] = [];
  for (let i = 0; i < stream.length; i += CHUNK) chunks.push(Buffer.from(stream.subarray(i, i + CHUNK)));
  return { chunks, frames };
}

function run(label: string, chunks: Buffer[], framesPerRound: number, push: (chunk: Buffer) => void): string {
  const bytesPerRound = chunks.reduce((n, c) => n + c.length, 0);
  // Warm up (JIT) before timing.
  for (const chunk of chunks) push(chunk);
  let rounds = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < seconds * 1000 && rounds < MAX_ROUNDS) {
    for (const chunk of chunks) push(chunk);
    rounds++;
    elapsed = performance.now() - start;
  }
  const mbps = (bytesPerRound * rounds) / (elapsed / 1000) / 1e6;
  const fps = (framesPerRound * rounds) / (elapsed / 1000);
  const nsPerChunk = (elapsed * 1e6) / (chunks.length * rounds);
  return (
    `  ${label.padEnd(34)} ${mbps.toFixed(0).padStart(8)} MB/s ${(fps / 1e6).toFixed(3).padStart(8)} M frames/s` +
    ` ${nsPerChunk.toFixed(0).padStart(7)} ns/chunk`
  );
}

const counting = (preview: boolean): FrameHandler & { frames: number } => {
  const previewBuf = new Uint8Array(64);
  let key: Uint8Array | undefined;
  return {
    frames: 0,
    onFrameHeader(h) {
      key = h.maskKey;
    },
    onPayload: preview
      ? (slice, offset) => {
          // What a tap with payload previews does: unmask the first bytes, leave the chunk alone.
          if (offset < previewBuf.length && key !== undefined) unmaskInto(previewBuf, slice, key, offset, offset);
        }
      : undefined,
    onFrameEnd() {
      this.frames++;
    },
    onViolation(v) {
      throw new Error(v.message);
    },
  };
};

console.log(`codec bench: ${CHUNK / 1024} KiB chunks, ~${STREAM_BYTES >> 20} MiB per round, ${seconds}s per line`);
for (const c of CASES) {
  const { chunks, frames } = buildStream(c);
  console.log(c.name);
  const opts = { expectMasked: c.masked, allowRsv1: false };
  const meta = new FrameDecoder(opts, counting(false));
  console.log(run('FrameDecoder, headers only', chunks, frames, (b) => meta.push(b)));
  const withPayload = new FrameDecoder(opts, counting(true));
  console.log(run('FrameDecoder, onPayload + preview', chunks, frames, (b) => withPayload.push(b)));
  let received = 0;
  const receiver = new Receiver({ isServer: c.masked, maxPayload: 0 });
  receiver.on('message', () => {
    received++;
  });
  receiver.on('error', (err) => {
    throw err;
  });
  // ws unmasks in place, so a tap must hand it a copy of what it forwards; unmasked chunks go as they are.
  console.log(
    run(`ws Receiver${c.masked ? ' (with the copy)' : ''}`, chunks, frames, (b) =>
      receiver.write(c.masked ? Buffer.from(b) : b),
    ),
  );
  if (received === 0) throw new Error('ws received nothing');
}
