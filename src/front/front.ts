// The one front door. Every way a request reaches wsgate goes through here: a reverse listener, a forward
// listener's absolute-form requests and CONNECTs, plain HTTP found inside a CONNECT tunnel, and HTTP inside an
// intercepted TLS session (tunnel sockets are handed to the same HTTP server). The front owns what they share —
// server options and every limit, per-client admission, client-error answers, the request-line check, the
// handshake gate, connection ids, the access line and the registry that drains on close — and hands each request,
// upgrade or CONNECT to the entry's handler with its scope. Handlers decide where things go; they never re-check
// what the front already enforced.
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import { WsgateError } from '../errors.ts';
import type { PathTarget } from '../http/request-target.ts';
import { reportInternal } from '../log/internal.ts';
import type { Logger } from '../log/logger.ts';
import { ignoreError } from '../net/ignore-error.ts';
import type { KeyLog } from '../tls/keylog.ts';
import { ALPN_PROTOCOLS, MIN_TLS_VERSION, type ServerTls, selectServerCert } from '../tls/server-certs.ts';
import type { LiveSession } from '../websocket/session.ts';
import { type AccessFields, logAccessOnClose } from './access.ts';
import { ClientCounter } from './admission.ts';
import { admitClientSocket } from './admit-socket.ts';
import { watchRequestBody } from './body-timeout.ts';
import { badConnectOf, clientErrorOf, GONE_CODES } from './client-error.ts';
import { newConnId } from './conn-id.ts';
import { sendErrorResponse, writeErrorToSocket } from './error-response.ts';
import { admitHandshake } from './handshake-gate.ts';
import { HandshakeRate } from './handshake-rate.ts';
import {
  applyLiveLimits,
  DEFAULT_TLS_HANDSHAKE_MS,
  type FrontLimits,
  logDroppedConnections,
  rejectLongRequestLine,
  requestLineLength,
  serverOptions,
} from './limits.ts';
import { listenOn } from './listen.ts';
import { type FrontObserver, observeConnect, observeRequest, observeUpgrade } from './observer.ts';
import { adoptProxiedPeer, ProxyHeaderGate, type ProxyProtocolSpec } from './proxy-header.ts';
import { type RefuseUpgrade, refuserOf, StormSampler, type UpgradeRefusal } from './refuse-upgrade.ts';
import { ConnectionRegistry, type PoolServerOf, type Terminable } from './registry.ts';
import { checkPlainRequest, checkRequestTarget } from './target-check.ts';
import { handleTlsHandshakeFailures } from './tls-handshake.ts';

/** Where a request came from: the listener's own socket, or a tunnel the handler handed back to the front. */
export type Scope<T> = {
  id: string;
  log: Logger;
  /** The tunnel the request arrived in (CONNECT, plain or intercepted); undefined on the listener's own sockets. */
  tunnel: T | undefined;
};

/** Requests and upgrades come with their target checked (origin-form or absolute-form, and parseable). */
export type RequestScope<T> = Scope<T> & { access: AccessFields; target: PathTarget };
/** `refuse` answers with wsgate's error and has the entry record it (FrontHandler.upgradeRefused). */
export type UpgradeScope<T> = Scope<T> & { key: string; target: PathTarget; refuse: RefuseUpgrade };
export type ConnectScope<T> = Scope<T>;

export interface FrontHandler<T> {
  onRequest(req: http.IncomingMessage, res: http.ServerResponse, scope: RequestScope<T>): void;
  /** A valid WebSocket handshake (the gate has run); bytes sent with it wait unread in the socket. */
  onUpgrade(req: http.IncomingMessage, socket: net.Socket, scope: UpgradeScope<T>): void;
  /**
   * An upgrade answered with wsgate's error before any upstream was asked (the front's checks, or the entry's
   * scope.refuse): the entry records it as a failed handshake.
   */
  upgradeRefused?(req: http.IncomingMessage, scope: Scope<T>, refusal: UpgradeRefusal): void;
  /** CONNECT; without it the entry does not take CONNECT (Node closes the socket). */
  onConnect?(req: http.IncomingMessage, socket: net.Socket, head: Buffer, scope: ConnectScope<T>): void;
  /**
   * The client a request speaks for, where the entry knows better than the peer's address (a reverse listener
   * behind trusted proxies: the one X-Forwarded-For names). Per-client handshake rates count it; the access line
   * names it as `client`, with the peer beside it.
   */
  clientOf?(req: http.IncomingMessage): string;
}

