// The frame encoder against RFC 6455 §5.7's examples and ws's Sender.frame, and the frames it must refuse.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeClose, encodeFrame, encodeFrameHeader } from '../../../src/websocket/encoder.ts';
import { OPCODE } from '../../../src/websocket/frame.ts';
import { fromHex, hex, Sender } from './codec-helpers.ts';

const KEY = '37fa213d';

describe('encodeFrame', () => {
  test('golden encodings (§5.7)', () => {
    assert.equal(hex(encodeFrame({ opcode: OPCODE.TEXT, payload: 'Hello' })), '810548656c6c6f');
    assert.equal(
      hex(encodeFrame({ opcode: OPCODE.TEXT, payload: 'Hello', maskKey: fromHex(KEY) })),
      '818537fa213d7f9f4d5158',
    );
    assert.equal(hex(encodeFrame({ opcode: OPCODE.TEXT, fin: false, payload: 'Hel' })), '010348656c');
    assert.equal(hex(encodeFrame({ opcode: OPCODE.CONTINUATION, payload: 'lo' })), '80026c6f');
    assert.equal(hex(encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(256) }).subarray(0, 4)), '827e0100');
    assert.equal(
      hex(encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(65536) }).subarray(0, 10)),
      '827f0000000000010000',
    );
    assert.equal(hex(encodeFrame({ opcode: OPCODE.TEXT, rsv1: true, payload: 'x' })), 'c10178');
    assert.equal(hex(encodeClose(1000, 'bye')), '880503e8627965');
    assert.equal(hex(encodeClose()), '8800');
  });

  test('length forms at the boundaries match ws Sender.frame, masked and unmasked', () => {
    const key = fromHex('01020304');
    for (const len of [0, 1, 125, 126, 127, 65535, 65536, 65537]) {
      const payload = Buffer.alloc(len);
      for (let i = 0; i < len; i++) payload[i] = i & 0xff;
      for (const masked of [false, true]) {
        const ours = encodeFrame({ opcode: OPCODE.BINARY, payload, maskKey: masked ? key : undefined });
        const theirs = Buffer.concat(
          Sender.frame(Buffer.from(payload), {
            fin: true,
            opcode: OPCODE.BINARY,
            mask: masked,
            readOnly: false,
            generateMask: (m) => m.set(key),
          }),
        );
        assert.equal(hex(ours), hex(theirs), `len ${len} masked ${masked}`);
      }
    }
  });

  test('encodeFrameHeader equals the head of encodeFrame', () => {
    for (const len of [5, 300, 70000]) {
      const full = encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(len), maskKey: fromHex(KEY) });
      const head = encodeFrameHeader({ opcode: OPCODE.BINARY, payloadLength: len, maskKey: fromHex(KEY) });
      assert.deepEqual(head, full.subarray(0, head.length));
    }
  });

  test('does not modify the payload it masks', () => {
    const payload = Buffer.from('Hello');
    encodeFrame({ opcode: OPCODE.TEXT, payload, maskKey: fromHex(KEY) });
    assert.equal(payload.toString(), 'Hello');
  });

  test('refuses frames that may not be sent', () => {
    assert.throws(() => encodeFrame({ opcode: 3 }), RangeError);
    assert.throws(() => encodeFrame({ opcode: 0xb }), RangeError);
    assert.throws(() => encodeFrame({ opcode: OPCODE.PING, payload: Buffer.alloc(126) }), RangeError);
    assert.throws(() => encodeFrame({ opcode: OPCODE.PING, fin: false }), RangeError);
    assert.throws(() => encodeFrame({ opcode: OPCODE.PONG, rsv1: true }), RangeError);
    assert.throws(() => encodeFrame({ opcode: OPCODE.TEXT, maskKey: new Uint8Array(3) }), RangeError);
    assert.throws(() => encodeClose(1005), RangeError);
    assert.throws(() => encodeClose(1000, 'x'.repeat(124)), RangeError);
    assert.throws(() => encodeClose(undefined, 'reason'), RangeError);
    assert.equal(encodeClose(1000, 'x'.repeat(123)).length, 2 + 125);
  });
});
