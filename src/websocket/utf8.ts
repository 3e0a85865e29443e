// Streaming UTF-8 validation for WebSocket text messages and close reasons.
//
// RFC 6455 §8.1: a text message whose payload is not valid UTF-8 fails the connection (close 1007), and the
// payload of one message may be split anywhere — across fragments (§5.4) and across TCP reads — so a code point
// can straddle two calls. The validator is a byte-class DFA in the style of Björn Höhrmann's decoder: the whole
// state is one small integer the caller keeps, so validating a message costs no allocation. Long runs go through
// node:buffer's native `isUtf8` (SIMD); only the incomplete tail of a run is walked by the DFA.
// Well-formed sequences are those of Unicode Table 3-7 (RFC 3629 §4): no overlongs (C0 AF, E0 80 80),
// no surrogates (ED A0 80), nothing above U+10FFFF (F4 90 80 80, F5..FF).

import { isUtf8 } from 'node:buffer';

/** Validator state: between code points. A message is valid iff it ends in this state. */
export const UTF8_ACCEPT = 0;
/** Validator state: an invalid sequence was seen. Sticky: every later byte keeps it. */
export const UTF8_REJECT = 12;

// Byte classes. Bytes of one class behave the same in every state.
const CLASS = new Uint8Array(256);
function setClass(from: number, to: number, cls: number): void {
  CLASS.fill(cls, from, to + 1);
}
setClass(0x00, 0x7f, 0); // ASCII
setClass(0x80, 0x8f, 1); // continuation, low quarter
setClass(0x90, 0x9f, 9); // continuation, second quarter
setClass(0xa0, 0xbf, 7); // continuation, upper half
setClass(0xc0, 0xc1, 8); // overlong 2-byte lead: never valid
setClass(0xc2, 0xdf, 2); // 2-byte lead
setClass(0xe0, 0xe0, 10); // 3-byte lead, next must be A0..BF (no overlong)
setClass(0xe1, 0xec, 3); // 3-byte lead
setClass(0xed, 0xed, 4); // 3-byte lead, next must be 80..9F (no surrogates)
setClass(0xee, 0xef, 3); // 3-byte lead
setClass(0xf0, 0xf0, 11); // 4-byte lead, next must be 90..BF (no overlong)
setClass(0xf1, 0xf3, 6); // 4-byte lead
setClass(0xf4, 0xf4, 5); // 4-byte lead, next must be 80..8F (≤ U+10FFFF)
setClass(0xf5, 0xff, 8); // would encode > U+10FFFF: never valid

// States are multiples of 12 so that `state + class` indexes the transition table directly.
const NEED_1 = 24; // one continuation byte (80..BF) left
const NEED_2 = 36; // two continuation bytes left
const AFTER_E0 = 48; // next must be A0..BF
const AFTER_ED = 60; // next must be 80..9F
const AFTER_F0 = 72; // next must be 90..BF, then two more
const NEED_3 = 84; // three continuation bytes left
const AFTER_F4 = 96; // next must be 80..8F, then two more

const TRANSITION = new Uint8Array(108).fill(UTF8_REJECT);
function on(state: number, classes: readonly number[], next: number): void {
  for (const c of classes) TRANSITION[state + c] = next;
}
const ANY_CONTINUATION = [1, 7, 9];
on(UTF8_ACCEPT, [0], UTF8_ACCEPT);
on(UTF8_ACCEPT, [2], NEED_1);
on(UTF8_ACCEPT, [3], NEED_2);
on(UTF8_ACCEPT, [10], AFTER_E0);
on(UTF8_ACCEPT, [4], AFTER_ED);
on(UTF8_ACCEPT, [11], AFTER_F0);
on(UTF8_ACCEPT, [6], NEED_3);
on(UTF8_ACCEPT, [5], AFTER_F4);
on(NEED_1, ANY_CONTINUATION, UTF8_ACCEPT);
on(NEED_2, ANY_CONTINUATION, NEED_1);
on(AFTER_E0, [7], NEED_1);
on(AFTER_ED, [1, 9], NEED_1);
on(AFTER_F0, [7, 9], NEED_2);
on(NEED_3, ANY_CONTINUATION, NEED_2);
on(AFTER_F4, [1], NEED_2);

// Below this many bytes the DFA is as fast as the native check and, unlike it, needs no view (no allocation).
const NATIVE_MIN = 128;

