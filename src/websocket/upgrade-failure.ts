// The records of a handshake that did not open (the inspector's list, the traffic file): what the Upgrade
// forwarder knows at the moment it gives up, and whether a server was dialed yet.
import type http from 'node:http';
import { WsgateError } from '../errors.ts';
import type { HeaderPairs } from '../http/head.ts';
import type { UpstreamTarget } from '../upstream/connect.ts';
import { type Failure, failedHandshake } from './failed-handshake.ts';
import type { UpgradeContext } from './upgrade.ts';

/**
 * When the handshake arrived, when dialing its upstream began and when the connection was made (performance.now()),
 * and how long the connection's TLS handshake took.
 */
export type HandshakeClock = { started: number; dialing?: number; connected?: number; tlsMs?: number | undefined };

/**
 * The handshake's upstream; `dialed` once a server of it was picked and dialed. Before that (a handshake fault's
 * refusal, a pool whose servers are all drained) target.url is only the upstream's first server: a failure then
 * names no server, which would say one was tried.
 */
export type HandshakeTarget = UpstreamTarget & { dialed: boolean };

/** A handshake that did not open, for the inspector's list and the traffic file (events.ts WsFailedEvent). */
export function emitFailure(
  req: http.IncomingMessage,
  ctx: UpgradeContext,
  target: HandshakeTarget,
  clock: HandshakeClock,
  failure: Failure,
): void {
  const at = {
    conn: ctx.connId,
    route: ctx.route.name,
    upstream: target.name,
    server: ctx.route.upstream.pool === undefined || !target.dialed ? undefined : target.url.origin,
    client: ctx.client ?? req.socket.remoteAddress,
    peer: ctx.peer ?? req.socket.remoteAddress,
    tap: ctx.tap.level,
    ...clock,
    showSecrets: ctx.showSecrets,
  };
  ctx.emit(failedHandshake(req, at, failure));
}

/** The client left before it was answered: one line, and a record with nginx's 499 (nobody was answered). */
export function clientLeft(
  req: http.IncomingMessage,
  ctx: UpgradeContext,
  target: HandshakeTarget,
  clock: HandshakeClock,
  seen: { forwarded?: HeaderPairs | undefined; response?: HeaderPairs | undefined },
): void {
  const err = new WsgateError('WSG_CLIENT_GONE', { ms: Math.round(performance.now() - clock.started) });
  ctx.log.info({ event: 'ws.client_gone', code: err.code, route: ctx.route.name, upstream: target.name }, err.message);
  emitFailure(req, ctx, target, clock, { status: 499, code: err.code, reason: err.message, ...seen });
}
