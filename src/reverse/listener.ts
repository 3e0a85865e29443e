// A reverse listener: one HTTP server on one address, with a route table that can be swapped on reload.
// It owns its connections: it gives each request an id and a log line, dispatches plain requests to
// http-proxy-3 and Upgrade requests to wsgate's own forwarder, and drains everything on close.
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import { WsgateError } from '../errors.ts';
import type { TapLevel, WsEvent } from '../events.ts';
import { ClientCounter } from '../front/admission.ts';
import { newConnId } from '../front/conn-id.ts';
import { sendErrorResponse, writeErrorToSocket } from '../front/error-response.ts';
import { admitHandshake } from '../front/handshake-gate.ts';
import { listenOn } from '../front/listen.ts';
import type { Logger } from '../log/logger.ts';
import type { KeyLog } from '../tls/keylog.ts';
import { ALPN_PROTOCOLS, MIN_TLS_VERSION, type ServerTls, selectServerCert } from '../tls/server-certs.ts';
import { defaultUpstreamTls, type UpstreamTls, upstreamTlsOptions } from '../tls/upstream.ts';
import { connectUpstream, formatDuration, type UpstreamTarget } from '../upstream/connect.ts';
import type { UpstreamNetwork } from '../upstream/network.ts';
import type { LiveSession } from '../websocket/session.ts';
import { forwardUpgrade } from '../websocket/upgrade.ts';
import type { HttpForwarder } from './http.ts';
import { type CompiledRoutes, compileRoutes, matchRoute, type RouteMatch } from './match.ts';

export type ListenerRoute = {
  name: string;
  match: readonly RouteMatch[];
  upstream: { name: string; url: string };
  changeOrigin: boolean;
  allowOrigins?: readonly string[] | undefined;
  tap: TapLevel;
};

export type ListenerLimits = {
  maxHeaderBytes: number;
  headersTimeout: number;
  connectTimeout: number;
  handshakeTimeout: number;
  responseTimeout: number;
  idleTimeout: number;
  maxBufferedBytes: number;
  maxRequestLineBytes: number;
  maxHeaderCount: number;
  maxConnections: number;
  maxConnectionsPerClient: number;
};

export type ListenerSpec = {
  name: string;
  bind: { host: string; port: number };
  routes: readonly ListenerRoute[];
};

export type ListenerSettings = {
  limits: ListenerLimits;
  showSecrets: boolean;
  /** Tap settings shared by every route; each route names its level. */
  tap: {
    previewBytes: number;
    maxDecodedBytes: number;
    redactText: ((text: string) => string) | undefined;
    /** Whether tap events would be seen at all; see TrafficLog.active. */
    active?: (() => boolean) | undefined;
  };
  /** The instance's traffic sink. */
  emit: (event: WsEvent) => void;
  /** TLS settings of named upstreams (loaded before anything listens); others get the defaults. */
  upstreamTls?: ReadonlyMap<string, UpstreamTls> | undefined;
  /** The NSS key log (tls.keyLog or SSLKEYLOGFILE), when one is configured. */
  keyLog?: KeyLog | undefined;
  /** Which upstreams go through an upstream proxy; direct when absent. */
  network?: UpstreamNetwork | undefined;
};

/** Browsers always send Origin on a WebSocket handshake; non-browser clients often send none and are not at risk. */
function originAllowed(origin: string | undefined, allowed: readonly string[] | undefined): boolean {
  if (!allowed || origin === undefined) return true;
  return allowed.includes(origin);
}

export { formatAddress } from '../front/listen.ts';

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

/** The request line as it arrived; Node keeps the target as latin1, so length is the byte count. */
function requestLineLength(req: http.IncomingMessage): number {
  return `${req.method ?? ''} ${req.url ?? ''} HTTP/${req.httpVersion}`.length;
}

/** Maps what Node's HTTP parser (or its headersTimeout) rejected to a coded error with the right status. */
function clientErrorOf(err: NodeJS.ErrnoException, limits: ListenerLimits): WsgateError {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new WsgateError('WSG_HEADERS_TOO_LARGE', { limit: limits.maxHeaderBytes, count: limits.maxHeaderCount });
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new WsgateError('WSG_HEADERS_TIMEOUT', { timeout: formatDuration(limits.headersTimeout) });
    case 'HPE_URI_TOO_LONG':
      return new WsgateError('WSG_URI_TOO_LONG', { limit: limits.maxRequestLineBytes });
    default:
      // llhttp's reasons are its own fixed texts ("Invalid header value char"), never the client's bytes.
      return new WsgateError('WSG_BAD_REQUEST', { detail: err.message.replace(/^Parse Error: /, '') });
  }
}

