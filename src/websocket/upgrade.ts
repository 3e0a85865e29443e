// wsgate's own Upgrade forwarder: sends the client's handshake to the upstream, reads the upstream's answer,
// and either joins the two sockets after a valid 101 or relays the refusal exactly and closes.
// It is ours rather than http-proxy-3's because the frame tap, corporate-proxy tunnels and exact relays of
// failed handshakes all need the raw sockets and the raw response head.
import type http from 'node:http';
import type net from 'node:net';
import type { RouteUpstream } from '../config/resolve.ts';
import { formatDuration } from '../config/units.ts';
import { WsgateError } from '../errors.ts';
import { handshakeDone, type WsEvent } from '../events.ts';
import { clientFields } from '../http/forwarded.ts';
import { type HeaderPairs, headerValue, rawToPairs, serializeRequestHead } from '../http/head.ts';
import { reportInternal } from '../log/internal.ts';
import type { Logger } from '../log/logger.ts';
import { redactPairs } from '../log/redact.ts';
import type { ConnectionRules } from '../rules/types.ts';
import { tlsHandshakeMs } from '../tls/handshake-time.ts';
import { connectUpstream, type UpstreamTarget } from '../upstream/connect.ts';
import { isSpare, spareLost } from '../upstream/spares.ts';
import { watchClientLeaving } from './client-watch.ts';
import { failureOf } from './failed-handshake.ts';
import { checkUpgradeResponse, isOfferedProtocol } from './handshake.ts';
import { planHandshake, withoutExtensions } from './handshake-faults.ts';
import { hasLinkFaults } from './link-shaper.ts';
import { relayStarter } from './relay.ts';
import { type LiveSession, type SessionOptions, type SessionTap, startSession } from './session.ts';
import { clientLeft, emitFailure, type HandshakeClock, type HandshakeTarget } from './upgrade-failure.ts';
import { readResponseHead, relayInterim, relayRefusal } from './upstream-answer.ts';
import { buildUpstreamHandshake, upstreamTarget } from './upstream-request.ts';

export type UpgradeRoute = {
  name: string;
  upstream: RouteUpstream;
  changeOrigin: boolean;
};

export type UpgradeLimits = {
  connectTimeout: number;
  handshakeTimeout: number;
  idleTimeout: number;
  maxHeaderBytes: number;
  maxBufferedBytes: number;
};

/** What the upgrade gives its dial: the limits, and a signal that aborts when the client leaves meanwhile. */
export type UpgradeDialOptions = {
  connectTimeout: number;
  highWaterMark: number;
  signal: AbortSignal;
  /** A new connection, not a spare (the handshake is sent again after a spare closed under it). */
  fresh?: boolean | undefined;
};

export type UpgradeContext = {
  connId: string;
  log: Logger;
  route: UpgradeRoute;
  /** The origin-form target to send (a reverse route's canonical or raw path); default: the request's own. */
  target?: string | undefined;
  limits: UpgradeLimits;
  showSecrets: boolean;
  /** Scheme the client used to reach wsgate, for X-Forwarded-Proto and Forwarded. */
  clientScheme: 'http' | 'https';
  /**
   * Set on reverse routes: wsgate states the forwarding fields, keeping a trusted peer's chain (the listener's
   * trustForwarded). Undefined on forward-proxy entries, which add none.
   */
  forwarded?: { trusted: boolean } | undefined;
  /** This proxy's Via entry for the upstream handshake (absolute-form forward entries); none when undefined. */
  via?: string | undefined;
  /** Sec-WebSocket-Key from the already validated request. */
  key: string;
  /**
   * The client as the entry knows it, for the open line: behind trusted proxies the one X-Forwarded-For names.
   * Default: the peer's address (which the open line then also gives as `peer` when they differ).
   */
  client?: string | undefined;
  /** The direct peer when the socket's address came from a PROXY protocol header (the balancer that wrote it). */
  peer?: string | undefined;
  /** How much of the connection the traffic log shows. */
  tap: SessionTap;
  /** The instance's traffic sink. */
  emit: (event: WsEvent) => void;
  /** Answers the client with wsgate's own error and closes (the front's one error writer). */
  refuse: (client: net.Socket, err: WsgateError) => void;
  /** Called with the live connection so shutdown can end it. */
  /** `server`: the origin of the pool's server it reached (upstreams[].servers), for closing a drained one's. */
  onSession?: (session: LiveSession, conn: string, server: string | undefined) => void;
  /**
   * Opens the upstream socket (already connected, TLS done for wss). Defaults to a direct connection; forward
   * mode and corporate-proxy chaining pass their own (e.g. a CONNECT tunnel through an upstream proxy). For an
   * upstream with several servers (route.upstream.pool) it picks one, moves on to another when a connection fails,
   * and sets target.url to the server it reached.
   */
  dial?: (target: UpstreamTarget, options: UpgradeDialOptions) => Promise<net.Socket>;
  /** What the rules say about this connection (rules/types.ts): handshake faults, connection faults, the relay. */
  rules?: ConnectionRules | undefined;
  /** The handshake arrived inside a CONNECT tunnel (stripUpgrade may leave those alone: inTunnels false). */
  inTunnel?: boolean | undefined;
  /** wsgate's own pings on a silent connection, and the running config's rules (see SessionOptions). */
  keepalive?: SessionOptions['keepalive'];
  ruleSource?: SessionOptions['ruleSource'];
};

