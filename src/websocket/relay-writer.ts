// The sending half of the relay toward one peer: encodes messages into frames (masked with a fresh key per frame
// toward the server, unmasked toward the client, RFC 6455 §5.3), splits data messages into fragments when a rule
// asks, compresses them when permessage-deflate is kept, and holds delayed messages in order: a message behind a
// delayed one waits for it, so a direction never reorders. What waits here counts toward limits.maxBufferedBytes
// like the socket's own buffer, so the relay stops reading the other peer while either is full.
import { randomFillSync } from 'node:crypto';
import type net from 'node:net';
import { encodeClosePayload } from './close.ts';
import { encodeFrame, encodeFrameHeader } from './encoder.ts';
import { OPCODE } from './frame.ts';
import { unmaskRange } from './mask.ts';
import type { DirectionDeflate } from './relay-deflate.ts';

export type DataType = 'text' | 'binary';

export type OutData = {
  type: DataType;
  data: Buffer;
  fragments?: number | undefined;
  delayMs?: number | undefined;
  /**
   * The writer may mask `data` in place toward the server (no copy): the caller owns it, sends it once, and nobody
   * reads it afterwards (the relay's own buffer for the message being judged).
   */
  owned?: boolean | undefined;
};

type Item = { frames: Buffer[]; bytes: number; releaseAt: number; end: boolean };

/** Unmasked payloads up to this size are copied beside their header into one buffer. */
const COPY_BELOW = 4096;

// Masking keys come from one random fill per 1024 frames: a syscall per frame would cost more than the frame.
const KEY_POOL_BYTES = 4096;
let keyPool = Buffer.alloc(0);
let keyAt = KEY_POOL_BYTES;
function freshMaskKey(): Uint8Array {
  if (keyAt + 4 > keyPool.length) {
    keyPool = randomFillSync(Buffer.allocUnsafe(KEY_POOL_BYTES));
    keyAt = 0;
  }
  keyAt += 4;
  return keyPool.subarray(keyAt - 4, keyAt);
}

/** Payload sizes of `n` fragments of `length` bytes: as even as possible, none empty unless the message is. */
export function fragmentSizes(length: number, n: number): number[] {
  const count = Math.max(1, Math.min(Math.floor(n), length));
  const base = Math.floor(length / count);
  const extra = length % count;
  return Array.from({ length: count }, (_, i) => base + (i < extra ? 1 : 0));
}

export type WriterOptions = {
  /** Toward the server: every frame masked. */
  masked: boolean;
  maxBufferedBytes: number;
  /** Compress data messages (permessage-deflate kept). */
  deflate?: DirectionDeflate | undefined;
  /** Called when room was made (a drain, or delayed messages left): the relay may resume a paused reader. */
  onRoom: () => void;
  /**
   * Connection faults (link-shaper.ts): frames go through this lane instead of straight to the socket. When it
   * answers false, `onLaneFull` pauses the reader; the lane resumes it once it has written enough.
   */
  lane?: { write(bytes: Uint8Array): boolean; end(): void } | undefined;
  onLaneFull?: (() => void) | undefined;
};

export class RelayWriter {
  #socket: net.Socket;
  #options: WriterOptions;
  #queue: Item[] = [];
  #queued = 0;
  #timer: NodeJS.Timeout | undefined;
  #closeSent = false;
  #ended = false;
  /** Bytes held for this peer elsewhere (the hold action's queue, relay-hold.ts): they count toward `full`. */
  #reserved = 0;

  constructor(socket: net.Socket, options: WriterOptions) {
    this.#socket = socket;
    this.#options = options;
    socket.on('drain', () => options.onRoom());
  }

  /** The socket's buffer and the delayed messages together are at or over limits.maxBufferedBytes. */
  get full(): boolean {
    return this.#socket.writableLength + this.#queued + this.#reserved >= this.#options.maxBufferedBytes;
  }

  /** Counts bytes held for this peer elsewhere toward `full`; a release (negative) makes room. */
  reserve(delta: number): void {
    this.#reserved = Math.max(0, this.#reserved + delta);
    if (delta < 0) this.#options.onRoom();
  }

  /** A Close went (or waits to go) to this peer: nothing more may follow it (RFC 6455 §5.5.1). */
  get closeSent(): boolean {
    return this.#closeSent;
  }

  /** Bytes held for delays. */
  get queued(): number {
    return this.#queued;
  }

