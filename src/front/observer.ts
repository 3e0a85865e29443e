// What a front tells an instance's observers (the metrics) besides the WebSocket events: each HTTP request's
// outcome as its access line is written, and how each WebSocket handshake ended. Plain calls with a few strings
// and numbers, so an observer costs nothing per request beyond what it does itself; the tap's per-frame path is
// not involved.
import type http from 'node:http';
import type net from 'node:net';
import { handshakeDone, watchHandshake } from '../events.ts';
import type { SpareResult } from '../upstream/spares.ts';
import { type AccessFields, answeredStatus } from './access.ts';

export type FrontObserver = {
  /**
   * An HTTP request's response closed: the access line's listener, route, status (0 when nobody was answered) and
   * code, and how many times it was sent again to the upstream.
   */
  request(
    listener: string,
    route: string | undefined,
    status: number,
    code: string | undefined,
    retries?: number,
  ): void;
  /**
   * How a WebSocket handshake ended: "101" (joined), the upstream's refusal status ("404"), wsgate's own error code
   * ("WSG_NO_ROUTE") or "client_closed" (the client left before an answer). `conn` is the connection's id, the
   * same as the open event's when the result is 101.
   */
  handshake(listener: string, conn: string, result: string): void;
  /**
   * How a CONNECT ended before its tunnel carried anything: "200" (the tunnel opened), wsgate's error code for its
   * refusal (WSG_FORWARD_DENIED, WSG_PROXY_AUTH_REQUIRED, WSG_UPSTREAM_TIMEOUT, …) or "client_closed" (the client
   * left first).
   */
  tunnel(listener: string, result: string): void;
  /**
   * A connection closed before any request could be read: over limits.maxConnections or maxConnectionsPerClient
   * (WSG_TOO_MANY_CONNECTIONS), or without a valid PROXY protocol header (WSG_PROXY_HEADER_INVALID, _TIMEOUT).
   */
  connectionRefused(listener: string, code: string): void;
  /** What became of a spare upstream connection (upstream/spares.ts, upstreams[].preconnect). */
  spare(upstream: string, result: SpareResult): void;
};

/** Reports a request's outcome once its response closes (the access line's fields, as the handler filled them). */
export function observeRequest(
  observer: FrontObserver,
  listener: string,
  res: http.ServerResponse,
  access: AccessFields,
): void {
  res.once('close', () => observer.request(listener, access.route, answeredStatus(res), access.code, access.retries));
}

/**
 * Watches an upgrade's socket for its handshake result, reported where the answer is written (events.ts
 * handshakeDone: the error writer, the Upgrade forwarder); a client that leaves before any answer is "client_closed".
 */
export function observeUpgrade(observer: FrontObserver, listener: string, socket: net.Socket, conn: string): void {
  watchResult(socket, (result) => observer.handshake(listener, conn, result));
}

/** The same for a CONNECT: its result is reported where the 200 (forward/connect.ts) or the refusal is written. */
export function observeConnect(observer: FrontObserver, listener: string, socket: net.Socket): void {
  watchResult(socket, (result) => observer.tunnel(listener, result));
}

/** `report` gets the result handshakeDone is given for `socket`, or "client_closed" when it closes first. */
function watchResult(socket: net.Socket, report: (result: string) => void): void {
  watchHandshake(socket, report);
  socket.on('close', () => handshakeDone(socket, 'client_closed'));
}
