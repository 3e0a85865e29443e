import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { FrameDecoderOptions } from '../../../src/websocket/decoder.ts';
import { cutAt, decode, decodeChunks, hex, planArbitrary } from './codec-helpers.ts';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

// Cut points as fractions of the length, so they apply to any stream; plus fixed-size chunking like TCP reads.
const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

describe('FrameDecoder properties', () => {
  test('random valid streams, cut anywhere, decode to the frames and messages that were encoded', () => {
    fc.assert(
      fc.property(planArbitrary, cuts, fc.integer({ min: 1, max: 70000 }), (plan, fractions, chunkSize) => {
        const options: FrameDecoderOptions = { expectMasked: plan.masked, allowRsv1: false };
        const wireHash = sha256(plan.wire);
        const payloadHashes = plan.frames.map((f) => sha256(f.payload));
        const offsets = fractions.map((x) => Math.floor(x * plan.wire.length));
        const fixed: Uint8Array[] = [];
        for (let i = 0; i < plan.wire.length; i += chunkSize) fixed.push(plan.wire.subarray(i, i + chunkSize));

        const whole = decode(options, plan.wire);
        assert.deepEqual(decodeChunks(options, cutAt(plan.wire, offsets)), whole, 'random cuts');
        assert.deepEqual(decodeChunks(options, fixed), whole, `chunks of ${chunkSize}`);

        assert.deepEqual(
          whole.filter((e) => e.type === 'violation'),
          [],
        );
        assert.deepEqual(
          whole.flatMap((e) => (e.type === 'frameEnd' ? [[e.opcode, e.fin, e.data]] : [])),
          plan.frames.map((f) => [f.opcode, f.fin, hex(f.payload)]),
        );
        assert.deepEqual(
          whole.flatMap((e) => (e.type === 'header' ? [[e.header.masked, e.header.maskKey]] : [])),
          plan.frames.map((f) => [plan.masked, f.maskKey === undefined ? undefined : hex(f.maskKey)]),
        );
        assert.deepEqual(
          whole.flatMap((e) => (e.type === 'messageEnd' ? [[e.opcode, e.fragments, e.size]] : [])),
          plan.messages.map((m) => [m.opcode, m.fragments, m.data.length]),
        );
        assert.deepEqual(
          whole.flatMap((e) => (e.type === 'control' ? [[e.opcode, e.payload]] : [])),
          plan.frames.filter((f) => f.opcode >= 8).map((f) => [f.opcode, hex(f.payload)]),
        );
        assert.equal(sha256(plan.wire), wireHash, 'input unchanged');
        assert.deepEqual(
          plan.frames.map((f) => sha256(f.payload)),
          payloadHashes,
          'encoder left its inputs alone',
        );
      }),
      { numRuns: 300 },
    );
  });

  test('arbitrary bytes: never throws, and events do not depend on how the input is cut', () => {
    const options = fc.record({
      expectMasked: fc.boolean(),
      allowRsv1: fc.boolean(),
      maxFrameBytes: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
      maxMessageBytes: fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined }),
      maxFragments: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
    });
    // Frame-shaped segments with random first bytes (any opcode, RSV bits, FIN), masked or not, in all three
    // length forms, some lying about their length, mixed with raw garbage: runs get through many frames.
    const b0 = fc.oneof(
      fc.integer({ min: 0, max: 255 }),
      fc.constantFrom(0x01, 0x00, 0x80, 0x81, 0x82, 0x88, 0x89, 0x8a),
    );
    const segment = fc.oneof(
      {
        weight: 6,
        arbitrary: fc
          .record({
            b0,
            masked: fc.boolean(),
            form: fc.constantFrom(7, 7, 7, 16, 64),
            key: fc.uint8Array({ minLength: 4, maxLength: 4 }),
            payload: fc.oneof(fc.uint8Array({ maxLength: 30 }), fc.constant(Uint8Array.from([0x03, 0xe8, 0xc0, 0xaf]))),
            lie: fc.oneof(
              { weight: 9, arbitrary: fc.constant(0) },
              { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }) },
            ),
          })
          .map(({ b0, masked, form, key, payload, lie }) => {
            const len = Math.max(0, payload.length + lie);
            const m = masked ? 0x80 : 0;
            const head =
              form === 7
                ? [b0, m | Math.min(len, 125)]
                : form === 16
                  ? [b0, m | 126, len >>> 8, len & 0xff]
                  : [b0, m | 127, 0, 0, 0, 0, 0, 0, len >>> 8, len & 0xff];
            return [...head, ...(masked ? key : []), ...payload];
          }),
      },
      { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 12 }) },
    );
    const stream = fc.array(segment, { maxLength: 30 }).map((segs) => segs.flat());
    fc.assert(
      fc.property(options, stream, cuts, (opts, arr, fractions) => {
        const input = Uint8Array.from(arr);
        const before = hex(input);
        const whole = decode(opts, input);
        const offsets = fractions.map((x) => Math.floor(x * input.length));
        assert.deepEqual(decodeChunks(opts, cutAt(input, offsets)), whole);
        assert.deepEqual(
          decodeChunks(
            opts,
            Array.from(input, (_, i) => input.subarray(i, i + 1)),
          ),
          whole,
        );
        assert.equal(hex(input), before);
      }),
      { numRuns: 2000 },
    );
  });
});
