// Forwards one direction of a tapped WebSocket only as far as the tap has judged it. When wsgate closes on
// violations (tap.onViolation: close), a frame that breaks a rule must not reach its receiver and wsgate's Close
// must land on a frame boundary, so each chunk is decoded before it is written, and a frame header that is not
// complete yet is held back until it is: only then can the tap say whether the frame may pass. A control frame is
// held whole (at most 139 bytes), because its verdict (a close body, one ping too many) comes with its last byte.
// In the common case (whole headers in a chunk) the chunk itself is written, with no copy.
import { MAX_CONTROL_PAYLOAD, MAX_HEADER_BYTES } from './frame.ts';

/** The most a gate holds: a whole control frame. */
const MAX_HELD = MAX_HEADER_BYTES + MAX_CONTROL_PAYLOAD;

/** Where forwarded bytes go: the receiver's socket. */
export type ByteSink = { write(bytes: Uint8Array): boolean };

export class ForwardGate {
  // Stream offsets count bytes since the connection's first frame byte in this direction.
  #forwarded = 0;
  // Stream bytes [#forwarded, #forwarded + #heldLength), decoded but not written yet.
  #held = new Uint8Array(MAX_HELD);
  #spare = new Uint8Array(MAX_HELD);
  #heldLength = 0;
  // Stream ranges [start, end) never to write, as flat pairs: pongs that answer wsgate's own keepalive pings.
  #skips: number[] = [];

  /** Stream offset up to which bytes have been written to the receiver. */
  get forwarded(): number {
    return this.#forwarded;
  }

  /** Leaves the stream bytes [start, end) out: they are passed over as if written (a whole frame, already held). */
  skip(start: number, end: number): void {
    this.#skips.push(start, end);
  }

  /** Records bytes up to `offset` as written by someone else (the frames that came with the 101). */
  skipTo(offset: number): void {
    this.#forwarded = offset;
    this.#heldLength = 0;
  }

  /**
   * Called once the decoder has read `chunk`, which ends at stream offset `chunkEnd`: writes the held bytes and
   * the chunk up to stream offset `upTo`, then keeps the rest when `hold` (a partial header or control frame) or
   * drops it (the direction stops here). Returns the last write's answer (true when nothing was written), for backpressure.
   */
  pass(chunk: Uint8Array, chunkEnd: number, upTo: number, to: ByteSink, hold: boolean): boolean {
    const chunkStart = chunkEnd - chunk.length;
    const from = this.#forwarded;
    // Holding more than a control frame cannot happen; if it ever did, forwarding everything beats losing bytes.
    const end = Math.max(hold && chunkEnd - upTo > MAX_HELD ? chunkEnd : upTo, from);
    let ok = true;
    if (this.#skips.length > 0) {
      ok = this.#passAround(chunk, chunkStart, from, end, to);
    } else if (end > from) {
      const fromHeld = Math.min(this.#heldLength, end - from);
      // A copy: the held buffer is reused, and the socket keeps what it is given until it is flushed.
      if (fromHeld > 0) ok = to.write(Buffer.from(this.#held.subarray(0, fromHeld)));
      if (end > chunkStart) {
        const n = end - chunkStart;
        ok = to.write(n === chunk.length ? chunk : chunk.subarray(0, n));
      }
    }
    const keep = chunkEnd - end;
    if (hold && keep > 0) {
      const spare = this.#spare;
      let n = 0;
      for (let i = end - from; i < this.#heldLength; i++) spare[n++] = this.#held[i]!;
      for (let i = Math.max(0, end - chunkStart); i < chunk.length; i++) spare[n++] = chunk[i]!;
      this.#spare = this.#held;
      this.#held = spare;
      this.#heldLength = n;
    } else {
      this.#heldLength = 0;
    }
    this.#forwarded = end;
    return ok;
  }

  // Writes stream bytes [from, end) but the skipped ranges; a skip not passed yet stays for the next call.
  #passAround(chunk: Uint8Array, chunkStart: number, from: number, end: number, to: ByteSink): boolean {
    let ok = true;
    let at = from;
    const left: number[] = [];
    const skips = this.#skips;
    for (let i = 0; i < skips.length; i += 2) {
      const start = Math.max(skips[i]!, at);
      const stop = skips[i + 1]!;
      if (start >= end) {
        left.push(skips[i]!, stop);
        continue;
      }
      if (start > at) ok = this.#writeRange(chunk, chunkStart, from, at, start, to);
      at = Math.max(at, Math.min(stop, end));
      if (stop > end) left.push(end, stop);
    }
    if (end > at) ok = this.#writeRange(chunk, chunkStart, from, at, end, to);
    this.#skips = left;
    return ok;
  }

  // Writes stream bytes [a, b): the held ones (stream offsets from `from`) and then the chunk's.
  #writeRange(chunk: Uint8Array, chunkStart: number, from: number, a: number, b: number, to: ByteSink): boolean {
    let ok = true;
    const heldEnd = from + this.#heldLength;
    if (a < heldEnd) ok = to.write(Buffer.from(this.#held.subarray(a - from, Math.min(b, heldEnd) - from)));
    if (b > chunkStart) {
      const s = Math.max(a, chunkStart) - chunkStart;
      const e = b - chunkStart;
      ok = to.write(s === 0 && e === chunk.length ? chunk : chunk.subarray(s, e));
    }
    return ok;
  }
}
