// What a WebSocket session reports: its open line, and at the end who ended it, how (a termination code in the
// spirit of HAProxy's), and with which close code; shared by the passthrough session and the relay.
import type { TapLevel, WsEndEvent, WsOpenEvent } from '../events.ts';
import { isValidCloseCode, MAX_CLOSE_REASON_BYTES } from './close.ts';
import type { EndCause, JoinStats } from './joiner.ts';
import { type ClosingViolation, type ConnectionObserver, isoNow, LIMIT_KEYS } from './observer.ts';
import type { SessionInfo } from './session.ts';

const WHO: Record<EndCause['by'], string> = { client: 'C', upstream: 'U', wsgate: 'W' };
const HOW: Record<string, string> = {
  close: 'C',
  fin: 'F',
  rst: 'R',
  error: 'E',
  idle: 'I',
  shutdown: 'S',
  limit: 'L',
  violation: 'V',
  fault: 'X',
};

/** Why a close the admin API or a rule asks for cannot be sent, or undefined when it can. */
export function checkClose(code: number, reason: string): string | undefined {
  if (!isValidCloseCode(code)) return `close code ${code} may not be sent (RFC 6455 §7.4)`;
  if (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) return `close reason is over ${MAX_CLOSE_REASON_BYTES} bytes`;
  return undefined;
}

/** The end line's termination code: who (C, U, W), then how (C close frame, F fin, R rst, …). */
export function terminationCode(by: EndCause['by'], how: string): string {
  return `${WHO[by]}${HOW[how] ?? '?'}`;
}

/** The Close wsgate sent to both sides, when it closed for a violation: the end line reports its code. */
export type SentClose = { code: number; reason: string };

/**
 * Who ended the connection and how. A close frame says more than the TCP teardown that follows it, so the first
 * close frame seen wins over FIN/RST, except when wsgate itself ended the connection (shutdown, idle, limits).
 */
export function describeEnd(
  stats: JoinStats,
  observer: ConnectionObserver | undefined,
  sent?: SentClose,
): Pick<WsEndEvent, 'endedBy' | 'how' | 'termination' | 'closeCode' | 'closeReason' | 'clean' | 'detail'> {
  const first = observer?.firstClose;
  let by = stats.cause.by;
  let how: string = stats.cause.how;
  let closeCode = 1006;
  let closeReason: string | undefined;
  if (sent !== undefined && stats.cause.by === 'wsgate') {
    closeCode = sent.code;
    closeReason = sent.reason || undefined;
  } else if (first !== undefined) {
    const seen = observer!.closeSeen(first)!;
    closeCode = seen.code ?? 1005;
    closeReason = seen.reason || undefined;
    if (stats.cause.by !== 'wsgate') {
      by = first === 'toUpstream' ? 'client' : 'upstream';
      how = 'close';
    }
  }
  const clean =
    observer !== undefined &&
    observer.closeSeen('toUpstream') !== undefined &&
    observer.closeSeen('toClient') !== undefined;
  const result: ReturnType<typeof describeEnd> = {
    endedBy: by,
    how,
    termination: `${WHO[by]}${HOW[how] ?? '?'}`,
    closeCode,
    clean,
  };
  if (closeReason !== undefined) result.closeReason = closeReason;
  if (stats.cause.detail !== undefined) result.detail = stats.cause.detail;
  return result;
}

// A close reason is at most 123 bytes (RFC 6455 §5.5); violation messages are ASCII, but cut on a character anyway.
export function closeReasonOf(message: string): string {
  let reason = message;
  while (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) reason = reason.slice(0, -1);
  return reason;
}

/** The end line's detail for a violation close: the code, the limit's key when it is one, and the message. */
export function violationDetail({ violation }: ClosingViolation): string {
  const limit = LIMIT_KEYS[violation.code];
  return `${violation.code}${limit === undefined ? '' : ` (${limit})`}: ${violation.message}`;
}

/** The open line of a joined connection (passthrough or relay): the handshake as received, forwarded and answered. */
export function openEvent(info: SessionInfo, level: TapLevel): WsOpenEvent {
  return {
    type: 'open',
    conn: info.conn,
    route: info.route,
    time: isoNow(),
    upstream: info.upstream,
    ...(info.server === undefined ? {} : { server: info.server }),
    path: info.path,
    client: info.client,
    ...(info.peer === undefined ? {} : { peer: info.peer }),
    protocol: info.protocol,
    extensions: info.extensions,
    tap: level,
    handshakeMs: info.handshakeMs,
    ...(info.dialMs === undefined ? {} : { dialMs: info.dialMs }),
    ...(info.tlsMs === undefined ? {} : { tlsMs: info.tlsMs }),
    ...(info.spare === true ? { spare: true } : {}),
    request: info.request,
    forwarded: info.forwarded,
    response: info.response,
  };
}

/** The end line of a joined connection: who ended it and how (`fields`), with the connection's identity. */
export function endEvent(
  info: SessionInfo,
  fields: Omit<WsEndEvent, 'type' | 'conn' | 'route' | 'time' | 'upstream' | 'protocol' | 'extensions'>,
): WsEndEvent {
  return {
    type: 'end',
    conn: info.conn,
    route: info.route,
    time: isoNow(),
    upstream: info.upstream,
    protocol: info.protocol,
    extensions: info.extensions,
    ...fields,
  };
}
