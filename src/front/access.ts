// The one access line per HTTP request, whatever the entry kind: written when the response closes, with what the
// entry's handler learned on the way (route, upstream, proxy, user, error code).
import type http from 'node:http';
import { clientFields } from '../http/forwarded.ts';
import { isAbsoluteForm } from '../http/request-target.ts';
import type { Logger } from '../log/logger.ts';
import { proxiedBy } from './proxy-header.ts';

/** Filled in by the handler while it serves the request. */
export type AccessFields = {
  route?: string | undefined;
  upstream?: string | undefined;
  /** The server of an upstream with several that answered (the last one tried). */
  server?: string | undefined;
  /** Times the request was sent again to the upstream (http.upstream_retry lines). */
  retries?: number | undefined;
  via?: string | undefined;
  user?: string | undefined;
  code?: string | undefined;
  /** Appended to the line's message, e.g. "(in CONNECT host:443)". */
  note?: string | undefined;
};

/** Why a request got no answer at all: its access line has status 0 and this as `outcome`. */
export type Unanswered = 'request_cut' | 'client_gone' | 'closed';

/**
 * The status the client was answered with, or 0 when no response head was written: Node's statusCode is 200 until
 * someone sets it, and a request nobody answered must not be counted as a success.
 */
export function answeredStatus(res: http.ServerResponse): number {
  return res.headersSent ? res.statusCode : 0;
}

/**
 * Read once the response closed unanswered. `request_cut`: the request body stopped short (the client left
 * mid-body); `client_gone`: the client closed or reset its connection while waiting; `closed`: wsgate closed it
 * (shutdown past its grace period).
 */
function unansweredOutcome(req: http.IncomingMessage): Unanswered {
  if (!req.complete) return 'request_cut';
  const socket = req.socket;
  return socket.readableEnded || socket.errored !== null ? 'client_gone' : 'closed';
}

const UNANSWERED_TEXT: Record<Unanswered, string> = {
  request_cut: 'no response: the request body was cut',
  client_gone: 'no response: the client left',
  closed: 'no response: the connection was closed',
};

/**
 * `client`: the client as the entry knows it (behind trusted proxies, the one X-Forwarded-For names; nginx's realip);
 * the line then has the direct peer as `peer` too. Default: the peer.
 */
export function logAccessOnClose(
  log: Logger,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  fields: AccessFields,
  clientOf?: () => string | undefined,
): void {
  const started = performance.now();
  // The peer is the balancer when the socket's address came from its PROXY protocol header.
  const who = clientFields(clientOf?.() ?? req.socket.remoteAddress, proxiedBy(req.socket) ?? req.socket.remoteAddress);
  res.once('close', () => {
    const target = req.url ?? '';
    const { note, ...rest } = fields;
    const status = answeredStatus(res);
    const outcome = status === 0 ? unansweredOutcome(req) : undefined;
    const notes = [outcome === undefined ? undefined : `(${UNANSWERED_TEXT[outcome]})`, note].filter(
      (n): n is string => n !== undefined,
    );
    log.info(
      {
        event: 'http.access',
        method: req.method,
        // An absolute-form target is a URL (forward proxy); origin-form is a path.
        ...(isAbsoluteForm(target) ? { url: target } : { path: target }),
        status,
        ...(outcome === undefined ? {} : { outcome }),
        ms: Math.round(performance.now() - started),
        ...rest,
        ...who,
        completed: res.writableFinished,
      },
      [req.method, target, status, ...notes].join(' '),
    );
  });
}
