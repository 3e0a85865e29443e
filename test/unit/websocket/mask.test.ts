// Masking (RFC 6455 §5.3) against a byte-by-byte XOR, at every alignment the word loop has to handle.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { unmaskInto, unmaskRange } from '../../../src/websocket/mask.ts';
import { fromHex } from './codec-helpers.ts';

const KEY = '37fa213d';

describe('unmaskInto', () => {
  test('matches a byte-by-byte XOR for every length, offset and alignment', () => {
    const key = fromHex('a1b2c3d4');
    const backing = Buffer.alloc(1100);
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 37 + 11) & 0xff;
    const dstBacking = new Uint8Array(1100);
    for (const len of [0, 1, 3, 4, 5, 63, 64, 65, 100, 127, 128, 129, 130, 131, 257, 1000]) {
      for (let srcAt = 0; srcAt < 4; srcAt++) {
        for (let dstAt = 0; dstAt < 4; dstAt++) {
          for (let frameOffset = 0; frameOffset < 5; frameOffset++) {
            const src = backing.subarray(srcAt, srcAt + len);
            const dst = dstBacking.subarray(dstAt, dstAt + len);
            dst.fill(0);
            assert.equal(unmaskInto(dst, src, key, frameOffset), len);
            for (let i = 0; i < len; i++) {
              assert.equal(dst[i], src[i]! ^ key[(frameOffset + i) & 3]!, `len ${len} i ${i}`);
            }
          }
        }
      }
    }
  });

  test('writes only what fits, from dstOffset, and never touches src', () => {
    const key = fromHex(KEY);
    const src = fromHex('7f9f4d5158');
    const before = Buffer.from(src);
    const preview = Buffer.alloc(4);
    assert.equal(unmaskInto(preview, src, key, 0, 1), 3);
    assert.equal(preview.toString('latin1', 1), 'Hel');
    assert.deepEqual(src, before);
  });

  test('unmaskRange unmasks the same piece however a payload is cut', () => {
    const key = fromHex(KEY);
    const masked = fromHex('7f9f4d5158');
    const out = Buffer.alloc(5);
    unmaskRange(out, 0, masked, 0, 2, key, 0);
    unmaskRange(out, 2, masked, 2, 3, key, 2);
    assert.equal(out.toString(), 'Hello');
  });
});