  /** Queues a data message; false when a Close was already sent to this peer. */
  sendData(out: OutData): boolean {
    if (this.#closeSent) return false;
    const deflate = this.#options.deflate;
    const compressed = deflate !== undefined;
    const payload = compressed ? deflate.deflate(out.data) : out.data;
    const opcode = out.type === 'text' ? OPCODE.TEXT : OPCODE.BINARY;
    const frames: Buffer[] = [];
    if (out.fragments === undefined || out.fragments <= 1) {
      // The common case, one frame: no fragment plan. A compressed payload is the deflater's: always ours to mask.
      const inPlace = this.#options.masked && (compressed || out.owned === true) && payload.length > COPY_BELOW;
      if (inPlace) this.#maskedInPlace(frames, compressed, opcode, payload);
      else this.#frame(frames, { fin: true, rsv1: compressed, opcode, part: payload });
      this.#enqueue(frames, out.delayMs ?? 0, false);
      return true;
    }
    const sizes = fragmentSizes(payload.length, out.fragments);
    let at = 0;
    for (let i = 0; i < sizes.length; i++) {
      const size = sizes[i]!;
      const part = payload.subarray(at, at + size);
      at += size;
      this.#frame(frames, {
        fin: i === sizes.length - 1,
        rsv1: compressed && i === 0,
        opcode: i === 0 ? opcode : OPCODE.CONTINUATION,
        part,
      });
    }
    this.#enqueue(frames, out.delayMs ?? 0, false);
    return true;
  }

  /** Queues a ping or pong (≤ 125 bytes, never split); false after a Close. */
  sendControl(type: 'ping' | 'pong', payload: Uint8Array, delayMs = 0): boolean {
    if (this.#closeSent) return false;
    const frames: Buffer[] = [];
    this.#frame(frames, { fin: true, rsv1: false, opcode: type === 'ping' ? OPCODE.PING : OPCODE.PONG, part: payload });
    this.#enqueue(frames, delayMs, false);
    return true;
  }

  /**
   * Queues a Close (code undefined: an empty body; or a raw close body to pass a peer's on), after what is queued.
   * `end`: half-close the socket right after it (failing a connection, or the closing handshake is complete).
   */
  sendClose(body: { code?: number | undefined; reason?: string } | Uint8Array, end: boolean): boolean {
    if (this.#closeSent) {
      if (end) this.end();
      return false;
    }
    this.#closeSent = true;
    const payload = body instanceof Uint8Array ? body : encodeClosePayload(body.code, body.reason ?? '');
    const frames: Buffer[] = [];
    this.#frame(frames, { fin: true, rsv1: false, opcode: OPCODE.CLOSE, part: payload });
    this.#enqueue(frames, 0, end);
    return true;
  }

  /** Half-closes the socket once everything queued is written. */
  end(): void {
    if (this.#queue.length === 0) this.#finish();
    else this.#queue[this.#queue.length - 1]!.end = true;
  }

  /** Drops what waits (the connection is over). */
  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
    this.#queued = 0;
  }

  /** One final frame toward the server whose payload is masked where it lies and written beside its header. */
  #maskedInPlace(frames: Buffer[], rsv1: boolean, opcode: number, payload: Buffer): void {
    const maskKey = freshMaskKey();
    frames.push(encodeFrameHeader({ fin: true, rsv1, opcode, payloadLength: payload.length, maskKey }));
    unmaskRange(payload, 0, payload, 0, payload.length, maskKey, 0);
    frames.push(payload);
  }

  #frame(frames: Buffer[], f: { fin: boolean; rsv1: boolean; opcode: number; part: Uint8Array }): void {
    if (this.#options.masked) {
      frames.push(
        encodeFrame({ fin: f.fin, rsv1: f.rsv1, opcode: f.opcode, payload: f.part, maskKey: freshMaskKey() }),
      );
      return;
    }
    // Unmasked and small: one buffer, so the socket makes one write rather than a writev of two (for small
    // messages the writev costs more than the copy).
    if (f.part.length <= COPY_BELOW) {
      frames.push(encodeFrame({ fin: f.fin, rsv1: f.rsv1, opcode: f.opcode, payload: f.part }));
      return;
    }
    // Unmasked: the payload goes out as it is, beside its header, without a copy.
    frames.push(encodeFrameHeader({ fin: f.fin, rsv1: f.rsv1, opcode: f.opcode, payloadLength: f.part.length }));
    if (f.part.length > 0) frames.push(Buffer.from(f.part.buffer, f.part.byteOffset, f.part.length));
  }

  #enqueue(frames: Buffer[], delayMs: number, end: boolean): void {
    if (this.#queue.length === 0 && delayMs <= 0) {
      this.#write(frames);
      if (end) this.#finish();
      return;
    }
    let bytes = 0;
    for (const f of frames) bytes += f.length;
    this.#queue.push({ frames, bytes, releaseAt: performance.now() + Math.max(0, delayMs), end });
    this.#queued += bytes;
    if (this.#queue.length === 1) this.#release();
  }

  #release(): void {
    this.#timer = undefined;
    let released = false;
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      const wait = head.releaseAt - performance.now();
      if (wait > 0) {
        this.#timer = setTimeout(() => this.#release(), Math.ceil(wait));
        break;
      }
      this.#queue.shift();
      this.#queued -= head.bytes;
      released = true;
      this.#write(head.frames);
      if (head.end) this.#finish();
    }
    if (released) this.#options.onRoom();
  }

  #write(frames: Buffer[]): void {
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) return;
    const lane = this.#options.lane;
    if (lane !== undefined) {
      let ok = true;
      for (const f of frames) ok = lane.write(f) && ok;
      if (!ok) this.#options.onLaneFull?.();
      return;
    }
    if (frames.length === 1) {
      socket.write(frames[0]!);
      return;
    }
    socket.cork();
    for (const f of frames) socket.write(f);
    socket.uncork();
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#options.lane !== undefined) this.#options.lane.end();
    else if (!this.#socket.destroyed) this.#socket.end();
  }
}