const HALF_CLOSE_LINGER_MS = 30_000;

const NO_BYTES = Buffer.alloc(0);

/**
 * Handles one upgrade request end to end. Resolves once the connection is joined (or refused); never rejects:
 * every failure becomes a response to the client and a log line, and a bug (a throw nobody expected) one
 * WSG_INTERNAL line with the client's socket closed, never an unhandled rejection that would stop the process.
 */
export function forwardUpgrade(req: http.IncomingMessage, client: net.Socket, ctx: UpgradeContext): Promise<void> {
  return proxyUpgrade(req, client, ctx).catch((error: unknown) => internalError(ctx.log, error, client));
}

/** A throw while a joined connection ends is a bug too; its own function, so the handler captures only these. */
function guardSession(done: Promise<void>, log: Logger, client: net.Socket, upstream: net.Socket): void {
  done.catch((error: unknown) => internalError(log, error, client, upstream));
}

/** A bug: one WSG_INTERNAL line (reportInternal), and the connection's sockets closed. */
function internalError(log: Logger, error: unknown, ...sockets: (net.Socket | undefined)[]): void {
  reportInternal(log, error);
  for (const socket of sockets) socket?.destroy();
}

/**
 * RFC 6455 §4.1: a client fails a connection whose 101 selects a subprotocol it did not offer (or when it offered
 * none). One warn line saying so; the names go in fields, which the log's line pass redacts when token-shaped.
 */
function warnIfUnoffered(req: http.IncomingMessage, ctx: UpgradeContext, upstream: string, protocol: string): void {
  const offered = req.headers['sec-websocket-protocol'];
  if (isOfferedProtocol(protocol, offered)) return;
  const offeredProtocol = offered === undefined ? null : Array.isArray(offered) ? offered.join(', ') : offered;
  ctx.log.warn(
    {
      event: 'ws.handshake.unoffered_protocol',
      conn: ctx.connId,
      route: ctx.route.name,
      upstream,
      protocol,
      offeredProtocol,
    },
    offeredProtocol === null
      ? "the upstream's 101 selects a subprotocol, but the client offered none: the client will fail the connection (RFC 6455 §4.1)"
      : "the upstream's 101 selects a subprotocol the client did not offer: the client will fail the connection (RFC 6455 §4.1)",
  );
}

