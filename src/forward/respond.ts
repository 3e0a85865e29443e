// Error answers on a raw socket (CONNECT and upgrade requests have no ServerResponse), with the extra headers a
// proxy needs (Proxy-Authenticate on a 407). The connection is closed after the answer.
import { STATUS_CODES } from 'node:http';
import type net from 'node:net';
import type { WsgateError } from '../errors.ts';
import { errorBody } from '../front/error-response.ts';
import { type HeaderPairs, serializeResponseHead } from '../websocket/handshake.ts';

export function writeProxyError(socket: net.Socket, err: WsgateError, extra: HeaderPairs = []): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = err.status ?? 502;
  const body = errorBody(err);
  const head = serializeResponseHead(status, STATUS_CODES[status] ?? 'Error', [
    ...extra,
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['Content-Length', String(Buffer.byteLength(body))],
    ['X-Content-Type-Options', 'nosniff'],
    ['Connection', 'close'],
    ['X-Wsgate-Error', err.code],
  ]);
  socket.end(head + body);
  // A client that never reads must not hold the socket open.
  socket.setTimeout(5000, () => socket.destroy());
}
