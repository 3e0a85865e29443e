// The WebSocket frame codec (RFC 6455 §5): an incremental FrameDecoder that observes a byte stream without touching
// it, the protocol rules it checks (as violation values, never exceptions), unmasking, and the frame encoder.
//
// The decoder sits on the proxy's hot path in passthrough: the proxy writes each TCP chunk onward, then pushes the
// same chunk here. So the decoder never mutates its input, never copies a data payload (the handler gets subarray
// views, still masked), allocates nothing per chunk in the steady state, and keeps a partial header in a 14-byte
// scratch buffer only when a header straddles two chunks. Pure: no sockets, timers or file system.

import { encodeClosePayload, parseClosePayload } from './close.ts';
import { UTF8_ACCEPT, UTF8_REJECT, validateUtf8Chunk, validateUtf8Masked } from './utf8.ts';

/** Frame opcodes (RFC 6455 §5.2, §11.8). 0x3-0x7 and 0xB-0xF are reserved. */
export const OPCODE = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

export type Opcode = (typeof OPCODE)[keyof typeof OPCODE];

/** Control frames carry at most 125 payload bytes (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** Longest possible frame header: 2 + 8 (64-bit length) + 4 (masking key) bytes (RFC 6455 §5.2). */
export const MAX_HEADER_BYTES = 14;

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

type ViolationSpec = {
  readonly rule: string;
  readonly closeCode: number;
  /** Fatal: the decoder cannot (or, for limits, will not) account for the frame's bytes, so it stops. */
  readonly fatal: boolean;
  readonly message: string;
};

/**
 * Every protocol rule the decoder checks. Non-fatal violations are reported and decoding goes on with framing
 * intact (a passthrough tap keeps observing; a terminating relay closes with `closeCode`). Fatal ones are reported
 * and the decoder stops: nothing after them is interpreted.
 */