function stepDfa(state: number, bytes: Uint8Array, start: number, end: number): number {
  let s = state;
  let i = start;
  const end4 = end - ((end - start) & 3);
  while (i < end4) {
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1]!;
    const b2 = bytes[i + 2]!;
    const b3 = bytes[i + 3]!;
    i += 4;
    // Four ASCII bytes between code points (the common case): nothing to walk.
    if (s === UTF8_ACCEPT && ((b0 | b1 | b2 | b3) & 0x80) === 0) continue;
    s = TRANSITION[s + CLASS[b0]!]!;
    s = TRANSITION[s + CLASS[b1]!]!;
    s = TRANSITION[s + CLASS[b2]!]!;
    s = TRANSITION[s + CLASS[b3]!]!;
    if (s === UTF8_REJECT) return s;
  }
  while (i < end) s = TRANSITION[s + CLASS[bytes[i++]!]!]!;
  return s;
}

// Where the last, possibly unfinished, sequence of bytes[start, end) begins; `end` if the run ends on a boundary.
function tailStart(bytes: Uint8Array, start: number, end: number): number {
  const limit = Math.max(start, end - 4);
  for (let i = end - 1; i >= limit; i--) {
    const b = bytes[i]!;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: keep looking for its lead
    const size = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
    return i + size > end ? i : end;
  }
  // Four trailing continuation bytes (or a run shorter than its lead's sequence): let the native check judge.
  return end;
}

/**
 * Feeds bytes[start, end) to the validator and returns the new state. Start a message with UTF8_ACCEPT; the message
 * is valid iff the state after its last byte is UTF8_ACCEPT. UTF8_REJECT is sticky.
 */
export function validateUtf8Chunk(state: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  let s = state;
  let i = start;
  // Finish a code point left open by the previous call (at most 3 bytes).
  while (s !== UTF8_ACCEPT && s !== UTF8_REJECT && i < end) {
    s = TRANSITION[s + CLASS[bytes[i]!]!]!;
    i++;
  }
  if (s === UTF8_REJECT || i === end) return s;
  if (end - i < NATIVE_MIN) return stepDfa(s, bytes, i, end);
  const cut = tailStart(bytes, i, end);
  if (cut > i && !isUtf8(new Uint8Array(bytes.buffer, bytes.byteOffset + i, cut - i))) return UTF8_REJECT;
  return stepDfa(UTF8_ACCEPT, bytes, cut, end);
}

/**
 * Like validateUtf8Chunk for a masked payload piece (RFC 6455 §5.3): byte i is XORed with
 * maskKey[(maskOffset + i) & 3] on the fly, so small masked pieces need no unmasked copy.
 */
export function validateUtf8Masked(
  state: number,
  bytes: Uint8Array,
  start: number,
  end: number,
  maskKey: Uint8Array,
  maskOffset: number,
): number {
  let s = state;
  // Key bytes in registers, rotated so that m0 applies to bytes[start].
  const m0 = maskKey[maskOffset & 3]!;
  const m1 = maskKey[(maskOffset + 1) & 3]!;
  const m2 = maskKey[(maskOffset + 2) & 3]!;
  const m3 = maskKey[(maskOffset + 3) & 3]!;
  let i = start;
  const end4 = end - ((end - start) & 3);
  while (i < end4) {
    const b0 = bytes[i]! ^ m0;
    const b1 = bytes[i + 1]! ^ m1;
    const b2 = bytes[i + 2]! ^ m2;
    const b3 = bytes[i + 3]! ^ m3;
    i += 4;
    // Four ASCII bytes between code points: nothing to walk.
    if (s === UTF8_ACCEPT && ((b0 | b1 | b2 | b3) & 0x80) === 0) continue;
    s = TRANSITION[s + CLASS[b0]!]!;
    s = TRANSITION[s + CLASS[b1]!]!;
    s = TRANSITION[s + CLASS[b2]!]!;
    s = TRANSITION[s + CLASS[b3]!]!;
    if (s === UTF8_REJECT) return s;
  }
  if (i < end) s = TRANSITION[s + CLASS[bytes[i++]! ^ m0]!]!;
  if (i < end) s = TRANSITION[s + CLASS[bytes[i++]! ^ m1]!]!;
  if (i < end) s = TRANSITION[s + CLASS[bytes[i]! ^ m2]!]!;
  return s;
}

/** Whole-buffer check (close reasons, assembled messages). */
export function isValidUtf8(bytes: Uint8Array): boolean {
  return validateUtf8Chunk(UTF8_ACCEPT, bytes) === UTF8_ACCEPT;
}
