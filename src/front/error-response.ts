// The one writer of wsgate's own error responses, for every entry kind: the status from the error table, an
// `x-wsgate-error` header with the stable code, and a short plain-text body that says what happened and what to
// do. Requests answered through http.ServerResponse and raw sockets (upgrades, CONNECT) get the same answer.
// The text of the answer (body, raw head) is http/error-response.ts's; this module writes it and closes.
import type http from 'node:http';
import type net from 'node:net';
import type { WsgateError } from '../errors.ts';
import { handshakeDone } from '../events.ts';
import { errorBody, errorResponseHead, errorStatus } from '../http/error-response.ts';
import type { HeaderPairs } from '../http/head.ts';

/** How long a refused client that never reads may hold its socket. */
const REFUSED_LINGER_MS = 5000;

export type ErrorResponseOptions = {
  /** End the connection after the response, for requests whose body must not be read as the next request. */
  close?: boolean;
  /** Headers a refusal needs besides the standard ones (Proxy-Authenticate on a 407). */
  headers?: HeaderPairs;
};

/** For plain HTTP requests answered through http.ServerResponse. */
export function sendErrorResponse(
  res: http.ServerResponse,
  err: WsgateError,
  options: ErrorResponseOptions = {},
): void {
  const status = errorStatus(err);
  if (res.headersSent) {
    // Too late for a status: cut the response so the client sees it was incomplete.
    res.destroy();
    return;
  }
  const body = errorBody(err);
  for (const [name, value] of options.headers ?? []) res.setHeader(name, value);
  if (err.retryAfter !== undefined) res.setHeader('retry-after', String(err.retryAfter));
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    // The body may quote what the client sent (a host, a path, an origin): never let a browser sniff it as HTML.
    'x-content-type-options': 'nosniff',
    'x-wsgate-error': err.code,
    ...(options.close ? { connection: 'close' } : {}),
  });
  res.end(body);
}

/** For upgrade and CONNECT requests, where there is only the raw socket. The connection is closed after it. */
export function writeErrorToSocket(socket: net.Socket, err: WsgateError, extra: HeaderPairs = []): void {
  // A refused WebSocket handshake ends here, whoever refused it (front, entry, Upgrade forwarder).
  handshakeDone(socket, err.code);
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = errorBody(err);
  socket.end(errorResponseHead(err, body, extra) + body);
  // Whatever the client sends after a refused request is read and dropped (never parsed), so its FIN is seen and
  // the socket closes promptly; a client that never reads must not keep it open forever either. A deadline, not an
  // idle timer: every byte read restarts an idle timer, so a client trickling bytes would hold the socket.
  socket.resume();
  const linger = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
}
