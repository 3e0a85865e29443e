// wsgate's own Upgrade forwarder: sends the client's handshake to the upstream, reads the upstream's answer,
// and either joins the two sockets after a valid 101 or relays the refusal exactly and closes.
// It is ours rather than http-proxy-3's because the frame tap, corporate-proxy tunnels and exact relays of
// failed handshakes all need the raw sockets and the raw response head.
import type http from 'node:http';
import type net from 'node:net';
import { formatDuration } from '../config/units.ts';
import { WsgateError } from '../errors.ts';
import type { WsEvent } from '../events.ts';
import {
  type HeaderPairs,
  headerValue,
  parseResponseHead,
  type ResponseHead,
  rawToPairs,
  serializeRequestHead,
  serializeResponseHead,
} from '../http/head.ts';
import { stripHopByHop } from '../http/hop-by-hop.ts';
import type { Logger } from '../log/logger.ts';
import { redactPairs } from '../log/redact.ts';
import { connectUpstream, type UpstreamTarget } from '../upstream/connect.ts';
import { checkUpgradeResponse } from './handshake.ts';
import { type LiveSession, type SessionTap, startSession } from './session.ts';

export type UpgradeRoute = {
  name: string;
  upstream: { name: string; url: string };
  changeOrigin: boolean;
};

export type UpgradeLimits = {
  connectTimeout: number;
  handshakeTimeout: number;
  idleTimeout: number;
  maxHeaderBytes: number;
  maxBufferedBytes: number;
};

export type UpgradeContext = {
  connId: string;
  log: Logger;
  route: UpgradeRoute;
  limits: UpgradeLimits;
  showSecrets: boolean;
  /** Scheme the client used to reach wsgate, for X-Forwarded-Proto. */
  clientScheme: 'http' | 'https';
  /** Sec-WebSocket-Key from the already validated request. */
  key: string;
  /** How much of the connection the traffic log shows. */
  tap: SessionTap;
  /** The instance's traffic sink. */
  emit: (event: WsEvent) => void;
  /** Answers the client with wsgate's own error and closes (the front's one error writer). */
  refuse: (client: net.Socket, err: WsgateError) => void;
  /** Called with the live connection so shutdown can end it. */
  onSession?: (session: LiveSession) => void;
  /**
   * Opens the upstream socket (already connected, TLS done for wss). Defaults to a direct connection; forward
   * mode and corporate-proxy chaining pass their own (e.g. a CONNECT tunnel through an upstream proxy).
   */
  dial?: (target: UpstreamTarget, options: { connectTimeout: number; highWaterMark: number }) => Promise<net.Socket>;
};

const HALF_CLOSE_LINGER_MS = 30_000;

const NO_BYTES = Buffer.alloc(0);

/** Joins the upstream's base path and the client's request target, as http-proxy-3 does for web requests. */
export function upstreamTarget(upstream: URL, requestTarget: string): string {
  // Forward proxies receive absolute-form targets (`GET http://host/path`); origin servers expect origin-form.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(requestTarget)) {
    const absolute = new URL(requestTarget);
    requestTarget = absolute.pathname + absolute.search;
  }
  const base = upstream.pathname === '/' ? '' : upstream.pathname.replace(/\/$/, '');
  const target = requestTarget.startsWith('/') ? requestTarget : `/${requestTarget}`;
  const query = upstream.search && !target.includes('?') ? upstream.search : '';
  return base + target + query;
}

