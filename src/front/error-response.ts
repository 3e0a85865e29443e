// Writes wsgate's own error responses: the status from the error table, an `x-wsgate-error` header with
// the stable code, and a short plain-text body that says what happened and what to do.
import type http from 'node:http';
import { STATUS_CODES } from 'node:http';
import type net from 'node:net';
import type { WsgateError } from '../errors.ts';
import { serializeResponseHead } from '../websocket/handshake.ts';

export function errorBody(err: WsgateError): string {
  return `wsgate: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}code: ${err.code}\n`;
}

/**
 * For plain HTTP requests answered through http.ServerResponse. `close` ends the connection after the response,
 * for requests whose body (if any) must not be read as the next request.
 */
export function sendErrorResponse(res: http.ServerResponse, err: WsgateError, options: { close?: boolean } = {}): void {
  const status = err.status ?? 502;
  if (res.headersSent) {
    // Too late for a status: cut the response so the client sees it was incomplete.
    res.destroy();
    return;
  }
  const body = errorBody(err);
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

/** For upgrade requests, where we only have the raw socket. The connection is closed after the response. */
export function writeErrorToSocket(socket: net.Socket, err: WsgateError): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = err.status ?? 502;
  const body = errorBody(err);
  const head = serializeResponseHead(status, STATUS_CODES[status] ?? 'Error', [
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['Content-Length', String(Buffer.byteLength(body))],
    ['X-Content-Type-Options', 'nosniff'],
    ['Connection', 'close'],
    ['X-Wsgate-Error', err.code],
  ]);
  socket.end(head + body);
  // Whatever the client sends after a refused request is read and dropped (never parsed), so its FIN is seen and
  // the socket closes promptly; a client that never reads must not keep it open forever either.
  socket.resume();
  socket.setTimeout(5000, () => socket.destroy());
}
