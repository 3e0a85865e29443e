// The limits every entry enforces, and the Node server options that carry them. One place, so a reverse listener,
// a forward listener and the requests inside its tunnels can never disagree about what a client may send.
import type http from 'node:http';
import { WsgateError } from '../errors.ts';
import type { WsEvent } from '../events.ts';
import type { Logger } from '../log/logger.ts';
import { plainAddress } from '../net/ip.ts';
import type { RuleSet } from '../rules/rule-set.ts';
import type { KeyLog } from '../tls/keylog.ts';
import type { SessionTap } from '../websocket/session.ts';
import type { FrontObserver } from './observer.ts';

export type FrontLimits = {
  maxHeaderBytes: number;
  headersTimeout: number;
  /** The longest pause between two reads of a request body (0 = off); see body-timeout.ts. */
  bodyTimeout: number;
  connectTimeout: number;
  handshakeTimeout: number;
  responseTimeout: number;
  idleTimeout: number;
  maxBufferedBytes: number;
  maxRequestLineBytes: number;
  maxHeaderCount: number;
  maxConnections: number;
  maxConnectionsPerClient: number;
  /** maxConnectionsPerClient does not count loopback clients (default true). */
  exemptLoopbackClients?: boolean | undefined;
  /** IPv6 clients count as their network of this many bits (default 64). */
  clientIpv6Prefix?: number | undefined;
  /** WebSocket handshakes a listener admits per second (handshake-rate.ts); 0 or absent: no limit. */
  maxHandshakesPerSecond?: number | undefined;
  /** WebSocket handshakes one client address may make per second on a listener; 0 or absent: no limit. */
  maxHandshakesPerClientPerSecond?: number | undefined;
};

/**
 * Default of limits.maxRequestLineBytes: the longest request line accepted (method, target and version). RFC 9112 §3
 * sets no limit and recommends at least 8000 octets; Node has none of its own below maxHeaderSize, so it is checked
 * here.
 */
export const MAX_REQUEST_LINE_BYTES = 8 * 1024;

/**
 * Default of limits.maxHeaderCount. Node 24 answers one field more with HPE_HEADER_OVERFLOW (431) rather than
 * dropping the rest silently, as older Node did.
 */
export const MAX_HEADER_COUNT = 100;

/** A TLS handshake a client owes before its request head, when limits.headersTimeout is off. */
export const DEFAULT_TLS_HANDSHAKE_MS = 120_000;

/** The request line as it arrived; Node keeps the target as latin1, so length is the byte count. */
export function requestLineLength(req: http.IncomingMessage): number {
  return `${req.method ?? ''} ${req.url ?? ''} HTTP/${req.httpVersion}`.length;
}

/** limits.maxRequestLineBytes exceeded: the 414 to answer with, logged once. */
export function rejectLongRequestLine(req: http.IncomingMessage, limit: number, log: Logger): WsgateError {
  const err = new WsgateError('WSG_URI_TOO_LONG', { limit });
  log.warn(
    {
      event: 'http.client_error',
      code: err.code,
      status: err.status,
      method: req.method,
      bytes: requestLineLength(req),
      client: req.socket.remoteAddress,
    },
    err.message,
  );
  return err;
}

export function serverOptions(limits: FrontLimits): http.ServerOptions {
  return {
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeout,
    // Uploads and long polls may take long; the slowloris guard is headersTimeout.
    requestTimeout: 0,
    // headersTimeout is only checked this often; Node's default of 30 s would make it 40 s in practice. A tenth of
    // the limit (at most 1 s) keeps a 408 within 10 % of it; test/hostile/timeouts.test.ts holds it to that.
    connectionsCheckingInterval: Math.min(1000, Math.max(50, (limits.headersTimeout || 10_000) / 10)),
    keepAliveTimeout: 5000,
    // Per-socket write buffer: a relay pauses its reader once the other side holds this much unsent.
    highWaterMark: limits.maxBufferedBytes,
  };
}

/** The limits a running server can change without a restart (reload). */
export function applyLiveLimits(server: http.Server, limits: FrontLimits): void {
  server.maxHeadersCount = limits.maxHeaderCount;
  server.maxConnections = limits.maxConnections;
}

/**
 * limits.maxConnections: a connection Node drops on a full listener gets one line (the front never sees the socket)
 * and `refused` hears of it. The client's IPv4-mapped form is written as IPv4, as the front writes admitted ones.
 */
export function logDroppedConnections(
  server: http.Server,
  log: () => Logger,
  maxConnections: () => number,
  refused: () => void,
): void {
  server.on('drop', (data?: { remoteAddress?: string }) => {
    const client = data?.remoteAddress === undefined ? undefined : plainAddress(data.remoteAddress);
    const limit = maxConnections();
    log().warn(
      { event: 'conn.limit', scope: 'listener', client, limit },
      `connection refused: the listener holds limits.maxConnections (${limit})`,
    );
    refused();
  });
}

/** What every entry kind's handler is configured with, besides its own routes or forward policy. */
export type EntrySettings = {
  limits: FrontLimits;
  showSecrets: boolean;
  /** Tap settings shared by every route or tunnel; each names its own level. */
  tap: Omit<SessionTap, 'level'>;
  /** The instance's traffic sink. */
  emit: (event: WsEvent) => void;
  /** The NSS key log (tls.keyLog or SSLKEYLOGFILE), when one is configured. */
  keyLog?: KeyLog | undefined;
  /** The config's rules, compiled once per config by app/ (docs/rules.md, "For the edges"); none when absent. */
  rules?: RuleSet | undefined;
  /** The instance's metrics (request outcomes, handshake results), when the admin listener is on. */
  observer?: FrontObserver | undefined;
};