/** The handshake as it leaves wsgate: hop-by-hop headers replaced, X-Forwarded-* appended, Host per route. */
export function buildUpstreamHandshake(req: http.IncomingMessage, ctx: UpgradeContext, upstream: URL): HeaderPairs {
  const pairs = stripHopByHop(rawToPairs(req.rawHeaders)).filter(([name]) => {
    const lower = name.toLowerCase();
    return lower !== 'host' || !ctx.route.changeOrigin;
  });
  if (ctx.route.changeOrigin) pairs.unshift(['Host', upstream.host]);
  const clientIp = req.socket.remoteAddress ?? '';
  const appendTo = (name: string, value: string) => {
    const existing = pairs.findIndex(([n]) => n.toLowerCase() === name);
    if (existing === -1) pairs.push([name, value]);
    else pairs[existing] = [pairs[existing]![0], `${pairs[existing]![1]}, ${value}`];
  };
  appendTo('x-forwarded-for', clientIp);
  if (!pairs.some(([n]) => n.toLowerCase() === 'x-forwarded-proto'))
    pairs.push(['x-forwarded-proto', ctx.clientScheme]);
  if (!pairs.some(([n]) => n.toLowerCase() === 'x-forwarded-host') && req.headers.host) {
    pairs.push(['x-forwarded-host', req.headers.host]);
  }
  pairs.push(['Connection', 'Upgrade'], ['Upgrade', 'websocket']);
  return pairs;
}

/** Reads bytes until the upstream's response head is complete. */
function readResponseHead(upstream: net.Socket, maxBytes: number): Promise<{ head: ResponseHead; buffered: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const cleanup = () => {
      upstream.off('data', onData);
      upstream.off('end', onEnd);
      upstream.off('error', onError);
      upstream.off('close', onEnd);
    };
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const result = parseResponseHead(buffered, maxBytes);
      if (result.state === 'incomplete') return;
      cleanup();
      upstream.pause();
      if (result.state === 'invalid') reject(new Error(result.detail));
      else resolve({ head: result.head, buffered });
    };
    const onEnd = () => {
      cleanup();
      reject(Object.assign(new Error('closed before answering the handshake'), { code: 'ECONNRESET' }));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    upstream.on('data', onData);
    upstream.once('end', onEnd);
    upstream.once('error', onError);
    upstream.once('close', onEnd);
  });
}

/**
 * Relays a non-101 answer to the client and closes both connections: after a refused upgrade the client's
 * socket must not be reused, or bytes the client sends next could reach the upstream as a second request.
 */
function relayRefusal(
  client: net.Socket,
  upstream: net.Socket,
  head: ResponseHead,
  rest: Buffer,
  timeout: number,
): void {
  const headers = head.headers.filter(([n]) => {
    const lower = n.toLowerCase();
    return lower !== 'connection' && lower !== 'keep-alive';
  });
  headers.push(['Connection', 'close']);
  client.write(serializeResponseHead(head.statusCode, head.statusMessage, headers));
  // RFC 9110 §6.4.1: 1xx, 204 and 304 responses never have a body, whatever their headers say.
  const status = head.statusCode;
  const noBody = (status >= 100 && status < 200) || status === 204 || status === 304;
  const declared = headerValue(head.headers, 'content-length');
  const length = declared === undefined ? Number.NaN : Number(declared);
  let remaining = noBody ? 0 : Number.isFinite(length) && length >= 0 ? length : Number.POSITIVE_INFINITY;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    upstream.destroy();
    client.end();
    client.setTimeout(5000, () => client.destroy());
  };
  const forward = (chunk: Buffer) => {
    const part = chunk.subarray(0, Math.min(chunk.length, remaining));
    remaining -= part.length;
    if (part.length > 0) client.write(part);
    if (remaining <= 0) finish();
  };
  // A body without Content-Length runs until the upstream closes; bound that wait.
  const timer = setTimeout(finish, timeout);
  timer.unref();
  upstream.on('end', finish);
  upstream.on('close', finish);
  if (rest.length > 0 && remaining > 0) forward(rest);
  if (remaining > 0) {
    upstream.on('data', forward);
    upstream.resume();
  } else {
    finish();
  }
}

/**
 * Handles one upgrade request end to end. Resolves when the connection is over (or refused); never rejects:
 * every failure becomes a response to the client and a log line.
 */
