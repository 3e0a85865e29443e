// The incremental WebSocket frame decoder (RFC 6455 §5): a state machine that observes one direction of a byte
// stream without touching it and checks the protocol rules, reporting broken ones as violation values
// (violation.ts), never as exceptions.
//
// The decoder sits on the proxy's hot path in passthrough: the proxy writes each TCP chunk onward, then pushes the
// same chunk here. So the decoder never mutates its input, never copies a data payload (the handler gets subarray
// views, still masked), allocates nothing per chunk in the steady state, and keeps a partial header in a 14-byte
// scratch buffer only when a header straddles two chunks. Pure: no sockets, timers or file system.
// Size: over 400 lines because the state machine is one class whose fast path (a whole header in one chunk), slow
// path (a header across chunks), header rules and payload checks share private state; split, they would need
// that state exposed or passed per call on the hot path.

import { parseClosePayload } from './close.ts';
import { type FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_BYTES, type MessageInfo, OPCODE } from './frame.ts';
import { unmaskRange } from './mask.ts';
import { UTF8_ACCEPT, UTF8_REJECT, validateUtf8Chunk, validateUtf8Masked } from './utf8.ts';
import { createViolation, type Violation, type ViolationCode } from './violation.ts';

/** Decoder states, named as in ws's Receiver. The first four wait for header bytes; STOPPED ignores all input. */
export const DECODER_STATE = {
  GET_INFO: 0,
  GET_PAYLOAD_LENGTH_16: 1,
  GET_PAYLOAD_LENGTH_64: 2,
  GET_MASK: 3,
  GET_DATA: 4,
  STOPPED: 5,
} as const;

export type DecoderState = (typeof DECODER_STATE)[keyof typeof DECODER_STATE];

/**
 * What the decoder reports, in stream order. For each frame: violations found in its header (then, if fatal,
 * nothing more), onFrameHeader, onPayload for each piece of the payload, violations found in the payload (close
 * body, UTF-8 of a finished text message), onControl (control frames), onFrameEnd, onMessageEnd (last frame of a
 * data message). A handler may call stop() from any callback: no callback follows. Handlers must not throw
 * (the decoder would be left mid-frame) and must not call push() re-entrantly.
 */
export interface FrameHandler {
  onFrameHeader(h: Readonly<FrameHeader>): void;
  /**
   * A piece of the payload: a view into the pushed chunk, still masked (use unmaskInto with h.maskKey and
   * offsetInFrame). Valid only during the call, as the proxy may reuse the chunk. Optional: without it no views
   * are created at all.
   */
  onPayload?(slice: Uint8Array, offsetInFrame: number): void;
  onFrameEnd(h: Readonly<FrameHeader>): void;
  onViolation(v: Violation): void;
  /** A control frame's whole payload (≤ 125 bytes), copied and unmasked; the handler may keep it. */
  onControl?(h: Readonly<FrameHeader>, payload: Uint8Array): void;
  /** After onFrameEnd of the final frame of a text or binary message. */
  onMessageEnd?(m: Readonly<MessageInfo>): void;
}

export type FrameDecoderOptions = {
  /** True for the client→server direction: every frame must be masked; false: none may be (RFC 6455 §5.1). */
  expectMasked: boolean;
  /** permessage-deflate was negotiated, so RSV1 may mark the first frame of a message (RFC 7692 §6). */
  allowRsv1: boolean;
  /**
   * An extension wsgate does not know was negotiated too: it may define any RSV bit on any frame (RFC 6455 §5.2),
   * so none is judged. Default false.
   */
  rsvUnjudged?: boolean;
  /** Fatal WSG_WS_FRAME_TOO_LARGE above this payload length. Default: no limit beyond 2^53 - 1. */
  maxFrameBytes?: number;
  /** Fatal WSG_WS_MESSAGE_TOO_LARGE when a message's declared size passes this. Default: no limit. */
  maxMessageBytes?: number;
  /** Fatal WSG_WS_TOO_MANY_FRAGMENTS above this many frames in one message. Default: no limit. */
  maxFragments?: number;
  /** Validate text messages and close reasons as UTF-8 (RFC 6455 §8.1). Default true. */
  validateUtf8?: boolean;
  /**
   * Stop after one of the three limits above (default true, for a relay that closes). False, for a tap that only
   * logs: the limit is reported (once per message for the message and fragment limits) and decoding goes on, since
   * the frame length is still known.
   */
  stopOnLimit?: boolean;
};