export type FrontOptions = {
  name: string;
  log: Logger;
  limits: FrontLimits;
  /** Certificates of a TLS listener (https and wss); plain HTTP without. */
  tls?: ServerTls | undefined;
  keyLog?: KeyLog | undefined;
  /** Id prefix of plain requests on the listener's own sockets ("r" reverse, "f" forward). */
  requestIdPrefix: string;
  /** The instance's metrics: request outcomes and handshake results. */
  observer?: FrontObserver | undefined;
  /** listeners[].proxyProtocol: connections start with a PROXY protocol header naming the client. */
  proxyProtocol?: ProxyProtocolSpec | undefined;
};

type TunnelEntry<T> = { tunnel: T; log: Logger };

export class Front<T = never> {
  #name: string;
  #log: Logger;
  #limits: FrontLimits;
  #handler: FrontHandler<T>;
  #server: http.Server;
  #tls: ServerTls | undefined;
  #requestIdPrefix: string;
  #observer: FrontObserver | undefined;
  #perClient = new ClientCounter();
  #rate: HandshakeRate;
  #storms = new StormSampler();
  #registry = new ConnectionRegistry();
  #tunnels = new WeakMap<net.Socket, TunnelEntry<T>>();
  /** Responses still being written per socket: a parse error then must not write a second response into it. */
  #inflight = new WeakMap<net.Socket, number>();
  #address: { host: string; port: number } | undefined;
  /** A TLS listener's failed handshakes are closed and logged by tls-handshake.ts; there is no HTTP to answer. */
  #handshakeFailed: (socket: net.Socket) => boolean = () => false;
  #proxyHeaders: ProxyHeaderGate;

