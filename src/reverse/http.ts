// Plain HTTP requests on a reverse route go to the upstream through http-proxy-3: bodies stream both ways,
// the forwarding fields are wsgate's own (X-Forwarded-*, Forwarded), Host follows the route's changeOrigin. The
// path sent is the one the route was matched with (reverse/match.ts), never http-proxy-3's own re-parse of the
// request target. Failures become coded error responses (502 refused/unreachable/DNS, 504 timeout) with one log
// line each, and a bug in one of http-proxy-3's callbacks ends that request with WSG_INTERNAL, never the process.
import type http from 'node:http';
import type net from 'node:net';
import { PassThrough } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { createProxyServer } from 'http-proxy-3';
import type { RouteUpstream } from '../config/resolve.ts';
import { formatDuration } from '../config/units.ts';
import { WsgateError } from '../errors.ts';
import type { AccessFields } from '../front/access.ts';
import { relayEarlyHints } from '../front/early-hints.ts';
import { sendErrorResponse } from '../front/error-response.ts';
import { FORWARDING_FIELDS, forwardingFields } from '../http/forwarded.ts';
import { rawToPairs } from '../http/head.ts';
import { connectionOptions, forwardedTe, HOP_BY_HOP, relayedTrailers } from '../http/hop-by-hop.ts';
import { reportInternal } from '../log/internal.ts';
import type { Logger } from '../log/logger.ts';
import type { KeyLog } from '../tls/keylog.ts';
import { defaultUpstreamTls, type UpstreamTls } from '../tls/upstream.ts';
import { isServerDown, logServerFailed, type UpstreamBalancer } from '../upstream/balancer.ts';
import { classifyUpstreamError, type UpstreamTarget } from '../upstream/connect.ts';
import { type AttemptOutcome, hasNoBody, retryChoice } from '../upstream/http-retry.ts';
import type { UpstreamNetwork } from '../upstream/network.ts';
import { UpstreamAgents } from './upstream-agents.ts';

export type HttpRoute = {
  name: string;
  upstream: RouteUpstream;
  changeOrigin: boolean;
};

export type HttpForwardOptions = {
  /** The origin-form target to send (path and query), as route matching decided it. */
  target: string;
  log: Logger;
  connectTimeout: number;
  responseTimeout: number;
  /** How an https upstream is verified (its tls: settings); default: system roots, the URL's host. */
  tls?: UpstreamTls | undefined;
  /**
   * The forwarding fields (http/forwarded.ts): the scheme the client used, and whether its direct peer is a trusted
   * proxy (listener trustForwarded) whose X-Forwarded-* and Forwarded are kept and appended to.
   */
  forwarded: { proto: 'http' | 'https'; trusted: boolean };
  /** The client's address, for an upstream with several servers and balance ip-hash. */
  client?: string | undefined;
  /** The request's access line: told the server that answered, for an upstream with several. */
  access?: AccessFields | undefined;
};

export type HttpForwarder = {
  forward(req: http.IncomingMessage, res: http.ServerResponse, route: HttpRoute, options: HttpForwardOptions): void;
  close(): void;
};

/** ws:// and wss:// upstreams also serve plain HTTP on the same origin. */
function httpUrlOf(url: string): URL {
  const u = new URL(url);
  if (u.protocol === 'ws:') u.protocol = 'http:';
  else if (u.protocol === 'wss:') u.protocol = 'https:';
  return u;
}

/**
 * RFC 9110 §7.6.1: hop-by-hop request headers, and whatever Connection names (but Host), stop here. This runs
 * before the forwarding fields are set, so a client that names X-Forwarded-For in Connection only removes its
 * own value, never wsgate's.
 */
function stripRequestHopByHop(req: http.IncomingMessage): void {
  const named = connectionOptions(req.headers.connection, req.headers['proxy-connection']);
  const te = forwardedTe(req.headers.te);
  for (const name of [...HOP_BY_HOP, ...named]) delete req.headers[name];
  if (te !== undefined) req.headers.te = te;
}

/**
 * The forwarding fields wsgate vouches for, in place of the client's (http-proxy-3's xfwd would append to whatever
 * the client sent). A trusted peer's chain is kept and wsgate's hop appended.
 */
