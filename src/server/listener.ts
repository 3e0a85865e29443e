// A reverse listener: one HTTP server on one address, with a route table that can be swapped on reload.
// It owns its connections: it gives each request an id and a log line, dispatches plain requests to
// http-proxy-3 and Upgrade requests to wsgate's own forwarder, and drains everything on close.
import http, { STATUS_CODES } from 'node:http';
import type net from 'node:net';
import { WsgateError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { HttpForwarder } from '../reverse/http.ts';
import { type CompiledRoutes, compileRoutes, matchRoute, type RouteMatch } from '../reverse/match.ts';
import { checkUpgradeRequest, serializeResponseHead } from '../websocket/handshake.ts';
import type { Joined } from '../websocket/tap.ts';
import { forwardUpgrade } from '../websocket/upgrade.ts';
import { sendErrorResponse, writeErrorToSocket } from './error-response.ts';

export type ListenerRoute = {
  name: string;
  match: readonly RouteMatch[];
  upstream: { name: string; url: string };
  changeOrigin: boolean;
  allowOrigins?: readonly string[] | undefined;
};

export type ListenerLimits = {
  maxHeaderBytes: number;
  headersTimeout: number;
  connectTimeout: number;
  handshakeTimeout: number;
  responseTimeout: number;
  idleTimeout: number;
  maxBufferedBytes: number;
};

export type ListenerSpec = {
  name: string;
  bind: { host: string; port: number };
  routes: readonly ListenerRoute[];
};

export type ListenerSettings = {
  limits: ListenerLimits;
  showSecrets: boolean;
};

let nextId = 0;
/** Ids are short and unique per process; they tie a request's log lines together. */
function newId(prefix: string): string {
  nextId += 1;
  return `${prefix}${nextId.toString(36)}`;
}

/** Browsers always send Origin on a WebSocket handshake; non-browser clients often send none and are not at risk. */
function originAllowed(origin: string | undefined, allowed: readonly string[] | undefined): boolean {
  if (!allowed || origin === undefined) return true;
  return allowed.includes(origin);
}

export function formatAddress(address: { host: string; port: number }): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

const CLIENT_ERROR_STATUS: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
  HPE_URI_TOO_LONG: 414,
};

export class ReverseListener {
  readonly name: string;
  #spec: ListenerSpec;
  #routes: CompiledRoutes<ListenerRoute>;
  #settings: ListenerSettings;
  #log: Logger;
  #forwarder: HttpForwarder;
  #server: http.Server;
  #upgrades = new Set<net.Socket>();
  #joined = new Set<Joined>();
  #address: { host: string; port: number } | undefined;

  constructor(spec: ListenerSpec, settings: ListenerSettings, log: Logger, forwarder: HttpForwarder) {
    this.name = spec.name;
    this.#spec = spec;
    this.#routes = compileRoutes(spec.routes);
    this.#settings = settings;
    this.#log = log.child({ listener: spec.name });
    this.#forwarder = forwarder;
    this.#server = http.createServer({
      maxHeaderSize: settings.limits.maxHeaderBytes,
      headersTimeout: settings.limits.headersTimeout,
      // Uploads and long polls may take long; the slowloris guard is headersTimeout.
      requestTimeout: 0,
      // headersTimeout is only checked this often; Node's default of 30 s would make it 40 s in practice.
      connectionsCheckingInterval: Math.min(1000, settings.limits.headersTimeout),
      keepAliveTimeout: 5000,
      // Per-socket write buffer: a relay pauses its reader once the other side holds this much unsent.
      highWaterMark: settings.limits.maxBufferedBytes,
    });
    this.#server.on('request', (req, res) => this.#onRequest(req, res));
    this.#server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket as net.Socket, head));
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) =>
      this.#onClientError(err, socket),
    );
  }

  get address(): { host: string; port: number } | undefined {
    return this.#address;
  }

  get bind(): { host: string; port: number } {
    return this.#spec.bind;
  }

  /** Active WebSocket connections and handshakes in progress. */
  get webSocketCount(): number {
    return this.#joined.size;
  }

  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(
          new WsgateError(
            'WSG_LISTEN_FAILED',
            { address: formatAddress(this.#spec.bind), detail: err.code ?? err.message },
            { cause: err },
          ),
        );
      };
      this.#server.once('error', onError);
      this.#server.listen({ host: this.#spec.bind.host, port: this.#spec.bind.port }, () => {
        this.#server.off('error', onError);
        this.#server.on('error', (err) => this.#log.error({ event: 'listener.error', err }, 'listener error'));
        const info = this.#server.address() as net.AddressInfo;
        this.#address = { host: info.address, port: info.port };
        resolve(this.#address);
      });
    });
  }

  /** Applies a new route table and limits to connections that arrive from now on. */
  update(spec: ListenerSpec, settings: ListenerSettings): void {
    this.#spec = spec;
    this.#routes = compileRoutes(spec.routes);
    this.#settings = settings;
  }

  /**
   * Stops accepting, lets requests and WebSocket connections in flight finish within the grace period,
   * then closes what is left.
   */
  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    const timer = setTimeout(() => {
      this.#server.closeAllConnections();
      for (const joined of this.#joined) joined.terminate('shutdown', 'grace period over');
      for (const socket of this.#upgrades) socket.destroy();
    }, graceMs);
    const idle = setInterval(() => this.#server.closeIdleConnections(), 100);
    await closed;
    const left = [...this.#joined].map((j) => j.done);
    await Promise.all(left);
    while (this.#upgrades.size > 0) {
      await new Promise((r) => setTimeout(r, 20));
    }
    clearTimeout(timer);
    clearInterval(idle);
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const id = newId('r');
    const started = performance.now();
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
    });
  }

  #onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    // Guard first: an error before any other listener is attached would otherwise crash the process.
    socket.on('error', () => {});
    const id = newId('w');
    const log = this.#log.child({ id });
    this.#upgrades.add(socket);
    socket.once('close', () => this.#upgrades.delete(socket));
    const check = checkUpgradeRequest({ method: req.method, httpVersion: req.httpVersion, headers: req.headers });
    if (!check.ok) {
      const err = new WsgateError('WSG_HANDSHAKE_INVALID', { detail: check.detail });
      log.warn({ event: 'upgrade.denied', code: err.code, path: req.url, upgrade: req.headers.upgrade }, err.message);
      writeErrorToSocket(socket, err);
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
    void forwardUpgrade(req, socket, head, {
      connId: id,
      log,
      route,
      limits: this.#settings.limits,
      showSecrets: this.#settings.showSecrets,
      clientScheme: 'http',
      key: check.key,
      onJoined: (joined) => {
        this.#joined.add(joined);
        void joined.done.then(() => this.#joined.delete(joined));
      },
    });
  }

  #onClientError(err: NodeJS.ErrnoException, socket: net.Socket): void {
    const status = CLIENT_ERROR_STATUS[err.code ?? ''] ?? 400;
    this.#log.warn(
      { event: 'http.client_error', code: err.code, status, client: socket.remoteAddress },
      `rejected a malformed request: ${err.message}`,
    );
    if (socket.writable && !socket.destroyed) {
      socket.end(
        serializeResponseHead(status, STATUS_CODES[status] ?? 'Bad Request', [
          ['Connection', 'close'],
          ['Content-Length', '0'],
        ]),
      );
    } else {
      socket.destroy();
    }
  }
}