async function proxyUpgrade(req: http.IncomingMessage, client: net.Socket, ctx: UpgradeContext): Promise<void> {
  const { log, route, limits } = ctx;
  const target: HandshakeTarget = { name: route.upstream.name, url: new URL(route.upstream.url), dialed: false };
  const clock: HandshakeClock = { started: performance.now() };
  let upstream: net.Socket | undefined;
  let clientGone = false;
  // A client that leaves while the upstream is dialed ends the dial too: a server or an upstream proxy that does
  // not answer would otherwise hold a socket for connectTimeout on behalf of nobody.
  const dialing = new AbortController();
  const onClientClose = () => {
    clientGone = true;
    upstream?.destroy();
    if (upstream === undefined)
      dialing.abort(new WsgateError('WSG_CLIENT_GONE', { ms: Math.round(performance.now() - clock.started) }));
  };
  client.on('close', onClientClose);

  // Handshake faults (docs/faults.md): refused here, or sent on as a plain GET, or without its extensions.
  const plan = planHandshake(ctx.rules?.handshake, ctx.inTunnel === true);
  for (const line of plan.lines) log.info({ ...line.fields, route: route.name }, line.message);
  if (plan.refusal !== undefined) {
    client.off('close', onClientClose);
    emitFailure(req, ctx, target, clock, failureOf(plan.refusal));
    ctx.refuse(client, plan.refusal);
    return;
  }
  // A client that ends its side while the upstream is asked has left (client-watch.ts): its 'close' ends the wait.
  const stopWatching = watchClientLeaving(client, () => client.destroy());
  let sent: HeaderPairs | undefined;

  let timedOut = false;
  // A timer callback that threw would be an uncaught exception: it ends this upgrade instead.
  const onDeadline = () => {
    timedOut = true;
    const err = new WsgateError('WSG_HANDSHAKE_TIMEOUT', {
      upstream: target.name,
      timeout: formatDuration(limits.handshakeTimeout),
    });
    log.warn({ event: 'ws.handshake_timeout', code: err.code, upstream: target.name }, err.message);
    upstream?.destroy();
    stopWatching();
    emitFailure(req, ctx, target, clock, failureOf(err, sent));
    ctx.refuse(client, err);
  };
  let deadline: NodeJS.Timeout | undefined;

  try {
    const dial = ctx.dial ?? connectUpstream;
    // Each connection attempt has its own limit (connectTimeout, per server of a pool); handshakeTimeout starts once
    // one is made, so a pool's failover past a server that never answers is not cut short (nginx's
    // proxy_connect_timeout and proxy_read_timeout).
    const dialOptions = {
      connectTimeout: limits.connectTimeout,
      highWaterMark: limits.maxBufferedBytes,
      signal: dialing.signal,
    };
    clock.dialing = performance.now();
    target.dialed = true;
    upstream = await dial(target, dialOptions);
    let connected = performance.now();
    clock.connected = connected;
    clock.tlsMs = tlsHandshakeMs(upstream);
    if (clientGone) {
      upstream.destroy();
      clientLeft(req, ctx, target, clock, {});
      return;
    }
    deadline = setTimeout(() => {
      try {
        onDeadline();
      } catch (error) {
        internalError(log, error, client, upstream);
      }
    }, limits.handshakeTimeout);
    // The server dialled: with upstreams[].servers, the dial may have moved on to another (target.url).
    let server = target.url;
    let headers: HeaderPairs = [];
    const ask = (socket: net.Socket) => {
      server = target.url;
      const path = upstreamTarget(server, ctx.target ?? req.url ?? '/');
      headers = plan.headers(buildUpstreamHandshake(req, ctx, server));
      // The relay re-encodes every message: by default (relay.deflate strip) nothing is compressed on either side.
      if (ctx.rules?.needsRelay === true && ctx.rules.deflate === 'strip') headers = withoutExtensions(headers);
      // latin1: node:http read each header byte as one character; written back the same way, they stay the bytes
      // the client sent (UTF-8 would turn every byte above 0x7f into two).
      socket.write(serializeRequestHead('GET', path, headers), 'latin1');
      sent = headers;
      // Bytes the client sent behind its handshake wait for a valid 101: after a refusal they could otherwise reach
      // the upstream as a second, unrouted request (request smuggling).
      // Interim 1xx heads go to the client without their hop-by-hop fields; it waits on for the answer, as wsgate does.
      return readResponseHead(socket, limits.maxHeaderBytes, (interim) => relayInterim(client, interim));
    };
    let answer: Awaited<ReturnType<typeof readResponseHead>>;
    try {
      answer = await ask(upstream);
    } catch (error) {
      // A spare the server closed as it was taken (upstream/spares.ts): nothing was answered, so the handshake is
      // sent again on a new connection, as HTTP clients retry a request on a kept-alive connection that closed.
      if (timedOut || clientGone || !isSpare(upstream) || upstream.bytesRead > 0) throw error;
      log.debug(
        { event: 'ws.spare_closed', route: route.name, upstream: target.name },
        'the spare connection closed as it was taken: the handshake goes on a new one',
      );
      spareLost(upstream);
      upstream.destroy();
      // While it is dialed, a client that leaves aborts the dial (onClientClose), as for the first one.
      upstream = undefined;
      upstream = await dial(target, { ...dialOptions, fresh: true });
      connected = performance.now();
      clock.connected = connected;
      clock.tlsMs = tlsHandshakeMs(upstream);
      // The deadline answered the client meanwhile, or the client left: either was reported already or is now.
      if (timedOut || clientGone) {
        upstream.destroy();
        if (!timedOut) clientLeft(req, ctx, target, clock, {});
        return;
      }
      answer = await ask(upstream);
    }
    const { head, buffered } = answer;
    clearTimeout(deadline);
    if (client.destroyed) {
      upstream.destroy();
      clientLeft(req, ctx, target, clock, { forwarded: headers, response: head.headers });
      return;
    }
    const rest = buffered.subarray(head.length);
    // A stripped handshake is no handshake: whatever the upstream answers is relayed, as a stripping proxy does.
    if (head.statusCode !== 101 || plan.stripUpgrade) {
      log.info(
        {
          event: 'ws.refused',
          route: route.name,
          upstream: target.name,
          status: head.statusCode,
          ms: Math.round(performance.now() - clock.started),
        },
        `upstream refused the WebSocket upgrade with ${head.statusCode}`,
      );
      handshakeDone(client, String(head.statusCode));
      emitFailure(req, ctx, target, clock, {
        status: head.statusCode,
        reason: plan.stripUpgrade
          ? `the Upgrade header was stripped (stripUpgrade fault); the upstream answered ${head.statusCode}`
          : `the upstream answered ${head.statusCode} ${head.statusMessage}`.trimEnd(),
        forwarded: headers,
        response: head.headers,
      });
      stopWatching();
      relayRefusal(client, upstream, head, rest, limits.handshakeTimeout, limits.maxBufferedBytes);
      return;
    }
    const check = checkUpgradeResponse(head, ctx.key);
    if (!check.ok) {
      const err = new WsgateError('WSG_UPSTREAM_BAD_RESPONSE', { upstream: target.name, detail: check.detail });
      log.warn({ event: 'ws.handshake.bad_accept', code: err.code, upstream: target.name }, err.message);
      upstream.destroy();
      stopWatching();
      emitFailure(req, ctx, target, clock, { ...failureOf(err, headers), response: head.headers });
      ctx.refuse(client, err);
      return;
    }
    const protocol = headerValue(head.headers, 'sec-websocket-protocol');
    // The 101 goes on as it came (wsgate does not choose for the client), but a debugging proxy says why the client
    // will drop it. Only a 101 that names a subprotocol is compared; most handshakes pay one lookup, done anyway.
    if (protocol !== undefined) warnIfUnoffered(req, ctx, target.name, protocol);
    client.off('close', onClientClose);
    stopWatching();
    handshakeDone(client, '101');
    client.setNoDelay(true);
    // The 101 goes back byte for byte as the upstream wrote it: header case, order and extensions intact.
    client.write(buffered.subarray(0, head.length));
    // Relayed when a message rule can touch the connection (the relay reads the early frames); else passthrough,
    // where a link fault's shaper writes them (startSession) and injections at open and every: are inserted.
    const relayed = ctx.rules?.needsRelay === true ? ctx.rules : undefined;
    if (rest.length > 0 && relayed === undefined && !hasLinkFaults(ctx.rules?.connection)) client.write(rest);
    const session = (relayed === undefined ? startSession : relayStarter(relayed))(
      client,
      upstream,
      {
        conn: ctx.connId,
        route: route.name,
        upstream: target.name,
        ...(route.upstream.pool === undefined ? {} : { server: server.origin }),
        path: req.url ?? '/',
        ...clientFields(ctx.client ?? req.socket.remoteAddress, ctx.peer ?? req.socket.remoteAddress),
        handshakeMs: Math.round(performance.now() - clock.started),
        dialMs: Math.round(connected - clock.started),
        tlsMs: clock.tlsMs,
        spare: isSpare(upstream),
        request: redactPairs(rawToPairs(req.rawHeaders), ctx.showSecrets),
        forwarded: redactPairs(headers, ctx.showSecrets),
        response: redactPairs(head.headers, ctx.showSecrets),
        protocol,
        extensions: headerValue(head.headers, 'sec-websocket-extensions'),
      },
      {
        idleTimeout: limits.idleTimeout,
        halfCloseLinger: HALF_CLOSE_LINGER_MS,
        tap: ctx.tap,
        emit: ctx.emit,
        faults: ctx.rules?.connection,
        maxBufferedBytes: limits.maxBufferedBytes,
        keepalive: ctx.keepalive,
        // On the passthrough the session inserts them; a relayed connection's relay sends its rules' own.
        injections: relayed === undefined ? ctx.rules?.injections : undefined,
        ruleSource: ctx.ruleSource,
      },
      // Bytes the client sent with its handshake wait unread in its socket (the front put them back) and are read
      // by the joiner like any later ones.
      { toUpstream: NO_BYTES, toClient: rest },
    );
    ctx.onSession?.(session, ctx.connId, route.upstream.pool === undefined ? undefined : server.origin);
    upstream.resume();
    // Not awaited: the request, its headers and buffers and the context would live as long as the connection.
    guardSession(session.done, log, client, upstream);
  } catch (error) {
    clearTimeout(deadline);
    client.off('close', onClientClose);
    stopWatching();
    upstream?.destroy();
    // The deadline answered already; or the upstream socket was closed by wsgate because the client left, which is
    // not the upstream's failure: neither is an upstream error.
    if (timedOut) return;
    if (clientGone) {
      clientLeft(req, ctx, target, clock, { forwarded: sent });
      return;
    }
    // Every server drained: the pool refused before picking one.
    if (error instanceof WsgateError && error.code === 'WSG_UPSTREAM_DRAINED') target.dialed = false;
    const err =
      error instanceof WsgateError
        ? error
        : new WsgateError('WSG_UPSTREAM_BAD_RESPONSE', {
            upstream: target.name,
            detail: (error as Error).message,
          });
    log.warn({ event: 'ws.upstream_error', code: err.code, route: route.name, upstream: target.name }, err.message);
    emitFailure(req, ctx, target, clock, failureOf(err, sent));
    ctx.refuse(client, err);
  }
}