export const VIOLATION = {
  WSG_WS_UNMASKED_FRAME: {
    rule: 'RFC 6455 §5.1',
    closeCode: 1002,
    fatal: false,
    message: 'a frame from the client is not masked',
  },
  WSG_WS_MASKED_FRAME: {
    rule: 'RFC 6455 §5.1',
    closeCode: 1002,
    fatal: false,
    message: 'a frame from the server is masked',
  },
  WSG_WS_RESERVED_OPCODE: {
    rule: 'RFC 6455 §5.2',
    closeCode: 1002,
    fatal: false,
    message: 'reserved opcode {opcode}',
  },
  WSG_WS_UNEXPECTED_RSV1: {
    rule: 'RFC 6455 §5.2',
    closeCode: 1002,
    fatal: false,
    message: 'RSV1 is set {where}',
  },
  WSG_WS_UNEXPECTED_RSV2_RSV3: {
    rule: 'RFC 6455 §5.2',
    closeCode: 1002,
    fatal: false,
    message: 'RSV2 or RSV3 is set but no extension defines them',
  },
  WSG_WS_CONTROL_TOO_LONG: {
    rule: 'RFC 6455 §5.5',
    closeCode: 1002,
    fatal: false,
    message: 'control frame payload is {length} bytes; at most 125 are allowed',
  },
  WSG_WS_CONTROL_FRAGMENTED: {
    rule: 'RFC 6455 §5.5',
    closeCode: 1002,
    fatal: false,
    message: 'control frame (opcode {opcode}) has FIN clear; control frames must not be fragmented',
  },
  WSG_WS_UNEXPECTED_CONTINUATION: {
    rule: 'RFC 6455 §5.4',
    closeCode: 1002,
    fatal: false,
    message: 'continuation frame without a started message',
  },
  WSG_WS_EXPECTED_CONTINUATION: {
    rule: 'RFC 6455 §5.4',
    closeCode: 1002,
    fatal: false,
    message: 'new data frame (opcode {opcode}) while a fragmented message is still open',
  },
  WSG_WS_CLOSE_ONE_BYTE: {
    rule: 'RFC 6455 §5.5.1',
    closeCode: 1002,
    fatal: false,
    message: 'close frame body is 1 byte; a status code needs 2',
  },
  WSG_WS_INVALID_CLOSE_CODE: {
    rule: 'RFC 6455 §7.4',
    closeCode: 1002,
    fatal: false,
    message: 'close code {code} may not be sent on the wire',
  },
  WSG_WS_INVALID_CLOSE_REASON: {
    rule: 'RFC 6455 §5.5.1',
    closeCode: 1007,
    fatal: false,
    message: 'close reason is not valid UTF-8',
  },
  WSG_WS_INVALID_UTF8: {
    rule: 'RFC 6455 §8.1',
    closeCode: 1007,
    fatal: false,
    message: 'text message is not valid UTF-8',
  },
  // ws answers 1009 for both unrepresentable lengths, and the conformance suite expects ws's answer; §5.2 alone
  // would make the first one a plain protocol error (1002).
  WSG_WS_LENGTH_MSB_SET: {
    rule: 'RFC 6455 §5.2',
    closeCode: 1009,
    fatal: true,
    message: 'the most significant bit of the 64-bit payload length is set',
  },
  WSG_WS_LENGTH_UNSUPPORTED: {
    rule: 'RFC 6455 §10.4',
    closeCode: 1009,
    fatal: true,
    message: 'payload length {length} is above 2^53 - 1',
  },
  WSG_WS_FRAME_TOO_LARGE: {
    rule: 'RFC 6455 §10.4',
    closeCode: 1009,
    fatal: true,
    message: 'frame payload is {length} bytes; the limit is {limit}',
  },
  WSG_WS_MESSAGE_TOO_LARGE: {
    rule: 'RFC 6455 §10.4',
    closeCode: 1009,
    fatal: true,
    message: 'message reached {length} bytes; the limit is {limit}',
  },
  WSG_WS_TOO_MANY_FRAGMENTS: {
    rule: 'RFC 6455 §10.4',
    closeCode: 1008,
    fatal: true,
    message: 'message has more than {limit} fragments',
  },
} as const satisfies Record<string, ViolationSpec>;

export type ViolationCode = keyof typeof VIOLATION;

export type Violation = {
  readonly code: ViolationCode;
  readonly rule: string;
  readonly closeCode: number;
  readonly fatal: boolean;
  readonly message: string;
};

/**
 * One frame header. The decoder reuses a single header object (and its maskKey) for every frame, so nothing is
 * allocated per frame: it is valid from onFrameHeader to onFrameEnd. Use cloneFrameHeader to keep one.
 */
export type FrameHeader = {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  /** The 4-byte masking key, or undefined for an unmasked frame. */
  maskKey: Uint8Array | undefined;
  payloadLength: number;
  headerLength: number;
};

/** The data message being received (RFC 6455 §5.4). Reused like FrameHeader. */
export type MessageInfo = {
  /** OPCODE.TEXT or OPCODE.BINARY, from the first frame. */
  opcode: number;
  /** Frames so far, the first one included. */
  fragments: number;
  /** Payload bytes declared so far (still compressed when `compressed`). */
  size: number;
  /** RSV1 on the first frame: permessage-deflate (RFC 7692 §6). */
  compressed: boolean;
};

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
  /** Fatal WSG_WS_FRAME_TOO_LARGE above this payload length. Default: no limit beyond 2^53 - 1. */
  maxFrameBytes?: number;
  /** Fatal WSG_WS_MESSAGE_TOO_LARGE when a message's declared size passes this. Default: no limit. */
  maxMessageBytes?: number;
  /** Fatal WSG_WS_TOO_MANY_FRAGMENTS above this many frames in one message. Default: no limit. */
  maxFragments?: number;
  /** Validate text messages and close reasons as UTF-8 (RFC 6455 §8.1). Default true. */
  validateUtf8?: boolean;
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