const S_GET_INFO = DECODER_STATE.GET_INFO;
const S_LEN16 = DECODER_STATE.GET_PAYLOAD_LENGTH_16;
const S_LEN64 = DECODER_STATE.GET_PAYLOAD_LENGTH_64;
const S_GET_MASK = DECODER_STATE.GET_MASK;
const S_GET_DATA = DECODER_STATE.GET_DATA;
const S_STOPPED = DECODER_STATE.STOPPED;

// What the current frame is to the message layer.
const KIND_START = 0; // TEXT or BINARY: starts a message
const KIND_CONTINUATION = 1; // continues the open message
const KIND_CONTROL = 2; // CLOSE, PING, PONG
const KIND_IGNORED = 3; // reserved opcode, or a continuation with no message: framed but not interpreted

const LENGTH_OK = 0;
const LENGTH_MSB_SET = 1;
const LENGTH_UNSUPPORTED = 2;

const TWO_32 = 2 ** 32;
const EMPTY = new Uint8Array(0);

// Masked text is unmasked through this much scratch for UTF-8 validation, a block at a time...
const UTF8_SCRATCH_BYTES = 16 * 1024;
// ...except pieces shorter than this, which the DFA validates XORing on the fly (faster than copy + native check).
const MASKED_DFA_MAX = 160;

/**
 * Incremental RFC 6455 frame decoder for one direction of one connection. push() each chunk as it arrives;
 * the handler hears about frames, payload pieces and violations (see FrameHandler for the order).
 *
 * Fatal violations (the decoder stops; later input is ignored): WSG_WS_LENGTH_MSB_SET and WSG_WS_LENGTH_UNSUPPORTED
 * (the frame's end cannot be located, so framing is lost), and the configured limits WSG_WS_FRAME_TOO_LARGE,
 * WSG_WS_MESSAGE_TOO_LARGE, WSG_WS_TOO_MANY_FRAGMENTS (reported right after the header, before any payload, so a
 * relay can close without buffering; with stopOnLimit false they are only reported). Every other violation is only
 * reported: the frame length is still known, so decoding goes on. Recovery after a non-fatal one: a frame with a
 * reserved opcode and a continuation without a message are framed but not interpreted; a new data frame inside a
 * fragmented message abandons the open message.
 */
export class FrameDecoder {
  #handler: FrameHandler;
  #expectMasked: boolean;
  #allowRsv1: boolean;
  #rsvUnjudged: boolean;
  #maxFrameBytes: number;
  #maxMessageBytes: number;
  #maxFragments: number;
  #validateUtf8: boolean;
  #stopOnLimit: boolean;
  #wantsPayload: boolean;
  #wantsControl: boolean;

  #state: DecoderState = S_GET_INFO;
  // Partial header across chunks; #stageEnd is how many header bytes the current state waits for.
  // Made on the first header that straddles chunks: most connections never have one, and an idle connection's two
  // decoders would each hold a typed array and its buffer (about 230 bytes) for nothing.
  #scratch: Uint8Array | undefined;
  #scratchLen = 0;
  #stageEnd = 2;
  #lengthProblem = LENGTH_OK;
  // Stream offsets, for a tap that forwards only up to a frame boundary: bytes pushed before the current chunk,
  // the position in the current chunk reached before the last callback, and where the current frame began.
  #base = 0;
  #at = 0;
  #frameStart = 0;

