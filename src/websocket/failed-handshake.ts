// A WebSocket handshake that did not open, as the event the inspector's list and the traffic file take
// (events.ts WsFailedEvent). Built in two places: the forwarder (upgrade.ts) for handshakes a route took, and the
// entries for upgrades refused before any upstream was asked (no route, a denied Origin, the front's gate).
import type http from 'node:http';
import type { WsgateError } from '../errors.ts';
import type { TapLevel, WsFailedEvent } from '../events.ts';
import { clientFields } from '../http/forwarded.ts';
import { type HeaderPairs, rawToPairs } from '../http/head.ts';
import { redactPairs } from '../log/redact.ts';
import { isoNow } from './observer.ts';

/** What is known of the handshake: where it was going, as far as it got. */
export type FailedAt = {
  conn: string;
  /** Named when no route is (a refusal before routing); the store finds it from the route otherwise. */
  listener?: string | undefined;
  route?: string | undefined;
  upstream?: string | undefined;
  server?: string | undefined;
  client: string | undefined;
  peer: string | undefined;
  tap?: TapLevel | undefined;
  /** performance.now() when the handshake arrived. */
  started: number;
  /** performance.now() when the upstream connection was made, if it was. */
  connected?: number | undefined;
  /** performance.now() when dialing the upstream began, if it did. */
  dialing?: number | undefined;
  /** The upstream connection's TLS handshake (tls/handshake-time.ts), when it was made with TLS. */
  tlsMs?: number | undefined;
  showSecrets: boolean;
};

export type Failure = {
  /** The status the client was answered with (499 when it left first, as nginx logs it). */
  status: number;
  code?: string | undefined;
  reason: string;
  forwarded?: HeaderPairs | undefined;
  response?: HeaderPairs | undefined;
};

export function failedHandshake(req: http.IncomingMessage, at: FailedAt, failure: Failure): WsFailedEvent {
  const { status, code, reason } = failure;
  return {
    type: 'failed',
    conn: at.conn,
    time: isoNow(),
    ...(at.listener === undefined ? {} : { listener: at.listener }),
    ...(at.route === undefined ? {} : { route: at.route }),
    ...(at.upstream === undefined ? {} : { upstream: at.upstream }),
    ...(at.server === undefined ? {} : { server: at.server }),
    path: req.url ?? '/',
    ...clientFields(at.client, at.peer),
    ...(at.tap === undefined ? {} : { tap: at.tap }),
    handshakeMs: Math.round(performance.now() - at.started),
    ...(at.connected === undefined ? {} : { dialMs: Math.round(at.connected - at.started) }),
    ...(at.tlsMs === undefined ? {} : { tlsMs: at.tlsMs }),
    ...(at.dialing !== undefined && at.connected === undefined ? { endedInDial: true as const } : {}),
    status,
    ...(code === undefined ? {} : { code }),
    reason,
    request: redactPairs(rawToPairs(req.rawHeaders), at.showSecrets),
    forwarded: redactPairs(failure.forwarded ?? [], at.showSecrets),
    response: redactPairs(failure.response ?? [], at.showSecrets),
  };
}

/** wsgate's own refusal as a failure: its status and code. */
export function failureOf(err: WsgateError, forwarded?: HeaderPairs): Failure {
  return { status: err.status ?? 502, code: err.code, reason: err.message, ...(forwarded ? { forwarded } : {}) };
}