function fill(template: string, params: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (all, key: string) => (key in params ? String(params[key]) : all));
}

/** Builds the violation value for `code`. */
export function createViolation(code: ViolationCode, params: Record<string, string | number> = {}): Violation {
  const spec: ViolationSpec = VIOLATION[code];
  return {
    code,
    rule: spec.rule,
    closeCode: spec.closeCode,
    fatal: spec.fatal,
    message: fill(spec.message, params),
  };
}

/** A copy of a header that outlives the decoder's callbacks. */
export function cloneFrameHeader(h: Readonly<FrameHeader>): FrameHeader {
  return { ...h, maskKey: h.maskKey === undefined ? undefined : h.maskKey.slice() };
}

/** Whether an opcode is a control opcode, reserved ones included (RFC 6455 §5.5: the high bit of the opcode). */
export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

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

/**
 * Incremental RFC 6455 frame decoder for one direction of one connection. push() each chunk as it arrives;
 * the handler hears about frames, payload pieces and violations (see FrameHandler for the order).
 *
 * Fatal violations (the decoder stops; later input is ignored): WSG_WS_LENGTH_MSB_SET and WSG_WS_LENGTH_UNSUPPORTED
 * (the frame's end cannot be located, so framing is lost), and the configured limits WSG_WS_FRAME_TOO_LARGE,
 * WSG_WS_MESSAGE_TOO_LARGE, WSG_WS_TOO_MANY_FRAGMENTS (reported right after the header, before any payload, so a
 * relay can close without buffering). Every other violation is only reported: the frame length is still known, so
 * decoding goes on. Recovery after a non-fatal one: a frame with a reserved opcode and a continuation without a
 * message are framed but not interpreted; a new data frame inside a fragmented message abandons the open message.
 */
export class FrameDecoder {
  #handler: FrameHandler;
  #expectMasked: boolean;
  #allowRsv1: boolean;
  #maxFrameBytes: number;
  #maxMessageBytes: number;
  #maxFragments: number;
  #validateUtf8: boolean;
  #wantsPayload: boolean;
  #wantsControl: boolean;

  #state: DecoderState = S_GET_INFO;
  // Partial header across chunks; #stageEnd is how many header bytes the current state waits for.
  #scratch = new Uint8Array(MAX_HEADER_BYTES);
  #scratchLen = 0;
  #stageEnd = 2;
  #lengthProblem = LENGTH_OK;

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
  #maskKey = new Uint8Array(4);
  #kind = KIND_IGNORED;
  #remaining = 0;
  #offset = 0;
  #control: Uint8Array | undefined;
  #checkUtf8 = false;
  #utf8Scratch: Uint8Array | undefined;

  #inMessage = false;
  #message: MessageInfo = { opcode: 0, fragments: 0, size: 0, compressed: false };
  #utf8State = UTF8_ACCEPT;

