import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { FrameDecoder, type FrameDecoderOptions } from '../../../src/websocket/decoder.ts';
import { encodeFrame } from '../../../src/websocket/encoder.ts';
import { type FrameHeader, OPCODE } from '../../../src/websocket/frame.ts';
import type { Message, MessageSink } from '../../../src/websocket/message.ts';
import { MessageAssembler } from '../../../src/websocket/message.ts';
import type { Violation } from '../../../src/websocket/violation.ts';
import { cutAt, fromHex, planArbitrary, Receiver } from './codec-helpers.ts';

class Sink implements MessageSink {
  messages: Message[] = [];
  controls: [number, string][] = [];
  violations: Violation[] = [];
  onMessage(m: Message): void {
    this.messages.push(m);
  }
  onControl(h: Readonly<FrameHeader>, payload: Uint8Array): void {
    this.controls.push([h.opcode, Buffer.from(payload).toString('hex')]);
  }
  onViolation(v: Violation): void {
    this.violations.push(v);
  }
}

function assemble(options: FrameDecoderOptions, chunks: readonly Uint8Array[], maxMessageBytes = 1 << 20): Sink {
  const sink = new Sink();
  const decoder = new FrameDecoder(options, new MessageAssembler({ maxMessageBytes }, sink));
  for (const c of chunks) decoder.push(c);
  return sink;
}

const C2S: FrameDecoderOptions = { expectMasked: true, allowRsv1: false };
const S2C: FrameDecoderOptions = { expectMasked: false, allowRsv1: false };

describe('MessageAssembler', () => {
  test('joins fragments, unmasks, and passes control frames between them', () => {
    const key = fromHex('37fa213d');
    const wire = Buffer.concat([
      encodeFrame({ opcode: OPCODE.TEXT, fin: false, payload: 'Hel', maskKey: key }),
      encodeFrame({ opcode: OPCODE.PING, payload: 'p', maskKey: key }),
      encodeFrame({ opcode: OPCODE.CONTINUATION, payload: 'lo', maskKey: key }),
      encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.from([1, 2, 3]), maskKey: key }),
    ]);
    for (let i = 1; i < wire.length; i++) {
      const sink = assemble(C2S, [wire.subarray(0, i), wire.subarray(i)]);
      assert.deepEqual(
        sink.messages.map((m) => [m.opcode, m.data.toString('hex'), m.fragments, m.compressed]),
        [
          [OPCODE.TEXT, Buffer.from('Hello').toString('hex'), 2, false],
          [OPCODE.BINARY, '010203', 1, false],
        ],
      );
      assert.deepEqual(sink.controls, [[OPCODE.PING, '70']]);
    }
  });

  test('keeps the compressed flag and bytes as they are', () => {
    const sink = assemble({ expectMasked: false, allowRsv1: true }, [fromHex('c1024a4b')]);
    assert.equal(sink.messages[0]?.compressed, true);
    assert.equal(sink.messages[0]?.data.toString('hex'), '4a4b');
  });

  test('refuses to buffer past maxMessageBytes, even when the decoder has no limit', () => {
    const wire = Buffer.concat([
      encodeFrame({ opcode: OPCODE.BINARY, fin: false, payload: Buffer.alloc(8) }),
      encodeFrame({ opcode: OPCODE.CONTINUATION, payload: Buffer.alloc(8) }),
      encodeFrame({ opcode: OPCODE.TEXT, payload: 'later' }),
    ]);
    const sink = assemble(S2C, [wire], 10);
    assert.deepEqual(
      sink.violations.map((v) => [v.code, v.closeCode]),
      [['WSG_WS_MESSAGE_TOO_LARGE', 1009]],
    );
    assert.deepEqual(sink.messages, []);
  });

  test('property: gives the same messages as ws Receiver on random valid streams', async () => {
    await fc.assert(
      fc.asyncProperty(planArbitrary, fc.array(fc.nat(), { maxLength: 6 }), async (plan, cuts) => {
        const chunks = cutAt(
          plan.wire,
          cuts.map((c) => c % (plan.wire.length + 1)),
        );
        const sink = assemble({ expectMasked: plan.masked, allowRsv1: false }, chunks);
        assert.deepEqual(sink.violations, []);
        assert.deepEqual(
          sink.messages.map((m) => [m.opcode, m.data.toString('hex'), m.fragments]),
          plan.messages.map((m) => [m.opcode, Buffer.from(m.data).toString('hex'), m.fragments]),
        );

        // ws stops at the first close frame, so compare the messages before it.
        const firstClose = plan.frames.findIndex((f) => f.opcode === OPCODE.CLOSE);
        const beforeClose = firstClose === -1 ? plan.frames : plan.frames.slice(0, firstClose);
        const expectedCount = beforeClose.filter(
          (f) => f.fin && f.opcode !== OPCODE.PING && f.opcode !== OPCODE.PONG,
        ).length;
        const received: string[] = [];
        const receiver = new Receiver({ isServer: plan.masked, maxPayload: 0 });
        let wsError: Error | undefined;
        receiver.on('message', (data) => received.push(Buffer.from(data).toString('hex')));
        receiver.on('error', (err) => {
          wsError = err;
        });
        let concluded = false;
        receiver.on('conclude', () => {
          concluded = true;
        });
        for (const c of chunks) if (!concluded) receiver.write(Buffer.from(c));
        await new Promise((resolve) => setImmediate(resolve));
        assert.equal(wsError, undefined);
        assert.deepEqual(
          received,
          sink.messages.slice(0, expectedCount).map((m) => m.data.toString('hex')),
        );
      }),
      { numRuns: 100 },
    );
  });
});