/** Socket errors that only mean the client went away: nothing to answer, nothing worth a warning. */
const GONE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'HPE_CLOSED_CONNECTION']);

export class ReverseListener {
  readonly name: string;
  #spec: ListenerSpec;
  #routes: CompiledRoutes<ListenerRoute>;
  #settings: ListenerSettings;
  #log: Logger;
  #forwarder: HttpForwarder;
  #server: http.Server;
  #upgrades = new Set<net.Socket>();
  #sessions = new Set<LiveSession>();
  #perClient = new ClientCounter();
  #closing = false;
  /** Responses still being written per socket: a parse error then must not write a second response into it. */
  #inflight = new WeakMap<net.Socket, number>();
  #address: { host: string; port: number } | undefined;
  /** Certificates of a TLS listener (https and wss); undefined for plain HTTP. */
  #tls: ServerTls | undefined;

  constructor(
    spec: ListenerSpec,
    settings: ListenerSettings,
    log: Logger,
    forwarder: HttpForwarder,
    tls?: ServerTls | undefined,
  ) {
    this.name = spec.name;
    this.#spec = spec;
    this.#routes = compileRoutes(spec.routes);
    this.#settings = settings;
    this.#log = log.child({ listener: spec.name });
    this.#forwarder = forwarder;
    this.#tls = tls;
    const serverOptions: http.ServerOptions = {
      maxHeaderSize: settings.limits.maxHeaderBytes,
      headersTimeout: settings.limits.headersTimeout,
      // Uploads and long polls may take long; the slowloris guard is headersTimeout.
      requestTimeout: 0,
      // headersTimeout is only checked this often; Node's default of 30 s would make it 40 s in practice.
      connectionsCheckingInterval: Math.min(1000, settings.limits.headersTimeout),
      keepAliveTimeout: 5000,
      // Per-socket write buffer: a relay pauses its reader once the other side holds this much unsent.
      highWaterMark: settings.limits.maxBufferedBytes,
    };
    this.#server = tls === undefined ? http.createServer(serverOptions) : this.#createHttpsServer(serverOptions, tls);
    this.#server.maxHeadersCount = settings.limits.maxHeaderCount;
    this.#server.maxConnections = settings.limits.maxConnections;
    this.#server.on('drop', (data?: { remoteAddress?: string }) =>
      this.#log.warn(
        {
          event: 'conn.limit',
          scope: 'listener',
          client: data?.remoteAddress,
          limit: this.#settings.limits.maxConnections,
        },
        `connection refused: the listener holds limits.maxConnections (${this.#settings.limits.maxConnections})`,
      ),
    );
    this.#server.on('connection', (socket: net.Socket) => this.#admit(socket));
    this.#server.on('request', (req, res) => this.#onRequest(req, res));
    this.#server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket as net.Socket, head));
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) =>
      this.#onClientError(err, socket),
    );
  }

  /** https and wss: the first certificate is the default, the others are chosen by SNI. */
  #createHttpsServer(options: http.ServerOptions, material: ServerTls): http.Server {
    const first = material.certs[0]!;
    const server = https.createServer({
      ...options,
      cert: first.cert,
      key: first.key,
      minVersion: MIN_TLS_VERSION,
      ALPNProtocols: ALPN_PROTOCOLS,
      // The TLS handshake is part of the request head a client owes us: the same slowloris guard.
      handshakeTimeout: options.headersTimeout || 120_000,
      SNICallback: (servername, cb) => cb(null, selectServerCert(this.#tls ?? material, servername).context),
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      this.#log.info(
        {
          event: 'tls.handshake_failed',
          code: 'WSG_TLS_HANDSHAKE',
          reason: err.code ?? err.message,
          client: socket.remoteAddress,
        },
        `TLS handshake with ${socket.remoteAddress ?? 'a client'} failed: ${err.code ?? err.message}`,
      );
    });
    if (this.#settings.keyLog !== undefined) {
      server.on('keylog', (line: Buffer) => this.#settings.keyLog?.write(line));
    }
    // https.Server is an http.Server with a TLS front: requests, upgrades and client errors arrive the same way.
    return server as unknown as http.Server;
  }

  /** "https" for a TLS listener. */
  get scheme(): 'http' | 'https' {
    return this.#tls === undefined ? 'http' : 'https';
  }

  get address(): { host: string; port: number } | undefined {
    return this.#address;
  }

  get bind(): { host: string; port: number } {
    return this.#spec.bind;
  }

  /** Active WebSocket connections and handshakes in progress. */
  get webSocketCount(): number {
    return this.#sessions.size;
  }

  async listen(): Promise<{ host: string; port: number }> {
    this.#address = await listenOn(this.#server, this.#spec.bind, this.#log);
    return this.#address;
  }

  /**
   * Applies a new route table and limits to connections that arrive from now on; for a TLS listener also the
   * certificates as re-read on reload (a renewed certificate is served without a restart).
   */
  update(spec: ListenerSpec, settings: ListenerSettings, tls?: ServerTls | undefined): void {
    this.#server.maxHeadersCount = settings.limits.maxHeaderCount;
    this.#server.maxConnections = settings.limits.maxConnections;
    this.#spec = spec;
    this.#routes = compileRoutes(spec.routes);
    this.#settings = settings;
    if (tls !== undefined && this.#tls !== undefined) {
      this.#tls = tls;
      const first = tls.certs[0]!;
      (this.#server as unknown as https.Server).setSecureContext({
        cert: first.cert,
        key: first.key,
        minVersion: MIN_TLS_VERSION,
      });
    }
  }

  /** The TLS settings of an upstream: its tls: block when it is a named upstream that has one. */
  #upstreamTls(upstream: string): UpstreamTls {
    return this.#settings.upstreamTls?.get(upstream) ?? defaultUpstreamTls();
  }

  /**
   * Dials an upgrade's upstream with that upstream's TLS settings. With tls.insecure every connection is logged
   * as a warning, with what verification would have said.
   */
  #dialUpstream(log: Logger, target: UpstreamTarget, options: { connectTimeout: number; highWaterMark: number }) {
    const settings = this.#upstreamTls(target.name);
    return connectUpstream(target, {
      ...options,
      ...upstreamTlsOptions(settings),
      keyLog: this.#settings.keyLog,
      route: this.#settings.network?.routeFor(target),
    }).then((socket) => {
      if (settings.insecure && 'authorized' in socket) {
        const tlsSocket = socket as tls.TLSSocket;
        log.warn(
          {
            event: 'tls.insecure_upstream',
            upstream: target.name,
            authorized: tlsSocket.authorized,
            authorizationError: tlsSocket.authorizationError?.toString(),
          },
          `TLS verification is off for upstream ${target.name} (tls.insecure)`,
        );
      }
      return socket;
    });
  }

  /**
   * Stops accepting, lets requests and WebSocket connections in flight finish within the grace period,
   * then closes what is left.
   */
  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    // WebSockets get a Close 1001 on both sides between frames; the grace timer bounds the closing handshake.
    for (const session of this.#sessions) session.goingAway();
    const timer = setTimeout(() => {
      this.#server.closeAllConnections();
      for (const session of this.#sessions) session.terminate('shutdown', 'grace period over');
      for (const socket of this.#upgrades) socket.destroy();
    }, graceMs);
    const idle = setInterval(() => this.#server.closeIdleConnections(), 100);
    await closed;
    const left = [...this.#sessions].map((j) => j.done);
    await Promise.all(left);
    while (this.#upgrades.size > 0) {
      await new Promise((r) => setTimeout(r, 20));
    }
    clearTimeout(timer);
    clearInterval(idle);
  }

  /**
   * limits.maxConnectionsPerClient: one address may not take every slot. Loopback is exempt, because on a
   * developer machine every browser, CLI and test connects from 127.0.0.1.
   */
  #admit(socket: net.Socket): void {
    const address = socket.remoteAddress;
    if (address === undefined) return;
    const limit = this.#settings.limits.maxConnectionsPerClient;
    const admitted = this.#perClient.admit(address, limit);
    socket.once('close', () => this.#perClient.release(address));
    if (admitted) return;
    const err = new WsgateError('WSG_TOO_MANY_CONNECTIONS', { scope: `from ${address}`, limit });
    this.#log.warn({ event: 'conn.limit', scope: 'client', client: address, limit, code: err.code }, err.message);
    socket.on('error', () => {});
    writeErrorToSocket(socket, err);
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const id = newConnId('r');
    const started = performance.now();
    const socket = req.socket;
    this.#inflight.set(socket, (this.#inflight.get(socket) ?? 0) + 1);
    res.once('close', () => this.#inflight.set(socket, (this.#inflight.get(socket) ?? 1) - 1));
    if (requestLineLength(req) > this.#settings.limits.maxRequestLineBytes) {
      const err = this.#rejectLongRequestLine(req);
      // Close after the answer: a body that follows must not be read as the next request.
      sendErrorResponse(res, err, { close: true });
      return;
    }
    const result = matchRoute(this.#routes, { host: req.headers.host, path: req.url ?? '/', headers: req.headers });
    const route = result.route;
    const log = this.#log.child({ id });
    res.on('close', () => {
      log.info(
        {
          event: 'http.access',
          method: req.method,
          path: req.url,
          status: res.statusCode,
          ms: Math.round(performance.now() - started),
          route: route?.name,
          upstream: route?.upstream.name,
          client: req.socket.remoteAddress,
          completed: res.writableFinished,
        },
        `${req.method} ${req.url} ${res.statusCode}`,
      );
    });
    if (!route) {
      const err = new WsgateError('WSG_NO_ROUTE', { host: req.headers.host ?? '', path: req.url ?? '' });
      log.warn({ event: 'http.no_route', code: err.code, why: result.why }, err.message);
      sendErrorResponse(res, err);
      return;
    }
    this.#forwarder.forward(req, res, route, {
      log,
      connectTimeout: this.#settings.limits.connectTimeout,
      responseTimeout: this.#settings.limits.responseTimeout,
      tls: this.#upstreamTls(route.upstream.name),
    });
  }

  #onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    // Guard first: an error before any other listener is attached would otherwise crash the process.
    socket.on('error', () => {});
    const id = newConnId('w');
    const log = this.#log.child({ id });
    this.#upgrades.add(socket);
    socket.once('close', () => this.#upgrades.delete(socket));
    // Bytes that came with the handshake (frames sent before the 101, which RFC 6455 §4.1 forbids, or a pipelined
    // second request) go back into the client socket, unread. They are forwarded only once the upstream has
    // answered 101 and the sockets are joined; after a refusal they are dropped with the connection, so they can
    // never reach the upstream as a request wsgate did not route or check.
    if (head.length > 0) socket.unshift(head);
    const noHead = Buffer.alloc(0);
    if (requestLineLength(req) > this.#settings.limits.maxRequestLineBytes) {
      writeErrorToSocket(socket, this.#rejectLongRequestLine(req));
      return;
    }
    const check = admitHandshake(req, log);
    if (check instanceof WsgateError) {
      writeErrorToSocket(socket, check);
      return;
    }
    const result = matchRoute(this.#routes, { host: req.headers.host, path: req.url ?? '/', headers: req.headers });
    const route = result.route;
    if (!route) {
      const err = new WsgateError('WSG_NO_ROUTE', { host: req.headers.host ?? '', path: req.url ?? '' });
      log.warn({ event: 'ws.no_route', code: err.code, why: result.why }, err.message);
      writeErrorToSocket(socket, err);
      return;
    }
    const origin = req.headers.origin;
    if (!originAllowed(origin, route.allowOrigins)) {
      const err = new WsgateError('WSG_ORIGIN_DENIED', { origin: origin ?? '' });
      log.warn({ event: 'ws.origin_denied', code: err.code, route: route.name, origin }, err.message);
      writeErrorToSocket(socket, err);
      return;
    }
    void forwardUpgrade(req, socket, noHead, {
      connId: id,
      log,
      route,
      limits: this.#settings.limits,
      showSecrets: this.#settings.showSecrets,
      clientScheme: this.scheme,
      key: check.key,
      tap: { level: route.tap, ...this.#settings.tap },
      emit: this.#settings.emit,
      onSession: (session) => {
        this.#sessions.add(session);
        // A handshake that completes while the listener is closing still gets its Close 1001.
        if (this.#closing) session.goingAway();
        void session.done.then(() => this.#sessions.delete(session));
      },
      dial: (target, options) => this.#dialUpstream(log, target, options),
    });
  }

  #rejectLongRequestLine(req: http.IncomingMessage): WsgateError {
    const err = new WsgateError('WSG_URI_TOO_LONG', { limit: this.#settings.limits.maxRequestLineBytes });
    this.#log.warn(
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

  #onClientError(err: NodeJS.ErrnoException, socket: net.Socket): void {
    if (GONE_CODES.has(err.code ?? '')) {
      this.#log.debug({ event: 'http.client_gone', reason: err.code, client: socket.remoteAddress }, 'client left');
      socket.destroy();
      return;
    }
    const coded = clientErrorOf(err, this.#settings.limits);
    this.#log.warn(
      {
        event: 'http.client_error',
        code: coded.code,
        status: coded.status,
        reason: err.code,
        client: socket.remoteAddress,
      },
      coded.message,
    );
    // A response still being written owns the socket: a second one written into it would be read as the answer
    // to the wrong request. Cut the connection instead (Node's default handler does the same).
    if ((this.#inflight.get(socket) ?? 0) > 0) {
      socket.destroy();
      return;
    }
    writeErrorToSocket(socket, coded);
  }
}
