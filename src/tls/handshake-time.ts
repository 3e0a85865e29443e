// How long wsgate's TLS handshake with an upstream took, kept beside the socket for whoever reports the connection:
// the HAR export's `ssl` timing of a wss:// handshake (reverse routes, forward dials, intercepted tunnels).
import type net from 'node:net';
import type tls from 'node:tls';

const handshakeMs = new WeakMap<object, number>();

/**
 * Times `socket`'s TLS handshake: from its TCP connection (from now when the socket under it is open already, as
 * over a tunnel) to the internal 'secure' event, which comes before Node's certificate check.
 */
export function timeTlsHandshake(socket: tls.TLSSocket): void {
  let started = performance.now();
  if (socket.connecting) {
    socket.once('connect', () => {
      started = performance.now();
    });
  }
  socket.prependOnceListener('secure', () => handshakeMs.set(socket, Math.round(performance.now() - started)));
}

/** Milliseconds of the TLS handshake timeTlsHandshake watched; undefined for plain TCP or one not watched. */
export function tlsHandshakeMs(socket: net.Socket): number | undefined {
  return handshakeMs.get(socket);
}
