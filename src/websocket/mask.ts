// Masking (RFC 6455 §5.3): XOR of a payload with a 4-byte key, which masks and unmasks alike. The decoder unmasks
// control payloads and text it validates, the observer unmasks previews, the encoder masks client frames; all of
// them go through unmaskRange, which works four bytes at a time where the alignment allows.
// Pure: no sockets, timers or file system.

// A 4-byte view on one word, for building the mask word in the platform's byte order.
const wordBytes = new Uint8Array(4);
const wordView = new Uint32Array(wordBytes.buffer);

// Below this many bytes, word views cost more than they save.
const WORD_MIN = 128;

/**
 * Unmasks src[srcStart, srcStart + n) into dst at dstOffset (RFC 6455 §5.3: byte i of the payload is XORed with
 * key[i mod 4]); `maskOffset` is the position of src[srcStart] in the frame's payload. Four bytes at a time where
 * possible (a misaligned source is copied first, then XORed in place). Also masks (XOR is its own inverse).
 * dst must not overlap src unless it is the very same range (in-place).
 */
export function unmaskRange(
  dst: Uint8Array,
  dstOffset: number,
  src: Uint8Array,
  srcStart: number,
  n: number,
  maskKey: Uint8Array,
  maskOffset: number,
): void {
  let i = 0;
  let d = dstOffset;
  let s = srcStart;
  let from = src;
  if (n >= WORD_MIN) {
    if (((src.byteOffset + s - (dst.byteOffset + d)) & 3) !== 0) {
      // Different alignments: a byte loop runs at a fifth of the word loop's speed, so copy first (memcpy)
      // and XOR the destination in place, where source and destination are trivially co-aligned.
      dst.set(new Uint8Array(src.buffer, src.byteOffset + s, n), d);
      from = dst;
      s = d;
    }
    while (((from.byteOffset + s) & 3) !== 0) {
      dst[d++] = from[s++]! ^ maskKey[(maskOffset + i++) & 3]!;
    }
    const words = (n - i) >>> 2;
    const k = maskOffset + i;
    wordBytes[0] = maskKey[k & 3]!;
    wordBytes[1] = maskKey[(k + 1) & 3]!;
    wordBytes[2] = maskKey[(k + 2) & 3]!;
    wordBytes[3] = maskKey[(k + 3) & 3]!;
    const m = wordView[0]!;
    const s32 = new Uint32Array(from.buffer, from.byteOffset + s, words);
    const d32 = new Uint32Array(dst.buffer, dst.byteOffset + d, words);
    for (let w = 0; w < words; w++) d32[w] = s32[w]! ^ m;
    const done = words << 2;
    i += done;
    s += done;
    d += done;
  }
  // The rest, unrolled by four with the key bytes in registers.
  const k = maskOffset + i;
  const m0 = maskKey[k & 3]!;
  const m1 = maskKey[(k + 1) & 3]!;
  const m2 = maskKey[(k + 2) & 3]!;
  const m3 = maskKey[(k + 3) & 3]!;
  const end = s + (n - i);
  const end4 = end - ((n - i) & 3);
  while (s < end4) {
    dst[d] = from[s]! ^ m0;
    dst[d + 1] = from[s + 1]! ^ m1;
    dst[d + 2] = from[s + 2]! ^ m2;
    dst[d + 3] = from[s + 3]! ^ m3;
    s += 4;
    d += 4;
  }
  if (s < end) dst[d++] = from[s++]! ^ m0;
  if (s < end) dst[d++] = from[s++]! ^ m1;
  if (s < end) dst[d] = from[s]! ^ m2;
}

/**
 * Unmasks `src` — a piece of a masked payload that starts `offsetInFrame` bytes into the frame — into dst from
 * dstOffset, e.g. to preview a payload the proxy is forwarding untouched. Writes as much as fits and returns the
 * number of bytes written.
 */
export function unmaskInto(
  dst: Uint8Array,
  src: Uint8Array,
  maskKey: Uint8Array,
  offsetInFrame: number,
  dstOffset = 0,
): number {
  const n = Math.max(0, Math.min(src.length, dst.length - dstOffset));
  unmaskRange(dst, dstOffset, src, 0, n, maskKey, offsetInFrame);
  return n;
}
