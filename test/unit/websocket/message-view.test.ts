// MessageAssembler without a copy: a large unmasked frame that arrives whole in one chunk becomes a view of that
// chunk; everything else (small, masked, split across chunks, fragmented) is copied, and the data is the same.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { FrameDecoder, type FrameDecoderOptions } from '../../../src/websocket/decoder.ts';
import { encodeFrame } from '../../../src/websocket/encoder.ts';
import { OPCODE } from '../../../src/websocket/frame.ts';
import { type Message, MessageAssembler } from '../../../src/websocket/message.ts';

function assemble(options: FrameDecoderOptions, chunks: readonly Buffer[]): Message[] {
  const messages: Message[] = [];
  const decoder = new FrameDecoder(
    options,
    new MessageAssembler(
      { maxMessageBytes: 1 << 20 },
      { onMessage: (m) => messages.push(m), onControl: () => {}, onViolation: (v) => assert.fail(v.message) },
    ),
  );
  for (const c of chunks) decoder.push(c);
  return messages;
}

const S2C: FrameDecoderOptions = { expectMasked: false, allowRsv1: false };
const C2S: FrameDecoderOptions = { expectMasked: true, allowRsv1: false };

test('a 64 KiB unmasked frame whole in one chunk is a view of the chunk, with the right bytes', () => {
  const payload = randomBytes(64 * 1024);
  const wire = encodeFrame({ opcode: OPCODE.BINARY, payload });
  const [m] = assemble(S2C, [wire]);
  assert.ok(m);
  assert.ok(m.data.equals(payload));
  wire.fill(0);
  assert.ok(
    m.data.every((b) => b === 0),
    'no copy: the data is the chunk',
  );
});

test('copied: a small frame, a masked frame, a frame split across chunks, a fragmented message', () => {
  const big = randomBytes(64 * 1024);
  const small = encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.from('tiny') });
  const [s] = assemble(S2C, [small]);
  small.fill(0);
  assert.equal(s!.data.toString(), 'tiny');

  const masked = encodeFrame({ opcode: OPCODE.BINARY, payload: big, maskKey: randomBytes(4) });
  const [mm] = assemble(C2S, [masked]);
  masked.fill(0);
  assert.ok(mm!.data.equals(big), 'unmasked, a copy');

  const wire = encodeFrame({ opcode: OPCODE.BINARY, payload: big });
  const [split] = assemble(S2C, [wire.subarray(0, 30_000), wire.subarray(30_000)]);
  wire.fill(0);
  assert.ok(split!.data.equals(big), 'a copy');

  const first = encodeFrame({ opcode: OPCODE.BINARY, fin: false, payload: big.subarray(0, 20_000) });
  const rest = encodeFrame({ opcode: OPCODE.CONTINUATION, payload: big.subarray(20_000) });
  const [frag] = assemble(S2C, [first, rest]);
  assert.ok(frag!.data.equals(big));
  assert.equal(frag!.fragments, 2);
});
