// A TLS listener's failed handshakes: one tls.handshake_failed line each, and the socket closed at once. Node's
// https server would also hand the failure to the HTTP server's 'clientError' (where the front answers parser
// errors), which would write a plain-text HTTP answer into a TLS handshake and then linger on a socket whose idle
// timer every trickled byte restarts. A failed handshake has no HTTP to answer: it ends here.
import type net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from '../log/logger.ts';
import { NO_COMMON_ALPN_CODE, NO_COMMON_ALPN_TEXT } from '../tls/server-certs.ts';
import { adoptProxiedPeer } from './proxy-header.ts';

/**
 * Logs and closes every failed handshake of `server`, before anything else hears of it. Returns whether a socket
 * is one of those, for the 'clientError' handler to leave alone. `log` is asked for at each line (a listener renamed
 * by a reload logs under its new name).
 */
export function handleTlsHandshakeFailures(server: tls.Server, log: () => Logger): (socket: net.Socket) => boolean {
  const failed = new WeakSet<net.Socket>();
  server.prependListener('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    failed.add(socket);
    adoptProxiedPeer(socket);
    log().info(
      {
        event: 'tls.handshake_failed',
        code: 'WSG_TLS_HANDSHAKE',
        reason: err.code ?? err.message,
        client: socket.remoteAddress,
      },
      `TLS handshake with ${socket.remoteAddress ?? 'a client'} failed: ${err.code === NO_COMMON_ALPN_CODE ? NO_COMMON_ALPN_TEXT : (err.code ?? err.message)}`,
    );
    socket.destroy();
  });
  return (socket) => failed.has(socket);
}
