// What Node's HTTP parser (or its headersTimeout) rejected, as a coded error with the right status. The limits in
// the messages are the configured ones, whatever the entry kind.

import { formatDuration } from '../config/units.ts';
import { WsgateError } from '../errors.ts';
import type { FrontLimits } from './limits.ts';

/**
 * Socket and parser errors that only mean the client went away: nothing to answer, nothing worth a warning.
 * HPE_INVALID_EOF_STATE is llhttp's word for a connection that ended inside a request (a client that gave up
 * mid-head or mid-body, or closed after its 408 while its head was still incomplete), not for bytes it could not
 * parse. ETIMEDOUT: the client's host stopped answering TCP (keepalive probes or retransmissions gave up).
 */
export const GONE_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ETIMEDOUT',
  'HPE_CLOSED_CONNECTION',
  'HPE_INVALID_EOF_STATE',
]);

export function clientErrorOf(err: NodeJS.ErrnoException, limits: FrontLimits): WsgateError {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new WsgateError('WSG_HEADERS_TOO_LARGE', { limit: limits.maxHeaderBytes, count: limits.maxHeaderCount });
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new WsgateError('WSG_HEADERS_TIMEOUT', { timeout: formatDuration(limits.headersTimeout) });
    case 'HPE_URI_TOO_LONG':
      return new WsgateError('WSG_URI_TOO_LONG', { limit: limits.maxRequestLineBytes });
    default:
      // llhttp's reasons are its own fixed texts ("Invalid header value char"), never the client's bytes.
      return new WsgateError('WSG_BAD_REQUEST', { detail: parserReason(err) });
  }
}

/**
 * The llhttp codes of a request target it refused: a byte a URL may not hold (HPE_INVALID_URL), or a space inside
 * the target, which leaves llhttp reading the rest as a protocol name (HPE_INVALID_CONSTANT).
 */
const TARGET_CODES: ReadonlySet<string> = new Set(['HPE_INVALID_URL', 'HPE_INVALID_CONSTANT']);

/**
 * llhttp refuses some CONNECT targets itself (a space or NUL inside): to the user that is still a bad CONNECT
 * target, so it is reported as one. Undefined when the rejected bytes were not a CONNECT, or when what llhttp
 * refused was not its target (a header too large or malformed, a bad version): those are answered as for any
 * request (clientErrorOf), or a client would be told to fix a target that was fine.
 */
export function badConnectOf(err: NodeJS.ErrnoException): WsgateError | undefined {
  const rawPacket = (err as { rawPacket?: Buffer }).rawPacket;
  if (rawPacket === undefined || rawPacket.subarray(0, 8).toString('latin1') !== 'CONNECT ') return undefined;
  if (!TARGET_CODES.has(err.code ?? '') || !inRequestLine(err, rawPacket)) return undefined;
  const line = rawPacket.toString('latin1').split('\r\n')[0]!.slice(0, 200);
  return new WsgateError('WSG_CONNECT_BAD_TARGET', {
    target: JSON.stringify(line.replace(/^CONNECT /, '').replace(/ HTTP\/1\.[01]$/, '')),
    detail: parserReason(err),
  });
}

/** Whether llhttp stopped before the request line's end (bytesParsed counts from the packet's start). */
function inRequestLine(err: NodeJS.ErrnoException, rawPacket: Buffer): boolean {
  const parsed = (err as { bytesParsed?: number }).bytesParsed;
  const lineEnd = rawPacket.indexOf(0x0a);
  return parsed === undefined || lineEnd === -1 || parsed <= lineEnd + 1;
}

function parserReason(err: Error): string {
  return err.message.replace(/^Parse Error: /, '');
}