  constructor(options: FrontOptions, handler: FrontHandler<T>) {
    this.#name = options.name;
    this.#log = options.log;
    this.#limits = options.limits;
    this.#rate = new HandshakeRate(options.name, options.log);
    this.#handler = handler;
    this.#tls = options.tls;
    this.#requestIdPrefix = options.requestIdPrefix;
    this.#observer = options.observer;
    const base = serverOptions(options.limits);
    this.#server =
      options.tls === undefined ? http.createServer(base) : this.#createHttpsServer(base, options.tls, options.keyLog);
    applyLiveLimits(this.#server, options.limits);
    logDroppedConnections(
      this.#server,
      () => this.#log,
      () => this.#limits.maxConnections,
      () => this.#observer?.connectionRefused(this.name, 'WSG_TOO_MANY_CONNECTIONS'),
    );
    // Holds Node's 'connection' listener (HTTP or TLS) back until a connection's PROXY header is read and the
    // connection admitted: a refused one's bytes are dropped, never parsed into a request for the upstream.
    this.#proxyHeaders = new ProxyHeaderGate(this.#server, this.#log, {
      passThrough: (socket) => this.#tunnels.has(socket),
      admit: (socket) => this.#admit(socket),
      refused: (code) => this.#observer?.connectionRefused(this.name, code),
    });
    this.#proxyHeaders.update(options.proxyProtocol, options.limits.headersTimeout);
    this.#server.on('request', (req, res) => this.#onRequest(req, res));
    this.#server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket as net.Socket, head));
    if (handler.onConnect !== undefined) {
      this.#server.on('connect', (req, socket, head) => this.#onConnect(req, socket as net.Socket, head));
    }
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) =>
      this.#onClientError(err, socket),
    );
  }

  /** https and wss: the first certificate is the default, the others are chosen by SNI. */
  #createHttpsServer(options: http.ServerOptions, material: ServerTls, keyLog: KeyLog | undefined): http.Server {
    const first = material.certs[0]!;
    const server = https.createServer({
      ...options,
      cert: first.cert,
      key: first.key,
      minVersion: MIN_TLS_VERSION,
      ALPNProtocols: ALPN_PROTOCOLS,
      // The TLS handshake is part of the request head a client owes us: the same slowloris guard.
      handshakeTimeout: options.headersTimeout || DEFAULT_TLS_HANDSHAKE_MS,
      SNICallback: (servername, cb) => cb(null, selectServerCert(this.#tls ?? material, servername).context),
    });
    this.#handshakeFailed = handleTlsHandshakeFailures(server as unknown as tls.Server, () => this.#log);
    // Before Node's HTTP server hears of the connection: a PROXY header's client becomes the TLS socket's peer.
    server.prependListener('secureConnection', adoptProxiedPeer);
    if (keyLog !== undefined) server.on('keylog', (line: Buffer) => keyLog.write(line));
    // https.Server is an http.Server with a TLS front: requests, upgrades and client errors arrive the same way.
    return server as unknown as http.Server;
  }

  get name(): string {
    return this.#name;
  }

  /** A reload renamed the listener: its own lines and new connections carry `name` (open ones keep theirs). */
  rename(name: string, log: Logger): void {
    this.#name = name;
    this.#log = log;
    this.#rate.rename(name, log);
    this.#proxyHeaders.log = log;
  }

  get scheme(): 'http' | 'https' {
    return this.#tls === undefined ? 'http' : 'https';
  }

  get address(): { host: string; port: number } | undefined {
    return this.#address;
  }

  get closing(): boolean {
    return this.#registry.closing;
  }

  get webSocketCount(): number {
    return this.#registry.sessionCount;
  }

  get limits(): FrontLimits {
    return this.#limits;
  }

  async listen(bind: { host: string; port: number }): Promise<{ host: string; port: number }> {
    this.#address = await listenOn(this.#server, bind, () => this.#log);
    return this.#address;
  }

  /** New limits, PROXY protocol settings (and renewed certificates) for connections that arrive from now on. */
  update(limits: FrontLimits, proxyProtocol: ProxyProtocolSpec | undefined, tls?: ServerTls | undefined): void {
    this.#limits = limits;
    applyLiveLimits(this.#server, limits);
    this.#proxyHeaders.update(proxyProtocol, limits.headersTimeout);
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

  /**
   * Serves the HTTP inside a tunnel (plain, or a TLS socket after interception) with the same server, limits and
   * handler as the listener's own connections; `tunnel` comes back in every scope. `onClose` runs once the socket
   * closes.
   */
  serveTunnel(socket: net.Socket, tunnel: T, log: Logger, onClose: () => void): void {
    this.#tunnels.set(socket, { tunnel, log });
    socket.on('close', onClose);
    // Node's 'connection' path is what tracks the socket for headersTimeout and closeIdleConnections.
    this.#server.emit('connection', socket);
    socket.resume();
  }

  addSession(session: LiveSession, conn?: string, pool?: PoolServerOf): void {
    this.#registry.addSession(session, conn, pool);
  }

  /** The open WebSockets to one server of a pool (its origin), for the admin API's close. */
  sessionsTo(upstream: string, server: string): LiveSession[] {
    return this.#registry.sessionsTo(upstream, server);
  }

  /** The live WebSocket connection with this id, while it lasts. */
  session(conn: string): LiveSession | undefined {
    return this.#registry.session(conn);
  }

  addTunnel(tunnel: Terminable, done: Promise<unknown>): void {
    this.#registry.addTunnel(tunnel, done);
  }

  /** Stops accepting, lets what is in flight finish within the grace, then closes the rest (1001 with `reason`). */
  close(graceMs: number, reason?: string): Promise<void> {
    const stopAccepting = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const closeIdle = () => {
      this.#proxyHeaders.closeWaiting();
      this.#server.closeIdleConnections();
    };
    const closeAll = () => this.#server.closeAllConnections();
    return this.#registry.drain(graceMs, { stopAccepting, closeIdle, closeAll }, reason);
  }

  /** limits.maxConnectionsPerClient; tunnel sockets were admitted as the CONNECT that carries them. */
  #admit(socket: net.Socket): boolean {
    if (this.#tunnels.has(socket)) return true;
    return admitClientSocket(socket, this.#perClient, this.#limits, this.#log, () =>
      this.#observer?.connectionRefused(this.name, 'WSG_TOO_MANY_CONNECTIONS'),
    );
  }

  /** Id and logger of a request: a tunnel's requests log under the tunnel's id, with their own beside it. */
  #scope(socket: net.Socket, prefix: string, field: 'req' | 'ws' | 'connect'): Scope<T> {
    const id = newConnId(prefix);
    const entry = this.#tunnels.get(socket);
    if (entry === undefined) return { id, log: this.#log.child({ id }), tunnel: undefined };
    return { id, log: entry.log.child({ [field]: id }), tunnel: entry.tunnel };
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const socket = req.socket;
    this.#inflight.set(socket, (this.#inflight.get(socket) ?? 0) + 1);
    res.once('close', () => this.#inflight.set(socket, (this.#inflight.get(socket) ?? 1) - 1));
    const scope = this.#scope(socket, this.#requestIdPrefix, 'req');
    const access: AccessFields = {};
    logAccessOnClose(scope.log, req, res, access, () => this.#clientOf(req));
    if (this.#observer !== undefined) observeRequest(this.#observer, this.name, res, access);
    watchRequestBody(req, res, this.#limits.bodyTimeout, scope.log, access);
    if (requestLineLength(req) > this.#limits.maxRequestLineBytes) {
      const err = rejectLongRequestLine(req, this.#limits.maxRequestLineBytes, this.#log);
      access.code = err.code;
      // Close after the answer: a body that follows must not be read as the next request.
      sendErrorResponse(res, err, { close: true });
      return;
    }
    const target = checkPlainRequest(req, scope.log);
    if (target instanceof WsgateError) {
      access.code = target.code;
      sendErrorResponse(res, target, { close: true });
      return;
    }
    this.#guard(scope.log, () => this.#handler.onRequest(req, res, { ...scope, access, target }), {
      fail: (err) => {
        access.code = err.code;
        sendErrorResponse(res, err, { close: true });
      },
    });
  }

  #onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const started = performance.now();
    // Guard first (an error before other listeners would crash the process); an arrow here would keep `req` alive.
    socket.on('error', ignoreError);
    const scope = this.#scope(socket, 'w', 'ws');
    this.#registry.holdSocket(socket);
    if (this.#observer !== undefined) observeUpgrade(this.#observer, this.name, socket, scope.id);
    // Bytes that came with the handshake (frames sent before the 101, which RFC 6455 §4.1 forbids, or a pipelined
    // second request) go back into the client socket, unread. They are forwarded only once the upstream has
    // answered 101 and the sockets are joined; after a refusal they are dropped with the connection, so they can
    // never reach the upstream as a request wsgate did not route or check.
    if (head.length > 0) socket.unshift(head);
    const record = this.#handler.upgradeRefused?.bind(this.#handler, req, scope);
    const refuse = refuserOf(socket, started, scope.log, record, this.#storms);
    if (requestLineLength(req) > this.#limits.maxRequestLineBytes) {
      refuse(rejectLongRequestLine(req, this.#limits.maxRequestLineBytes, this.#log));
      return;
    }
    const target = checkRequestTarget(req, scope.log);
    if (target instanceof WsgateError) {
      refuse(target);
      return;
    }
    const check = admitHandshake(req, scope.log, this.#rate, this.#limits, () => this.#clientOf(req));
    if (check instanceof WsgateError) {
      refuse(check);
      return;
    }
    const upgrade = { ...scope, key: check.key, target, refuse };
    this.#guard(scope.log, () => this.#handler.onUpgrade(req, socket, upgrade), { fail: (err) => refuse(err) });
  }

  #onConnect(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    socket.on('error', ignoreError);
    const scope = this.#scope(socket, 'c', 'connect');
    this.#registry.holdSocket(socket);
    if (this.#observer !== undefined) observeConnect(this.#observer, this.name, socket);
    this.#guard(scope.log, () => this.#handler.onConnect?.(req, socket, head, scope), {
      fail: (err) => writeErrorToSocket(socket, err),
    });
  }

  /** The client a request speaks for: the entry's word (FrontHandler.clientOf), else the peer's address. */
  #clientOf(req: http.IncomingMessage): string | undefined {
    return this.#handler.clientOf === undefined ? req.socket.remoteAddress : this.#handler.clientOf(req);
  }

  /** A bug in a handler ends that request with one WSG_INTERNAL line, never the process. */
  #guard(log: Logger, run: () => void, on: { fail: (err: WsgateError) => void }): void {
    try {
      run();
    } catch (error) {
      on.fail(reportInternal(log, error));
    }
  }

  #onClientError(err: NodeJS.ErrnoException, socket: net.Socket): void {
    if (this.#handshakeFailed(socket)) return;
    if (GONE_CODES.has(err.code ?? '')) {
      this.#log.debug({ event: 'http.client_gone', reason: err.code, client: socket.remoteAddress }, 'client left');
      socket.destroy();
      return;
    }
    const badConnect = this.#handler.onConnect === undefined ? undefined : badConnectOf(err);
    const coded = badConnect ?? clientErrorOf(err, this.#limits);
    this.#log.warn(
      {
        event: badConnect === undefined ? 'http.client_error' : 'connect.bad_target',
        ...(badConnect === undefined ? {} : { outcome: 'bad_target' }),
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