  constructor(options: FrameDecoderOptions, handler: FrameHandler) {
    this.#handler = handler;
    this.#expectMasked = options.expectMasked;
    this.#allowRsv1 = options.allowRsv1;
    this.#maxFrameBytes = options.maxFrameBytes ?? Number.MAX_SAFE_INTEGER;
    this.#maxMessageBytes = options.maxMessageBytes ?? Number.POSITIVE_INFINITY;
    this.#maxFragments = options.maxFragments ?? Number.POSITIVE_INFINITY;
    this.#validateUtf8 = options.validateUtf8 ?? true;
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
        if (this.#remaining === 0 && this.#state === S_GET_DATA) this.#endFrame();
      } else if (state === S_GET_INFO && this.#scratchLen === 0 && len - pos >= 2) {
        // Fast path: the whole header is in this chunk (the common case), parsed in place.
        const b1 = chunk[pos + 1]!;
        const l7 = b1 & 0x7f;
        const hl = (l7 < 126 ? 2 : l7 === 126 ? 4 : 10) + ((b1 & 0x80) >>> 5);
        if (len - pos >= hl) {
          this.#readHeader(chunk, pos);
          pos += hl;
          this.#startFrame();
        } else {
          pos = this.#collectHeader(chunk, pos);
        }
      } else if (state === S_STOPPED) {
        return;
      } else {
        pos = this.#collectHeader(chunk, pos);
      }
    }
  }

  // Slow path: copies header bytes into the scratch buffer, one state (stage of the header) at a time.
  #collectHeader(chunk: Uint8Array, start: number): number {
    const scratch = this.#scratch;
    let have = this.#scratchLen;
    let pos = start;
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
    if (h.rsv2 || h.rsv3) this.#violate('WSG_WS_UNEXPECTED_RSV2_RSV3');
    if (opcode === OPCODE.TEXT || opcode === OPCODE.BINARY) {
      if (h.rsv1 && !this.#allowRsv1)
        this.#violate('WSG_WS_UNEXPECTED_RSV1', { where: 'but no extension was negotiated' });
      if (this.#inMessage) this.#violate('WSG_WS_EXPECTED_CONTINUATION', { opcode });
      kind = KIND_START;
    } else if (opcode === OPCODE.CONTINUATION) {
      if (this.#inMessage) {
        // RFC 7692 §6.1: only the first frame of a message carries the "compressed" bit.
        if (h.rsv1) this.#violate('WSG_WS_UNEXPECTED_RSV1', { where: 'on a continuation frame' });
        kind = KIND_CONTINUATION;
      } else {
        this.#violate('WSG_WS_UNEXPECTED_CONTINUATION');
        kind = KIND_IGNORED;
      }
    } else if (opcode >= OPCODE.CLOSE && opcode <= OPCODE.PONG) {
      if (h.rsv1) this.#violate('WSG_WS_UNEXPECTED_RSV1', { where: 'on a control frame' });
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
      this.#fail('WSG_WS_FRAME_TOO_LARGE', { length, limit: this.#maxFrameBytes });
      return;
    }

    const message = this.#message;
    if (kind === KIND_START) {
      this.#inMessage = true;
      message.opcode = opcode;
      message.fragments = 1;
      message.size = length;
      message.compressed = h.rsv1;
      this.#utf8State = UTF8_ACCEPT;
    } else if (kind === KIND_CONTINUATION) {
      message.fragments++;
      message.size += length;
    }
    if (kind === KIND_START || kind === KIND_CONTINUATION) {
      if (message.size > this.#maxMessageBytes) {
        this.#fail('WSG_WS_MESSAGE_TOO_LARGE', { length: message.size, limit: this.#maxMessageBytes });
        return;
      }
      if (message.fragments > this.#maxFragments) {
        this.#fail('WSG_WS_TOO_MANY_FRAGMENTS', { limit: this.#maxFragments });
        return;
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

/** What encodeFrame builds. Control frames must be final, unflagged and at most 125 bytes (RFC 6455 §5.5). */
export type FrameSpec = {
  fin?: boolean;
  rsv1?: boolean;
  opcode: number;
  payload?: Uint8Array | string;
  /** Mask with this 4-byte key (client→server, RFC 6455 §5.3); unmasked when absent. */
  maskKey?: Uint8Array;
};

export type FrameHeaderSpec = Omit<FrameSpec, 'payload'> & { payloadLength: number };

const textEncoder = new TextEncoder();

function headerLengthFor(payloadLength: number, masked: boolean): number {
  return (payloadLength < 126 ? 2 : payloadLength <= 0xffff ? 4 : 10) + (masked ? 4 : 0);
}

function checkSpec(spec: FrameHeaderSpec): void {
  const { opcode, payloadLength, maskKey } = spec;
  if (!Number.isInteger(opcode) || opcode < 0 || opcode > 0xf || (opcode > 2 && opcode < 8) || opcode > 0xa) {
    throw new RangeError(`opcode ${opcode} is not a defined opcode (RFC 6455 §5.2)`);
  }
  if (!Number.isSafeInteger(payloadLength) || payloadLength < 0) {
    throw new RangeError(`payload length ${payloadLength} is not a length`);
  }
  if (maskKey !== undefined && maskKey.length !== 4) throw new RangeError('a masking key is 4 bytes (RFC 6455 §5.3)');
  if (isControlOpcode(opcode)) {
    if (spec.fin === false || spec.rsv1 === true || payloadLength > MAX_CONTROL_PAYLOAD) {
      throw new RangeError('control frames must be final, without RSV1, and at most 125 bytes (RFC 6455 §5.5)');
    }
  }
}

// Writes the header into out[0..] and returns its length (RFC 6455 §5.2: the minimal length form).
function writeHeader(out: Uint8Array, spec: FrameHeaderSpec): number {
  const { payloadLength, maskKey } = spec;
  out[0] = (spec.fin === false ? 0 : 0x80) | (spec.rsv1 === true ? 0x40 : 0) | spec.opcode;
  const maskBit = maskKey === undefined ? 0 : 0x80;
  let p: number;
  if (payloadLength < 126) {
    out[1] = maskBit | payloadLength;
    p = 2;
  } else if (payloadLength <= 0xffff) {
    out[1] = maskBit | 126;
    out[2] = payloadLength >>> 8;
    out[3] = payloadLength & 0xff;
    p = 4;
  } else {
    out[1] = maskBit | 127;
    const hi = Math.floor(payloadLength / TWO_32);
    const lo = payloadLength >>> 0;
    out[2] = hi >>> 24;
    out[3] = (hi >>> 16) & 0xff;
    out[4] = (hi >>> 8) & 0xff;
    out[5] = hi & 0xff;
    out[6] = lo >>> 24;
    out[7] = (lo >>> 16) & 0xff;
    out[8] = (lo >>> 8) & 0xff;
    out[9] = lo & 0xff;
    p = 10;
  }
  if (maskKey !== undefined) {
    out.set(maskKey, p);
    p += 4;
  }
  return p;
}

/**
 * Only the header of a frame, for writing header and an unmasked payload without copying it (writev).
 * Throws RangeError on a frame that may not be sent.
 */
export function encodeFrameHeader(spec: FrameHeaderSpec): Buffer {
  checkSpec(spec);
  const out = Buffer.allocUnsafe(headerLengthFor(spec.payloadLength, spec.maskKey !== undefined));
  writeHeader(out, spec);
  return out;
}

/** One complete frame, masked with spec.maskKey if given. Throws RangeError on a frame that may not be sent. */
export function encodeFrame(spec: FrameSpec): Buffer {
  const raw = spec.payload ?? EMPTY;
  const payload = typeof raw === 'string' ? textEncoder.encode(raw) : raw;
  const headerSpec: FrameHeaderSpec = {
    fin: spec.fin,
    rsv1: spec.rsv1,
    opcode: spec.opcode,
    maskKey: spec.maskKey,
    payloadLength: payload.length,
  };
  checkSpec(headerSpec);
  const n = payload.length;
  const out = Buffer.allocUnsafe(headerLengthFor(n, spec.maskKey !== undefined) + n);
  const p = writeHeader(out, headerSpec);
  if (spec.maskKey === undefined) out.set(payload, p);
  else unmaskRange(out, p, payload, 0, n, spec.maskKey, 0);
  return out;
}

/**
 * A close frame (RFC 6455 §5.5.1). `code` undefined sends an empty body. Throws RangeError for a code that may
 * not be sent (RFC 6455 §7.4) or a reason longer than 123 bytes.
 */
export function encodeClose(code?: number, reason: string | Uint8Array = '', maskKey?: Uint8Array): Buffer {
  return encodeFrame({ opcode: OPCODE.CLOSE, payload: encodeClosePayload(code, reason), maskKey });
}
