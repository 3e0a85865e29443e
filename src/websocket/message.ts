// Whole-message assembly on top of FrameDecoder, for the terminating relay (RFC 6455 §5.4: a message is its
// frames' payloads concatenated in order; control frames may arrive between them). The passthrough tap does not
// use this: it never copies payloads.

import type { FrameHandler } from './decoder.ts';
import { type FrameHeader, OPCODE } from './frame.ts';
import { unmaskRange } from './mask.ts';
import { createViolation, type Violation } from './violation.ts';

/** A complete data message, unmasked. `data` is still compressed when `compressed` (RFC 7692 §6). */
export type Message = {
  readonly opcode: number;
  readonly data: Buffer;
  readonly compressed: boolean;
  readonly fragments: number;
};

export interface MessageSink {
  onMessage(m: Message): void;
  /** A control frame and its unmasked payload (≤ 125 bytes; parse close bodies with parseClosePayload). */
  onControl(h: Readonly<FrameHeader>, payload: Uint8Array): void;
  onViolation(v: Violation): void;
}

export type MessageAssemblerOptions = {
  /** Messages above this many bytes are not buffered: fatal-style WSG_WS_MESSAGE_TOO_LARGE, then nothing more. */
  maxMessageBytes: number;
  /**
   * false: every payload is copied, also a large unmasked frame that arrives whole (VIEW_MIN), for chunks that are
   * only lent for the call (websocket/pooled-reads.ts switchToBorrowedReads). Default true.
   */
  views?: boolean | undefined;
};

/**
 * An unmasked frame of at least this many bytes that arrives whole in one chunk is kept as a view of that chunk, not
 * copied: large messages from the server cost no fresh buffer (on loaded machines touching fresh pages is what a
 * 64 KiB copy costs most). Below it a copy is cheap (pooled), and a view would keep a whole read chunk alive for a
 * few bytes. Masked frames are always copied: the decoder still reads their masked bytes to validate text.
 */
const VIEW_MIN = 16 * 1024;

/**
 * A FrameHandler that buffers data messages (copying and unmasking each piece once) and hands them to a sink.
 * The chunks pushed into the decoder must not be changed afterwards (socket chunks are not): a large unmasked
 * frame's data may be a view of one.
 * Recovery follows the decoder's: a new TEXT/BINARY frame abandons an open message; a continuation without one
 * is ignored. Give the decoder the same maxMessageBytes so the limit is reported before the payload arrives; the
 * assembler checks it again so it can never buffer more than the limit on its own.
 */
export class MessageAssembler implements FrameHandler {
  #sink: MessageSink;
  #max: number;
  #viewMin: number;
  #stopped = false;
  #collecting = false;
  #inFrame = false;
  #maskKey = new Uint8Array(4);
  #masked = false;
  #opcode = 0;
  #compressed = false;
  #fragments = 0;
  #size = 0;
  #parts: Buffer[] = [];
  #frame: Buffer | undefined;
  /** The payload length of the frame being read; its buffer is made on its first piece. */
  #frameLength = 0;

  constructor(options: MessageAssemblerOptions, sink: MessageSink) {
    this.#max = options.maxMessageBytes;
    this.#viewMin = options.views === false ? Number.POSITIVE_INFINITY : VIEW_MIN;
    this.#sink = sink;
  }

  onFrameHeader(h: Readonly<FrameHeader>): void {
    if (this.#stopped) return;
    const op = h.opcode;
    if (op === OPCODE.TEXT || op === OPCODE.BINARY) {
      this.#collecting = true;
      this.#opcode = op;
      this.#compressed = h.rsv1;
      this.#fragments = 0;
      this.#size = 0;
      this.#parts = [];
    } else if (op !== OPCODE.CONTINUATION || !this.#collecting) {
      this.#inFrame = false;
      return;
    }
    this.#fragments++;
    this.#size += h.payloadLength;
    if (this.#size > this.#max) {
      this.#stop();
      this.#sink.onViolation(createViolation('WSG_WS_MESSAGE_TOO_LARGE', { length: this.#size, limit: this.#max }));
      return;
    }
    this.#inFrame = true;
    this.#masked = h.maskKey !== undefined;
    if (h.maskKey !== undefined) this.#maskKey.set(h.maskKey);
    this.#frameLength = h.payloadLength;
    this.#frame = undefined;
  }

  onPayload(slice: Uint8Array, offsetInFrame: number): void {
    if (!this.#inFrame) return;
    if (this.#frame === undefined) {
      if (!this.#masked && offsetInFrame === 0 && slice.length === this.#frameLength && slice.length >= this.#viewMin) {
        this.#frame = Buffer.from(slice.buffer, slice.byteOffset, slice.length);
        return;
      }
      // Bounded by #max (checked on the header), so allocating the declared length is safe.
      this.#frame = Buffer.allocUnsafe(this.#frameLength);
    }
    if (this.#masked) unmaskRange(this.#frame, offsetInFrame, slice, 0, slice.length, this.#maskKey, offsetInFrame);
    else this.#frame.set(slice, offsetInFrame);
  }

  onFrameEnd(h: Readonly<FrameHeader>): void {
    if (!this.#inFrame) return;
    this.#inFrame = false;
    if (this.#frame !== undefined) this.#parts.push(this.#frame);
    this.#frame = undefined;
    if (!h.fin) return;
    const parts = this.#parts;
    this.#parts = [];
    this.#collecting = false;
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.#size);
    this.#sink.onMessage({ opcode: this.#opcode, data, compressed: this.#compressed, fragments: this.#fragments });
  }

  onViolation(v: Violation): void {
    if (v.fatal) this.#stop();
    this.#sink.onViolation(v);
  }

  onControl(h: Readonly<FrameHeader>, payload: Uint8Array): void {
    if (!this.#stopped) this.#sink.onControl(h, payload);
  }

  #stop(): void {
    this.#stopped = true;
    this.#collecting = false;
    this.#inFrame = false;
    this.#parts = [];
    this.#frame = undefined;
  }
}
