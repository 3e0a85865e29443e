// Close frame codes and payloads (RFC 6455 §5.5.1, §7.4). Owns the list of status codes, which of them may appear
// on the wire, and the parsing of a close body into code and reason.

import { isValidUtf8 } from './utf8.ts';

/** Registered status codes (RFC 6455 §7.4.1 and the IANA "WebSocket Close Code Number Registry"). */
export const CLOSE_CODE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  /** Reserved; never on the wire. */
  RESERVED: 1004,
  /** "No status received": what a receiver reports for an empty close body; never on the wire. */
  NO_STATUS: 1005,
  /** "Abnormal closure": the connection dropped without a close frame; never on the wire. */
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  MANDATORY_EXTENSION: 1010,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  BAD_GATEWAY: 1014,
  /** TLS handshake failure; never on the wire. */
  TLS_HANDSHAKE: 1015,
} as const;

export type CloseCode = (typeof CLOSE_CODE)[keyof typeof CLOSE_CODE];

/** Longest reason that fits a control frame: 125 payload bytes minus the 2-byte code (RFC 6455 §5.5). */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * Whether `code` may be sent in a close frame (RFC 6455 §7.4). 0-999 are unused, 1004/1005/1006/1015 are reserved
 * for local use, 1016-2999 are for future protocol revisions (1012-1014 have since been registered with IANA),
 * 3000-3999 are registered by libraries and frameworks, 4000-4999 are private. ≥ 5000 is out of range.
 * Same answer as ws's `isValidStatusCode`.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
  );
}

export type CloseProblem =
  /** A 1-byte body: a code needs two bytes (RFC 6455 §5.5.1). */
  | 'ONE_BYTE_BODY'
  /** A code that must not be sent (RFC 6455 §7.4). */
  | 'INVALID_CODE'
  /** The reason is not valid UTF-8 (RFC 6455 §5.5.1). */
  | 'INVALID_REASON'
  /** Longer than a control frame may be (RFC 6455 §5.5). */
  | 'TOO_LONG';

export type ParsedClose =
  /** `code` is undefined for an empty body (a receiver reports that as 1005, NO_STATUS). */
  | { readonly ok: true; readonly code: number | undefined; readonly reason: string }
  | { readonly ok: false; readonly problem: CloseProblem; readonly code: number | undefined };

// ignoreBOM: a reason that starts with U+FEFF keeps it; the default decoder would drop it silently.
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });
const textEncoder = new TextEncoder();

/** Parses the (unmasked) body of a close frame into code and reason, or names what is wrong with it. */
export function parseClosePayload(payload: Uint8Array): ParsedClose {
  const n = payload.length;
  if (n === 0) return { ok: true, code: undefined, reason: '' };
  if (n === 1) return { ok: false, problem: 'ONE_BYTE_BODY', code: undefined };
  const code = (payload[0]! << 8) | payload[1]!;
  if (n > 125) return { ok: false, problem: 'TOO_LONG', code };
  if (!isValidCloseCode(code)) return { ok: false, problem: 'INVALID_CODE', code };
  if (n === 2) return { ok: true, code, reason: '' };
  const reasonBytes = payload.subarray(2);
  if (!isValidUtf8(reasonBytes)) return { ok: false, problem: 'INVALID_REASON', code };
  return { ok: true, code, reason: utf8Decoder.decode(reasonBytes) };
}

/** Builds a close body: 2-byte code (big-endian, RFC 6455 §5.5.1) then the UTF-8 reason. Throws on misuse. */
export function encodeClosePayload(code?: number, reason: string | Uint8Array = ''): Uint8Array {
  const reasonBytes = typeof reason === 'string' ? textEncoder.encode(reason) : reason;
  if (code === undefined) {
    if (reasonBytes.length > 0) throw new RangeError('a close reason needs a close code (RFC 6455 §5.5.1)');
    return new Uint8Array(0);
  }
  if (!isValidCloseCode(code)) throw new RangeError(`close code ${code} may not be sent (RFC 6455 §7.4)`);
  if (reasonBytes.length > MAX_CLOSE_REASON_BYTES) {
    throw new RangeError(`close reason is ${reasonBytes.length} bytes; at most ${MAX_CLOSE_REASON_BYTES} fit`);
  }
  const out = new Uint8Array(2 + reasonBytes.length);
  out[0] = code >>> 8;
  out[1] = code & 0xff;
  out.set(reasonBytes, 2);
  return out;
}
