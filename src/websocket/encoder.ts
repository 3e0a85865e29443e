// The WebSocket frame encoder (RFC 6455 §5.2): whole frames, header-only (to write a payload beside it without a
// copy) and close frames. It refuses, with a RangeError, any frame the RFC forbids sending, so a caller cannot put
// a malformed frame on the wire by mistake. Pure: no sockets, timers or file system.

import { encodeClosePayload } from './close.ts';
import { isControlOpcode, MAX_CONTROL_PAYLOAD, OPCODE } from './frame.ts';
import { unmaskRange } from './mask.ts';

const TWO_32 = 2 ** 32;
const EMPTY = new Uint8Array(0);

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
