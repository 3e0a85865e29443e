// The send box's "Send binary (hex)": what it takes (spaces and colons between bytes, either case) and what its
// refusals say, which the inspector shows to the user as they are.
import assert from 'node:assert/strict';
import { test } from 'node:test';
// @ts-expect-error: browser code without type declarations.
import { hexToBytes } from '../../../src/inspector/ui/format.js';

test('hex digits with spaces or colons become bytes', () => {
  assert.deepEqual([...hexToBytes('de ad:BE ef')], [0xde, 0xad, 0xbe, 0xef]);
  assert.deepEqual([...hexToBytes('')], []);
});

test('a character that is not a hex digit is named, with its place; an odd count says so', () => {
  assert.throws(() => hexToBytes('0g'), { message: '"g" (character 2) is not a hex digit' });
  assert.throws(() => hexToBytes('zz'), { message: '"z" (character 1) is not a hex digit' });
  assert.throws(() => hexToBytes('abc'), { message: '3 hex digits: bytes need an even number' });
});