export async function forwardUpgrade(
  req: http.IncomingMessage,
  client: net.Socket,
  ctx: UpgradeContext,
): Promise<void> {
  const { log, route, limits } = ctx;
  const url = new URL(route.upstream.url);
  const target: UpstreamTarget = { name: route.upstream.name, url };
  const started = performance.now();
  let upstream: net.Socket | undefined;
  let clientGone = false;
  const onClientClose = () => {
    clientGone = true;
    upstream?.destroy();
  };
  client.once('close', onClientClose);

  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    const err = new WsgateError('WSG_HANDSHAKE_TIMEOUT', {
      upstream: target.name,
      timeout: formatDuration(limits.handshakeTimeout),
    });
    log.warn({ event: 'ws.handshake_timeout', code: err.code, upstream: target.name }, err.message);
    upstream?.destroy();
    ctx.refuse(client, err);
  }, limits.handshakeTimeout);

  try {
    const dial = ctx.dial ?? connectUpstream;
    upstream = await dial(target, { connectTimeout: limits.connectTimeout, highWaterMark: limits.maxBufferedBytes });
    if (clientGone || timedOut) {
      upstream.destroy();
      return;
    }
    const path = upstreamTarget(url, req.url ?? '/');
    const headers = buildUpstreamHandshake(req, ctx, url);
    upstream.write(serializeRequestHead('GET', path, headers));
    // Bytes the client sent behind its handshake wait for a valid 101: after a refusal they could otherwise reach the
    // upstream as a second, unrouted request (request smuggling).
    const { head, buffered } = await readResponseHead(upstream, limits.maxHeaderBytes);
    clearTimeout(deadline);
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    const rest = buffered.subarray(head.length);
    if (head.statusCode !== 101) {
      log.info(
        {
          event: 'ws.refused',
          route: route.name,
          upstream: target.name,
          status: head.statusCode,
          ms: Math.round(performance.now() - started),
        },
        `upstream refused the WebSocket upgrade with ${head.statusCode}`,
      );
      relayRefusal(client, upstream, head, rest, limits.handshakeTimeout);
      return;
    }
    const check = checkUpgradeResponse(head, ctx.key);
    if (!check.ok) {
      const err = new WsgateError('WSG_UPSTREAM_BAD_RESPONSE', { upstream: target.name, detail: check.detail });
      log.warn({ event: 'ws.handshake.bad_accept', code: err.code, upstream: target.name }, err.message);
      upstream.destroy();
      ctx.refuse(client, err);
      return;
    }
    client.off('close', onClientClose);
    client.setNoDelay(true);
    // The 101 goes back byte for byte as the upstream wrote it: header case, order and extensions intact.
    client.write(buffered.subarray(0, head.length));
    if (rest.length > 0) client.write(rest);
    const session = startSession(
      client,
      upstream,
      {
        conn: ctx.connId,
        route: route.name,
        upstream: target.name,
        path: req.url ?? '/',
        client: req.socket.remoteAddress,
        handshakeMs: Math.round(performance.now() - started),
        request: redactPairs(rawToPairs(req.rawHeaders), ctx.showSecrets),
        forwarded: redactPairs(headers, ctx.showSecrets),
        response: redactPairs(head.headers, ctx.showSecrets),
        protocol: headerValue(head.headers, 'sec-websocket-protocol'),
        extensions: headerValue(head.headers, 'sec-websocket-extensions'),
      },
      { idleTimeout: limits.idleTimeout, halfCloseLinger: HALF_CLOSE_LINGER_MS, tap: ctx.tap, emit: ctx.emit },
      // Bytes the client sent with its handshake wait unread in its socket (the front put them back) and are read
      // by the joiner like any later ones.
      { toUpstream: NO_BYTES, toClient: rest },
    );
    ctx.onSession?.(session);
    upstream.resume();
    await session.done;
  } catch (error) {
    clearTimeout(deadline);
    client.off('close', onClientClose);
    upstream?.destroy();
    const err =
      error instanceof WsgateError
        ? error
        : new WsgateError('WSG_UPSTREAM_BAD_RESPONSE', {
            upstream: target.name,
            detail: (error as Error).message,
          });
    log.warn({ event: 'ws.upstream_error', code: err.code, route: route.name, upstream: target.name }, err.message);
    if (!clientGone && !timedOut) ctx.refuse(client, err);
  }
}