function setForwardingFields(req: http.IncomingMessage, forwarded: HttpForwardOptions['forwarded']): void {
  const received = (name: string) => {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  const hop = { peer: req.socket.remoteAddress ?? '', proto: forwarded.proto, host: req.headers.host };
  const fields = forwardingFields(hop, forwarded.trusted ? received : undefined);
  for (const name of FORWARDING_FIELDS) delete req.headers[name];
  for (const [name, value] of fields) req.headers[name] = value;
}

/**
 * The same for the upstream's response, which http-proxy-3 would copy to the client. Its `setConnection` pass then
 * fills the missing Connection header from the (already stripped) request as "keep-alive", and an explicit header
 * overrides Node's own decision, so a client's `Connection: close` would be ignored. Say what Node would say.
 */
function stripResponseHopByHop(proxyRes: http.IncomingMessage, res: http.ServerResponse): void {
  const named = connectionOptions(proxyRes.headers.connection, proxyRes.headers['proxy-connection']);
  for (const name of [...HOP_BY_HOP, ...named]) delete proxyRes.headers[name];
  proxyRes.headers.connection = res.shouldKeepAlive ? 'keep-alive' : 'close';
}

/** One try of a request at a server: what it got to (for http-retry.ts), and the held body's way in. */
type Attempt = AttemptOutcome & { gate: PassThrough | undefined };

type PendingRequest = { target: UpstreamTarget; options: HttpForwardOptions; started: number; attempt: Attempt };

/** The attempt's connection is made: the client's body may be read now (a held one, into the attempt's gate). */
function connected(req: http.IncomingMessage, attempt: Attempt): void {
  attempt.connected = true;
  if (attempt.gate === undefined || attempt.bodyRead) return;
  attempt.bodyRead = true;
  req.pipe(attempt.gate);
}

/**
 * http-proxy-3 calls back from socket and response events, where a throw would be an uncaught exception: it ends
 * this request instead (500, or a cut response once the head is out) with one WSG_INTERNAL line.
 */
function guarded(log: Logger, res: http.ServerResponse, run: () => void): void {
  try {
    run();
  } catch (error) {
    sendErrorResponse(res, reportInternal(log, error), { close: true });
  }
}

/** tls.insecure: every new connection to the upstream gets a warning, with what verification would have said. */
function warnInsecure(proxyReq: http.ClientRequest, socket: unknown, p: PendingRequest): void {
  if (proxyReq.reusedSocket || !(socket instanceof TLSSocket)) return;
  socket.once('secureConnect', () => {
    p.options.log.warn(
      {
        event: 'tls.insecure_upstream',
        upstream: p.target.name,
        authorized: socket.authorized,
        authorizationError: socket.authorizationError?.toString(),
      },
      `TLS verification is off for upstream ${p.target.name} (tls.insecure)`,
    );
  });
}

export function createHttpForwarder(
  settings: {
    keyLog?: KeyLog | undefined;
    network?: UpstreamNetwork | undefined;
    /** Picks a server of upstreams with several (upstreams[].servers) for each request. */
    balancer?: UpstreamBalancer | undefined;
  } = {},
): HttpForwarder {
  const agents = new UpstreamAgents(settings);
  const proxy = createProxyServer({ xfwd: false, ws: false });
  const pending = new WeakMap<http.IncomingMessage, PendingRequest>();

  proxy.on('proxyRes', (proxyRes, req, res) => {
    const p = pending.get(req as http.IncomingMessage);
    if (!p) return;
    p.attempt.answered = true;
    guarded(p.options.log, res, () => stripResponseHopByHop(proxyRes, res));
    // The trailer fields are read when the upstream's body ends, before http-proxy-3 ends the response: its pipe()
    // is set up after this event, so this 'end' listener runs first. Node writes them after the last chunk (and
    // drops them when the client's answer is not chunked, an HTTP/1.0 client).
    proxyRes.once('end', () => {
      guarded(p.options.log, res, () => {
        const trailers = relayedTrailers(proxyRes.trailers);
        if (trailers !== undefined && !res.writableEnded) res.addTrailers(trailers);
      });
    });
  });

  // http-proxy-3 emits proxyReq from the request's 'socket' event, with that socket.
  proxy.on('proxyReq', (proxyReq, req, res, _options, socket) => {
    const p = pending.get(req as http.IncomingMessage);
    if (!p) return;
    guarded(p.options.log, res as http.ServerResponse, () => {
      const { attempt } = p;
      attempt.reused = proxyReq.reusedSocket;
      if (!(socket as net.Socket).connecting) connected(req as http.IncomingMessage, attempt);
      else (socket as net.Socket).once('connect', () => connected(req as http.IncomingMessage, attempt));
      if (p.options.tls?.insecure) warnInsecure(proxyReq, socket, p);
      proxyReq.on('information', (info: http.InformationEvent) => {
        guarded(p.options.log, res as http.ServerResponse, () =>
          relayEarlyHints(
            req as http.IncomingMessage,
            res as http.ServerResponse,
            info.statusCode,
            rawToPairs(info.rawHeaders),
          ),
        );
      });
      // An idle timer on the upstream request, as nginx's proxy_read_timeout: no bytes for this long is a 504.
      proxyReq.setTimeout(p.options.responseTimeout, () => {
        proxyReq.destroy(
          new WsgateError('WSG_UPSTREAM_TIMEOUT', {
            upstream: p.target.name,
            timeout: formatDuration(p.options.responseTimeout),
          }),
        );
      });
    });
  });

  return {
    forward(req, res, route, options) {
      const { upstream } = route;
      const pool = upstream.pool;
      const balancer = settings.balancer;
      stripRequestHopByHop(req);
      // Node's server has answered the client's 100-continue already (it sends 100 before 'request'), so the body
      // comes whatever the upstream says; an Expect sent on would only make http-proxy-3 skip its 'proxyReq' event
      // for the request, and with it the response timeout and the connection bookkeeping below. nginx drops it too.
      delete req.headers.expect;
      setForwardingFields(req, options.forwarded);
      const bodyless = hasNoBody(req.headers);
      // With other servers to go to, a body is read from the client only once the connection to a server is made,
      // so that a request whose server refused it can still go to the next one whole (upstream/http-retry.ts).
      const holdBody = pool !== undefined && !bodyless;
      const tried = new Set<string>();
      let staleRetries = 0;
      let current: Attempt | undefined;
      const send = (server: string): void => {
        tried.add(server);
        if (options.access !== undefined && pool !== undefined) options.access.server = server;
        // Each try adds http-proxy-3's listeners to the request and response (the earlier ones stay, idle): a pool
        // of many servers all refusing must not print Node's "possible EventEmitter memory leak" warning.
        if (tried.size > 1)
          for (const e of [req, res]) e.setMaxListeners(Math.max(e.getMaxListeners(), 10 + 3 * tried.size));
        const url = httpUrlOf(server);
        const target: UpstreamTarget = { name: upstream.name, url };
        const attempt: Attempt = {
          connected: false,
          reused: false,
          answered: false,
          bodyRead: !bodyless && !holdBody,
          gate: holdBody ? new PassThrough() : undefined,
        };
        current = attempt;
        pending.set(req, { target, options, started: performance.now(), attempt });
        // With toProxy, http-proxy-3 sends req.url as it is (joined to the upstream's base path) instead of parsing
        // it with `new URL`, which would normalise it again or throw. It reads req.url only while web() sets the
        // request up, synchronously; the received target is put back for the access line.
        const received = req.url;
        req.url = options.target;
        try {
          proxy.web(
            req,
            res,
            {
              target: url,
              toProxy: true,
              changeOrigin: route.changeOrigin,
              agent: agents.agentFor({
                client: req.socket,
                upstream,
                server,
                url,
                tls: options.tls ?? defaultUpstreamTls(),
                connectTimeout: options.connectTimeout,
              }),
              connectTimeout: options.connectTimeout,
              ...(attempt.gate === undefined ? {} : { buffer: attempt.gate }),
            },
            // An earlier attempt's listeners stay on the request (http-proxy-3 adds them): only the last one answers.
            (error) => guarded(options.log, res, () => current === attempt && failed(error, server, target, attempt)),
          );
        } finally {
          req.url = received;
        }
      };
      const failed = (error: Error, server: string, target: UpstreamTarget, attempt: Attempt): void => {
        const err = classifyUpstreamError(error, target, options.connectTimeout);
        const untriedServers =
          pool === undefined || balancer === undefined ? 0 : balancer.untried(upstream.name, pool, tried);
        // Nobody to answer (the client left, which also ends the attempt), or an answer already begun: no retry.
        const choice =
          res.headersSent || res.destroyed || req.socket.destroyed
            ? undefined
            : retryChoice(attempt, req.method ?? '', err, { untriedServers, staleRetries });
        // A kept-alive connection closed under a request says nothing of the server; any other failure does.
        const stale = attempt.reused && !attempt.answered && err.code === 'WSG_UPSTREAM_RESET';
        if (pool !== undefined && balancer !== undefined && isServerDown(err) && !stale) {
          balancer.failed(upstream.name, pool, server, Date.now());
          logServerFailed(options.log, upstream.name, server, pool, err, choice === 'next-server');
        }
        if (choice !== undefined) {
          const next = choice === 'same-server' ? server : pick(tried);
          if (choice === 'same-server') staleRetries++;
          if (options.access !== undefined) options.access.retries = (options.access.retries ?? 0) + 1;
          options.log.info(
            {
              event: 'http.upstream_retry',
              code: err.code,
              route: route.name,
              upstream: target.name,
              ...(pool === undefined ? {} : { server, next }),
              reason: choice === 'same-server' ? 'kept-alive connection closed' : 'server failed',
            },
            `${req.method} sent again${choice === 'same-server' ? ' on a new connection' : ` to ${next}`}: ${err.message}`,
          );
          send(next);
          return;
        }
        options.log.warn(
          {
            event: 'http.upstream_error',
            code: err.code,
            route: route.name,
            upstream: target.name,
            cause: error.message,
          },
          err.message,
        );
        sendErrorResponse(res, err);
      };
      // Requests take the servers in turn (only WebSockets are counted for least-connections: they are the load that
      // stays), or by client with ip-hash (long-polling fallbacks must reach the server of their session).
      const pick = (exclude: ReadonlySet<string>): string =>
        pool === undefined || balancer === undefined
          ? upstream.url
          : balancer.pick(
              upstream.name,
              pool,
              Date.now(),
              exclude,
              options.client,
              pool.balance === 'least-connections' ? 'round-robin' : pool.balance,
            );
      let first: string;
      try {
        first = pick(tried);
      } catch (error) {
        // Every server drained (the admin API): 503 before anything is sent.
        if (!(error instanceof WsgateError)) throw error;
        options.log.warn(
          { event: 'http.upstream_error', code: error.code, route: route.name, upstream: upstream.name },
          error.message,
        );
        sendErrorResponse(res, error);
        return;
      }
      send(first);
    },
    close() {
      proxy.close();
      agents.close();
    },
  };
}
