import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  isValidUtf8,
  UTF8_ACCEPT,
  UTF8_REJECT,
  validateUtf8Chunk,
  validateUtf8Masked,
} from '../../../src/websocket/utf8.ts';
import { cutAt, fromHex } from './codec-helpers.ts';

// Runs the streaming validator over chunks, as the decoder does over fragments and TCP reads.
function validateChunks(chunks: readonly Uint8Array[]): boolean {
  let state = UTF8_ACCEPT;
  for (const c of chunks) state = validateUtf8Chunk(state, c);
  return state === UTF8_ACCEPT;
}

function everySplit(bytes: Uint8Array): Uint8Array[][] {
  const ways: Uint8Array[][] = [[bytes]];
  for (let i = 1; i < bytes.length; i++) ways.push([bytes.subarray(0, i), bytes.subarray(i)]);
  ways.push(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)));
  return ways;
}

const VALID: [string, string][] = [
  ['empty', ''],
  ['ASCII', '48656c6c6f'],
  ['NUL', '00'],
  ['U+007F', '7f'],
  ['U+0080 (smallest 2-byte)', 'c280'],
  ['U+07FF', 'dfbf'],
  ['U+0800 (smallest 3-byte)', 'e0a080'],
  ['€ U+20AC', 'e282ac'],
  ['U+D7FF (below surrogates)', 'ed9fbf'],
  ['U+E000 (above surrogates)', 'ee8080'],
  ['U+FEFF BOM', 'efbbbf'],
  ['U+FFFF', 'efbfbf'],
  ['U+10000 (smallest 4-byte)', 'f0908080'],
  ['U+1F600 emoji', 'f09f9880'],
  ['U+10FFFF (largest)', 'f48fbfbf'],
  ['mixed', '48c3a9e282acf09f988021'],
  ['long ASCII then 4-byte (native path)', '41'.repeat(200) + 'f09f9880' + '42'.repeat(40)],
];

const INVALID: [string, string][] = [
  ['overlong / (C0 AF)', 'c0af'],
  ['overlong C1 BF', 'c1bf'],
  ['overlong 3-byte (E0 80 AF)', 'e080af'],
  ['overlong 4-byte (F0 80 80 AF)', 'f08080af'],
  ['surrogate U+D800 (ED A0 80)', 'eda080'],
  ['surrogate U+DFFF (ED BF BF)', 'edbfbf'],
  ['above U+10FFFF (F4 90 80 80)', 'f4908080'],
  ['F5 lead', 'f5808080'],
  ['FF byte', 'ff'],
  ['FE byte', 'fe'],
  ['lone continuation', '80'],
  ['continuation after ASCII', '4180'],
  ['truncated 2-byte', 'c3'],
  ['truncated 3-byte', 'e282'],
  ['truncated 4-byte', 'f09f98'],
  ['truncated then ASCII', 'e28241'],
  ['5 bytes of continuation after a 4-byte lead', 'f09f988080'],
  ['invalid at the end of a long run (native path)', '41'.repeat(200) + 'c0af'],
  ['invalid in the middle of a long run', '41'.repeat(100) + 'eda080' + '41'.repeat(100)],
  ['truncated at the end of a long run', '41'.repeat(200) + 'f09f98'],
];

describe('streaming UTF-8 validator', () => {
  for (const [name, h] of VALID) {
    test(`valid: ${name}, split anywhere`, () => {
      const bytes = fromHex(h);
      assert.equal(isUtf8(bytes), true, 'oracle agrees');
      for (const chunks of everySplit(bytes)) assert.equal(validateChunks(chunks), true);
      assert.equal(isValidUtf8(bytes), true);
    });
  }

  for (const [name, h] of INVALID) {
    test(`invalid: ${name}, split anywhere`, () => {
      const bytes = fromHex(h);
      assert.equal(isUtf8(bytes), false, 'oracle agrees');
      for (const chunks of everySplit(bytes)) assert.equal(validateChunks(chunks), false);
      assert.equal(isValidUtf8(bytes), false);
    });
  }

  test('reject is sticky', () => {
    const s = validateUtf8Chunk(UTF8_ACCEPT, fromHex('ff'));
    assert.equal(s, UTF8_REJECT);
    assert.equal(validateUtf8Chunk(s, fromHex('41'.repeat(64))), UTF8_REJECT);
  });

  test('start/end bound the range', () => {
    const bytes = fromHex('ff41e282acff');
    assert.equal(validateUtf8Chunk(UTF8_ACCEPT, bytes, 1, 5), UTF8_ACCEPT);
    assert.notEqual(validateUtf8Chunk(UTF8_ACCEPT, bytes, 1, 4), UTF8_ACCEPT);
  });

  test('property: agrees with node:buffer isUtf8 on random bytes cut anywhere', () => {
    const byte = fc.oneof(
      fc.integer({ min: 0, max: 0x7f }),
      fc.integer({ min: 0x80, max: 0xbf }),
      fc.integer({ min: 0xc0, max: 0xff }),
      fc.constantFrom(0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf),
    );
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 400 }), fc.array(fc.nat(400), { maxLength: 6 }), (arr, cuts) => {
        const bytes = Uint8Array.from(arr);
        assert.equal(validateChunks(cutAt(bytes, cuts)), isUtf8(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  test('property: the masked variant agrees on masked bytes, for any key, frame offset and cuts', () => {
    const byte = fc.oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0x80, max: 0xff }));
    fc.assert(
      fc.property(
        fc.array(byte, { maxLength: 300 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.nat(1000),
        fc.array(fc.nat(300), { maxLength: 6 }),
        (arr, key, frameOffset, cuts) => {
          const plain = Uint8Array.from(arr);
          const masked = plain.map((b, i) => b ^ key[(frameOffset + i) & 3]!);
          let state = UTF8_ACCEPT;
          let at = 0;
          for (const piece of cutAt(masked, cuts)) {
            // Pieces are validated in place inside the whole buffer, as the decoder does with a chunk.
            state = validateUtf8Masked(state, masked, at, at + piece.length, key, frameOffset + at);
            at += piece.length;
          }
          assert.equal(state === UTF8_ACCEPT, isUtf8(plain));
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('property: any string encodes to valid UTF-8 however it is cut', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 300 }),
        fc.array(fc.nat(1200), { maxLength: 8 }),
        (s, cuts) => {
          const bytes = Buffer.from(s);
          assert.equal(validateChunks(cutAt(bytes, cuts)), true);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
