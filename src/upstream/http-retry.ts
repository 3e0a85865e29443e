// Whether a plain request that failed on its way to the upstream is sent again, and where: nginx's default
// (`proxy_next_upstream error timeout`, and one more try after an error on a kept-alive connection). Only while
// nothing of an answer has come back, and only when sending it again cannot make the server do a thing twice:
// a request whose connection never opened was not sent at all; one that was sent is sent again only when its
// method is idempotent (RFC 9110 §9.2.2) and wsgate still has all of it (no body read from the client).
import { isServerDown } from './balancer.ts';

/** What one attempt got to before it failed. */
export type AttemptOutcome = {
  /** The TCP connection to the server was made (a kept-alive one counts). */
  connected: boolean;
  /** The connection was kept alive from an earlier request. */
  reused: boolean;
  /** Any of the server's answer arrived. */
  answered: boolean;
  /** Bytes of the request's body were read from the client for this attempt: they cannot be sent again. */
  bodyRead: boolean;
};

export type RetryChoice =
  /** The server failed (it is skipped for failTimeout): the pool's next untried server. */
  | 'next-server'
  /** A kept-alive connection the server had closed (a race with its idle timeout): the same server, anew. */
  | 'same-server'
  | undefined;

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Kept-alive connections found closed, in a row, before wsgate stops trying (a restarted server closed them all). */
export const MAX_STALE_RETRIES = 2;

export function retryChoice(
  outcome: AttemptOutcome,
  method: string,
  error: { code: string },
  left: { untriedServers: number; staleRetries: number },
): RetryChoice {
  if (outcome.answered || outcome.bodyRead) return undefined;
  if (!outcome.connected) return isServerDown(error) && left.untriedServers > 0 ? 'next-server' : undefined;
  // Sent: a reset before any answer may still have been acted on by the server.
  if (error.code !== 'WSG_UPSTREAM_RESET' || !IDEMPOTENT.has(method)) return undefined;
  if (outcome.reused) return left.staleRetries < MAX_STALE_RETRIES ? 'same-server' : undefined;
  return left.untriedServers > 0 ? 'next-server' : undefined;
}

/** A request with no body to read: none announced, or an empty one. */
export function hasNoBody(headers: { 'content-length'?: string | undefined; 'transfer-encoding'?: string }): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
}