  #header: FrameHeader = {
    fin: false,
    rsv1: false,
    rsv2: false,
    rsv3: false,
    opcode: 0,
    masked: false,
    maskKey: undefined,
    payloadLength: 0,
    headerLength: 0,
  };
  // Made at the first masked frame: frames toward a client are never masked (RFC 6455 §5.1), so that direction's
  // decoder, and an idle connection's, never needs one.
  #maskKey: Uint8Array | undefined;
  #kind = KIND_IGNORED;
  #remaining = 0;
  #offset = 0;
  #control: Uint8Array | undefined;
  #checkUtf8 = false;
  #utf8Scratch: Uint8Array | undefined;

  #inMessage = false;
  #message: MessageInfo = { opcode: 0, fragments: 0, size: 0, compressed: false };
  #utf8State = UTF8_ACCEPT;
  // A message over a limit is reported once, also when decoding goes on (stopOnLimit false).
  #limitReported = false;

  constructor(options: FrameDecoderOptions, handler: FrameHandler) {
    this.#handler = handler;
    this.#expectMasked = options.expectMasked;
    this.#allowRsv1 = options.allowRsv1;
    this.#rsvUnjudged = options.rsvUnjudged ?? false;
    this.#maxFrameBytes = options.maxFrameBytes ?? Number.MAX_SAFE_INTEGER;
    this.#maxMessageBytes = options.maxMessageBytes ?? Number.POSITIVE_INFINITY;
    this.#maxFragments = options.maxFragments ?? Number.POSITIVE_INFINITY;
    this.#validateUtf8 = options.validateUtf8 ?? true;
    this.#stopOnLimit = options.stopOnLimit ?? true;
    this.#wantsPayload = typeof handler.onPayload === 'function';
    this.#wantsControl = typeof handler.onControl === 'function';
  }

  /** The current state (DECODER_STATE). */
  get state(): DecoderState {
    return this.#state;
  }

  /** True after a fatal violation or stop(). */
  get stopped(): boolean {
    return this.#state === S_STOPPED;
  }

  /** The stream is inside a frame: a header or payload is partly received. */
  get midFrame(): boolean {
    return this.#state !== S_STOPPED && (this.#state !== S_GET_INFO || this.#scratchLen > 0);
  }

  /** A data message has started and its final frame has not ended. */
  get midMessage(): boolean {
    return this.#inMessage;
  }

  /** The open message, or undefined between messages. Reused; copy fields to keep them. */
  get message(): Readonly<MessageInfo> | undefined {
    return this.#inMessage ? this.#message : undefined;
  }

  /**
   * Stream offset (bytes since the first push) of the first header byte of the current frame, or of the last one
   * when between frames.
   */
  get frameStart(): number {
    return this.#frameStart;
  }

  /**
   * Stream offset just past what has been read: during a header callback (or a violation found in the header) the
   * end of the header; during onControl, onFrameEnd, onMessageEnd and violations found at the end of a frame, the
   * end of the frame; between pushes, everything pushed.
   */
  get offset(): number {
    return this.#base + this.#at;
  }

  /** Bytes of a header that is not complete yet (0 when none is partly received). */
  get pendingHeaderBytes(): number {
    return this.#state < S_GET_DATA ? this.#scratchLen : 0;
  }

  /** Ignores all further input (e.g. the relay is closing the connection). */
  stop(): void {
    this.#state = S_STOPPED;
  }

  /** Feeds the next chunk of the stream. Never modifies or retains `chunk`. */
  push(chunk: Uint8Array): void {
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      const state = this.#state;
      if (state === S_GET_DATA) {
        const avail = len - pos;
        const n = Math.min(this.#remaining, avail);
        this.#remaining -= n;
        this.#payload(chunk, pos, n);
        pos += n;
        if (this.#remaining === 0 && this.#state === S_GET_DATA) {
          this.#at = pos;
          this.#endFrame();
        }
      } else if (state === S_GET_INFO && this.#scratchLen === 0 && len - pos >= 2) {
        // Fast path: the whole header is in this chunk (the common case), parsed in place.
        const b1 = chunk[pos + 1]!;
        const l7 = b1 & 0x7f;
        const hl = (l7 < 126 ? 2 : l7 === 126 ? 4 : 10) + ((b1 & 0x80) >>> 5);
        if (len - pos >= hl) {
          this.#readHeader(chunk, pos);
          this.#frameStart = this.#base + pos;
          pos += hl;
          this.#at = pos;
          this.#startFrame();
        } else {
          pos = this.#collectHeader(chunk, pos);
        }
      } else if (state === S_STOPPED) {
        break;
      } else {
        pos = this.#collectHeader(chunk, pos);
      }
    }
    this.#base += len;
    this.#at = 0;
  }

  // Slow path: copies header bytes into the scratch buffer, one state (stage of the header) at a time.
  #collectHeader(chunk: Uint8Array, start: number): number {
    this.#scratch ??= new Uint8Array(MAX_HEADER_BYTES);
    const scratch = this.#scratch;
    let have = this.#scratchLen;
    let pos = start;
    if (have === 0) this.#frameStart = this.#base + start;
    const target = this.#stageEnd;
    while (have < target && pos < chunk.length) scratch[have++] = chunk[pos++]!;
    this.#scratchLen = have;
    if (have < target) return pos;

    const b1 = scratch[1]!;
    const maskBytes = (b1 & 0x80) >>> 5;
    switch (this.#state) {
      case S_GET_INFO: {
        const l7 = b1 & 0x7f;
        if (l7 === 126) {
          this.#state = S_LEN16;
          this.#stageEnd = 4;
          return pos;
        }
        if (l7 === 127) {
          this.#state = S_LEN64;
          this.#stageEnd = 10;
          return pos;
        }
        if (maskBytes !== 0) {
          this.#state = S_GET_MASK;
          this.#stageEnd = 2 + maskBytes;
          return pos;
        }
        break;
      }
      case S_LEN16:
      case S_LEN64:
        if (maskBytes !== 0) {
          this.#state = S_GET_MASK;
          this.#stageEnd = have + maskBytes;
          return pos;
        }
        break;
    }
    // The header is complete.
    this.#scratchLen = 0;
    this.#stageEnd = 2;
    this.#state = S_GET_INFO;
    this.#readHeader(scratch, 0);
    this.#at = pos;
    this.#startFrame();
    return pos;
  }

  // Reads a complete header that starts at buf[off] into the reused header object.
  #readHeader(buf: Uint8Array, off: number): void {
    const h = this.#header;
    const b0 = buf[off]!;
    const b1 = buf[off + 1]!;
    h.fin = (b0 & 0x80) !== 0;
    h.rsv1 = (b0 & 0x40) !== 0;
    h.rsv2 = (b0 & 0x20) !== 0;
    h.rsv3 = (b0 & 0x10) !== 0;
    h.opcode = b0 & 0x0f;
    h.masked = (b1 & 0x80) !== 0;
    let length = b1 & 0x7f;
    let p = off + 2;
    this.#lengthProblem = LENGTH_OK;
    if (length === 126) {
      length = (buf[p]! << 8) | buf[p + 1]!;
      p += 2;
    } else if (length === 127) {
      const hi = buf[p]! * 0x1000000 + ((buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!);
      const lo = buf[p + 4]! * 0x1000000 + ((buf[p + 5]! << 16) | (buf[p + 6]! << 8) | buf[p + 7]!);
      p += 8;
      // RFC 6455 §5.2: the most significant bit MUST be 0. Above 2^53 - 1 a number can no longer count bytes.
      if (hi >= 0x80000000) this.#lengthProblem = LENGTH_MSB_SET;
      else if (hi > 0x1fffff) this.#lengthProblem = LENGTH_UNSUPPORTED;
      length = hi * TWO_32 + lo;
    }
    if (h.masked) {
      this.#maskKey ??= new Uint8Array(4);
      const key = this.#maskKey;
      key[0] = buf[p]!;
      key[1] = buf[p + 1]!;
      key[2] = buf[p + 2]!;
      key[3] = buf[p + 3]!;
      h.maskKey = key;
      p += 4;
    } else {
      h.maskKey = undefined;
    }
    h.payloadLength = length;
    h.headerLength = p - off;
  }

  // Reports unless a handler already called stop() during this frame.
  #violate(code: ViolationCode, params?: Record<string, string | number>): void {
    if (this.#state !== S_STOPPED) this.#handler.onViolation(createViolation(code, params));
  }

  #fail(code: ViolationCode, params?: Record<string, string | number>): void {
    this.#violate(code, params);
    this.#state = S_STOPPED;
    this.#inMessage = false;
  }

  // Applies the header rules in ws's order, then updates the message and announces the frame.
  #startFrame(): void {
    const h = this.#header;
    const opcode = h.opcode;
    const length = h.payloadLength;
    let kind: number;
    if ((h.rsv2 || h.rsv3) && !this.#rsvUnjudged) this.#violate('WSG_WS_UNEXPECTED_RSV2_RSV3');
    if (opcode === OPCODE.TEXT || opcode === OPCODE.BINARY) {
      if (h.rsv1 && !this.#allowRsv1 && !this.#rsvUnjudged)
        this.#violate('WSG_WS_UNEXPECTED_RSV1', { where: 'but no extension was negotiated' });
      if (this.#inMessage) this.#violate('WSG_WS_EXPECTED_CONTINUATION', { opcode });
      kind = KIND_START;
    } else if (opcode === OPCODE.CONTINUATION) {
      if (this.#inMessage) {
        // RFC 7692 §6.1: only the first frame of a message carries the "compressed" bit.
        if (h.rsv1 && !this.#rsvUnjudged) this.#violate('WSG_WS_UNEXPECTED_RSV1', { where: 'on a continuation frame' });
        kind = KIND_CONTINUATION;
      } else {
        this.#violate('WSG_WS_UNEXPECTED_CONTINUATION');
        kind = KIND_IGNORED;
      }
    } else if (opcode >= OPCODE.CLOSE && opcode <= OPCODE.PONG) {
      if (h.rsv1 && !this.#rsvUnjudged) this.#violate('WSG_WS_UNEXPECTED_RSV1', { where: 'on a control frame' });
      if (!h.fin) this.#violate('WSG_WS_CONTROL_FRAGMENTED', { opcode });
      if (length > MAX_CONTROL_PAYLOAD) this.#violate('WSG_WS_CONTROL_TOO_LONG', { length });
      kind = KIND_CONTROL;
    } else {
      this.#violate('WSG_WS_RESERVED_OPCODE', { opcode: `0x${opcode.toString(16)}` });
      kind = KIND_IGNORED;
    }
    if (h.masked !== this.#expectMasked) this.#violate(h.masked ? 'WSG_WS_MASKED_FRAME' : 'WSG_WS_UNMASKED_FRAME');

    if (this.#state === S_STOPPED) return; // a handler stopped the decoder from onViolation
    if (this.#lengthProblem !== LENGTH_OK) {
      if (this.#lengthProblem === LENGTH_MSB_SET) this.#fail('WSG_WS_LENGTH_MSB_SET');
      else this.#fail('WSG_WS_LENGTH_UNSUPPORTED', { length });
      return;
    }
    if (length > this.#maxFrameBytes) {
      if (this.#stopOnLimit) {
        this.#fail('WSG_WS_FRAME_TOO_LARGE', { length, limit: this.#maxFrameBytes });
        return;
      }
      this.#violate('WSG_WS_FRAME_TOO_LARGE', { length, limit: this.#maxFrameBytes });
      if (this.stopped) return;
    }

    const message = this.#message;
    if (kind === KIND_START) {
      this.#inMessage = true;
      message.opcode = opcode;
      message.fragments = 1;
      message.size = length;
      message.compressed = h.rsv1;
      this.#utf8State = UTF8_ACCEPT;
      this.#limitReported = false;
    } else if (kind === KIND_CONTINUATION) {
      message.fragments++;
      message.size += length;
    }
    if (kind === KIND_START || kind === KIND_CONTINUATION) {
      if (!this.#limitReported && (message.size > this.#maxMessageBytes || message.fragments > this.#maxFragments)) {
        this.#overLimit(message);
        if (this.stopped) return;
      }
      // Compressed text is validated only once inflated, which is not the decoder's job (RFC 7692 §6.2).
      this.#checkUtf8 =
        this.#validateUtf8 && message.opcode === OPCODE.TEXT && !message.compressed && this.#utf8State !== UTF8_REJECT;
    } else {
      this.#checkUtf8 = false;
    }
    this.#control =
      kind === KIND_CONTROL && length <= MAX_CONTROL_PAYLOAD
        ? length === 0
          ? EMPTY
          : new Uint8Array(length)
        : undefined;

    this.#kind = kind;
    this.#remaining = length;
    this.#offset = 0;
    this.#state = S_GET_DATA;
    this.#handler.onFrameHeader(h);
    if (length === 0 && this.#state === S_GET_DATA) this.#endFrame();
  }

  // Off the hot path: reached only when a message passes a limit.
  #overLimit(message: MessageInfo): void {
    const code: ViolationCode =
      message.size > this.#maxMessageBytes ? 'WSG_WS_MESSAGE_TOO_LARGE' : 'WSG_WS_TOO_MANY_FRAGMENTS';
    const params: Record<string, number> =
      code === 'WSG_WS_MESSAGE_TOO_LARGE'
        ? { length: message.size, limit: this.#maxMessageBytes }
        : { limit: this.#maxFragments };
    if (this.#stopOnLimit) {
      this.#fail(code, params);
      return;
    }
    this.#limitReported = true;
    this.#violate(code, params);
  }

  #payload(chunk: Uint8Array, pos: number, n: number): void {
    const offset = this.#offset;
    this.#offset = offset + n;
    if (this.#wantsPayload) {
      this.#handler.onPayload!(new Uint8Array(chunk.buffer, chunk.byteOffset + pos, n), offset);
    }
    const key = this.#header.maskKey;
    const control = this.#control;
    if (control !== undefined) {
      if (key === undefined) for (let i = 0; i < n; i++) control[offset + i] = chunk[pos + i]!;
      else unmaskRange(control, offset, chunk, pos, n, key, offset);
    } else if (this.#checkUtf8) {
      if (key === undefined) {
        this.#utf8State = validateUtf8Chunk(this.#utf8State, chunk, pos, pos + n);
      } else if (n < MASKED_DFA_MAX) {
        this.#utf8State = validateUtf8Masked(this.#utf8State, chunk, pos, pos + n, key, offset);
      } else {
        this.#utf8State = this.#validateMasked(chunk, pos, n, key, offset);
      }
      if (this.#utf8State === UTF8_REJECT) this.#checkUtf8 = false;
    }
  }

  // Unmasks through a fixed scratch block by block, so validating masked text allocates nothing per chunk.
  #validateMasked(chunk: Uint8Array, pos: number, n: number, key: Uint8Array, offset: number): number {
    if (this.#utf8Scratch === undefined) this.#utf8Scratch = new Uint8Array(UTF8_SCRATCH_BYTES + 4);
    const scratch = this.#utf8Scratch;
    let state = this.#utf8State;
    let done = 0;
    while (done < n && state !== UTF8_REJECT) {
      const block = Math.min(n - done, UTF8_SCRATCH_BYTES);
      // Start at the source's alignment so unmaskRange can work in 32-bit words.
      const at = (chunk.byteOffset + pos + done - scratch.byteOffset) & 3;
      unmaskRange(scratch, at, chunk, pos + done, block, key, offset + done);
      state = validateUtf8Chunk(state, scratch, at, at + block);
      done += block;
    }
    return state;
  }

  #endFrame(): void {
    const h = this.#header;
    const kind = this.#kind;
    // Handlers may stop() the decoder from here on; the `stopped` getter (not narrowed by TS) reads it.
    this.#state = S_GET_INFO;
    const control = this.#control;
    if (control !== undefined) {
      this.#control = undefined;
      if (h.opcode === OPCODE.CLOSE) this.#checkClose(control);
      if (this.#wantsControl && !this.stopped) this.#handler.onControl!(h, control);
    }
    const messageEnds = h.fin && (kind === KIND_START || kind === KIND_CONTINUATION);
    if (messageEnds) {
      this.#inMessage = false;
      if (
        this.#validateUtf8 &&
        this.#message.opcode === OPCODE.TEXT &&
        !this.#message.compressed &&
        this.#utf8State !== UTF8_ACCEPT
      ) {
        this.#violate('WSG_WS_INVALID_UTF8');
      }
    }
    if (this.stopped) return;
    this.#handler.onFrameEnd(h);
    if (messageEnds && !this.stopped && this.#handler.onMessageEnd !== undefined) {
      this.#handler.onMessageEnd(this.#message);
    }
  }

  #checkClose(payload: Uint8Array): void {
    const parsed = parseClosePayload(payload);
    if (parsed.ok) return;
    switch (parsed.problem) {
      case 'ONE_BYTE_BODY':
        this.#violate('WSG_WS_CLOSE_ONE_BYTE');
        break;
      case 'INVALID_CODE':
        this.#violate('WSG_WS_INVALID_CLOSE_CODE', { code: parsed.code ?? '' });
        break;
      case 'INVALID_REASON':
        if (this.#validateUtf8) this.#violate('WSG_WS_INVALID_CLOSE_REASON');
        break;
      case 'TOO_LONG':
        break; // already reported from the header as WSG_WS_CONTROL_TOO_LONG
    }
  }
}
