// What wsgate's own error answer says, as text: the plain-text body (what happened, what to do, the stable code)
// and, for raw sockets (Upgrade and CONNECT requests have no ServerResponse), the response head with the status
// from the error table and any extra headers a refusal needs (Proxy-Authenticate on a 407). Pure: writing it to a
// socket or a ServerResponse, and closing afterwards, is front/error-response.ts's job.
import type { WsgateError } from '../errors.ts';
import { type HeaderPairs, serializeResponseHead } from './head.ts';
import { reasonPhrase } from './status.ts';

/** The status of an error answer: the table's, or 502 for a code without one. */
export function errorStatus(err: WsgateError): number {
  return err.status ?? 502;
}

export function errorBody(err: WsgateError): string {
  return `wsgate: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}code: ${err.code}\n`;
}

/**
 * The head for `body` (from errorBody) on a raw socket. It always says Connection: close: whatever the client
 * sent after a refused request must never be parsed as the next one.
 */
export function errorResponseHead(err: WsgateError, body: string, extra: HeaderPairs = []): string {
  const status = errorStatus(err);
  return serializeResponseHead(status, reasonPhrase(status), [
    ...extra,
    ...(err.retryAfter === undefined ? [] : [['Retry-After', String(err.retryAfter)] as [string, string]]),
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['Content-Length', String(Buffer.byteLength(body))],
    // The body may quote what the client sent (a host, a path, an origin): never let a browser sniff it as HTML.
    ['X-Content-Type-Options', 'nosniff'],
    ['Connection', 'close'],
    ['X-Wsgate-Error', err.code],
  ]);
}
