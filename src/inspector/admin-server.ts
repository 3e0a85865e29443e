// The admin listener: one plain HTTP server, separate from every proxy listener (it shares no server, port or
// handler with them, so the admin API is never reachable through the proxy), with the guards every admin call
// passes before its handler runs:
//   - Host must be one of the listener's own names (bind address, localhost, 127.0.0.1, [::1], with the port):
//     a DNS-rebinding page reaches the socket under a foreign name and gets 403. A request with the right token
//     may use any Host (a scrape by pod IP); a rebinding page cannot know the token.
//   - With a token configured, /api calls carry it in a header (Authorization: Bearer or X-Wsgate-Token), never a
//     cookie, so the browser never adds it on its own; compared in constant time (hashes, timingSafeEqual).
//   - Mutating calls (anything but GET/HEAD) and WebSocket upgrades are refused with an Origin that is not the
//     admin's own, and mutating calls need Content-Type: application/json, which a cross-site form cannot send
//     without a CORS preflight that is never granted (no CORS headers are ever written).
// Handlers are a flat table `{ method, path, handle }`; other modules (metrics, health) mount theirs through the
// same table, see docs/admin-api.md "Mounting handlers".
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import type { Duplex } from 'node:stream';
import { listenFailed, WsgateError } from '../errors.ts';
import { reportInternal } from '../log/internal.ts';
import type { Logger } from '../log/logger.ts';
import { formatHostPort } from '../net/host-port.ts';
import { compilePath, type PathPattern, sendError } from './admin-http.ts';

export type AdminRequestContext = {
  /** Values of :params in the handler's path. */
  params: Record<string, string>;
  /** The request URL, parsed (query in url.searchParams). */
  url: URL;
};

/**
 * One admin endpoint. `path` is exact or has `:name` segments (e.g. /api/connections/:id). Guards run before
 * `handle`: Host always; the token on every path under /api/ unless `public` is true; Origin and Content-Type for
 * methods other than GET and HEAD. A throw (a WsgateError or anything else) becomes a coded JSON error answer.
 */
export type AdminHandler = {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  /** No token needed even when one is configured (health checks, metrics scrapes). Host is checked anyway. */
  public?: boolean;
  handle(req: http.IncomingMessage, res: http.ServerResponse, ctx: AdminRequestContext): void | Promise<void>;
};

/** A WebSocket (or other Upgrade) endpoint; the same guards as a GET, plus the Origin check. */
export type AdminUpgradeHandler = {
  path: string;
  handle(req: http.IncomingMessage, socket: Duplex, head: Buffer, ctx: AdminRequestContext): void;
};

export type AdminServerOptions = {
  bind: { host: string; port: number };
  /** When set, /api calls need it (see the header comment); undefined on loopback means no token. */
  token: string | undefined;
  handlers: readonly AdminHandler[];
  upgrades?: readonly AdminUpgradeHandler[];
  log: Logger;
};

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Constant-time comparison: both sides hashed first, so neither the length nor a prefix leaks through timing. */
export function tokenMatches(expected: string, given: string): boolean {
  return timingSafeEqual(digest(expected), digest(given));
}

/** The token a request carries in a header (never a cookie, never the query). */
export function requestToken(req: http.IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const match = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (match) return match[1]!.trim();
  }
  const header = req.headers['x-wsgate-token'];
  return typeof header === 'string' ? header.trim() : undefined;
}

/**
 * The Host values this listener answers to, lower case. Bound to a wildcard address (0.0.0.0, ::), its own names
 * are every address of this machine's interfaces and its host name.
 */
export function ownHostNames(bindHost: string, port: number): Set<string> {
  const names = new Set([bindHost, 'localhost', '127.0.0.1', '::1']);
  if (bindHost === '0.0.0.0' || bindHost === '::') {
    names.add(hostname());
    for (const list of Object.values(networkInterfaces())) {
      for (const address of list ?? []) names.add(address.address);
    }
  }
  const out = new Set<string>();
  for (const name of names) {
    const hostPort = formatHostPort(name, port).toLowerCase();
    out.add(hostPort);
    // Port 80 is the default: a client may leave it out of Host.
    if (port === 80) out.add(hostPort.slice(0, hostPort.lastIndexOf(':')));
  }
  return out;
}

type Compiled = { handler: AdminHandler; match: PathPattern };

export class AdminServer {
  #options: AdminServerOptions;
  #server: http.Server;
  #handlers: Compiled[] = [];
  #upgrades: { handler: AdminUpgradeHandler; match: PathPattern }[] = [];
  #fallbacks: ((req: http.IncomingMessage, res: http.ServerResponse) => boolean)[] = [];
  #hosts = new Set<string>();
  #origins = new Set<string>();
  #address: { host: string; port: number } | undefined;

  constructor(options: AdminServerOptions) {
    this.#options = options;
    for (const handler of options.handlers) this.mount(handler);
    for (const handler of options.upgrades ?? []) {
      this.#upgrades.push({ handler, match: compilePath(handler.path) });
    }
    this.#server = http.createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000 });
    this.#server.on('request', (req, res) => void this.#onRequest(req, res));
    this.#server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head));
    this.#server.on('clientError', (_err, socket) => socket.destroy());
  }

  /** The token from now on (a reload rotating it): requests with the old one are refused from the next one on. */
  setToken(token: string | undefined): void {
    this.#options = { ...this.#options, token };
  }

  /** Adds a handler (before or after listen); a later one for the same method and path does not replace it. */
  mount(handler: AdminHandler): void {
    this.#handlers.push({ handler, match: compilePath(handler.path) });
  }

  /**
   * Adds a handler for GET paths no table entry takes (the inspector's static files): it answers and returns
   * true, or returns false to pass. Runs after the Host check; no token (the UI must load to ask for it).
   */
  mountFallback(handler: (req: http.IncomingMessage, res: http.ServerResponse) => boolean): void {
    this.#fallbacks.push(handler);
  }

  get address(): { host: string; port: number } {
    if (this.#address === undefined) throw new Error('the admin server is not listening');
    return this.#address;
  }

  /** http://host:port of the listener, as a browser would address it. */
  get url(): string {
    const { host, port } = this.address;
    const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    return `http://${formatHostPort(shown, port)}`;
  }

  listen(): Promise<{ host: string; port: number }> {
    const { host, port } = this.#options.bind;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) =>
        reject(listenFailed({ host, port, address: formatHostPort(host, port) }, err));
      this.#server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError);
        const actual = this.#server.address() as { port: number };
        this.#address = { host, port: actual.port };
        this.#hosts = ownHostNames(host, actual.port);
        this.#origins = new Set([...this.#hosts].map((h) => `http://${h}`));
        resolve(this.#address);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#server.listening) {
        resolve();
        return;
      }
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  /** Host, token and Origin: the checks a request passes before any handler. Returns the refusal, if any. */
  #guard(req: http.IncomingMessage, needsToken: boolean, mutating: boolean): WsgateError | undefined {
    const host = (req.headers.host ?? '').toLowerCase();
    const token = this.#options.token;
    // A request carrying the right token may use any Host: a DNS-rebinding page cannot know the token, and a
    // Prometheus scrape or a probe in a cluster addresses the pod by its IP.
    const given = token === undefined ? undefined : requestToken(req);
    const vouched = token !== undefined && given !== undefined && tokenMatches(token, given);
    if (!this.#hosts.has(host) && !vouched) {
      return new WsgateError('WSG_ADMIN_HOST', { host: req.headers.host ?? '' });
    }
    if (token !== undefined && needsToken) {
      if (given === undefined)
        return new WsgateError('WSG_ADMIN_TOKEN', { detail: 'this admin listener needs a token' });
      if (!tokenMatches(token, given)) return new WsgateError('WSG_ADMIN_TOKEN', { detail: 'wrong admin token' });
    }
    if (mutating) {
      const origin = req.headers.origin;
      if (origin !== undefined && !this.#origins.has(origin.toLowerCase())) {
        return new WsgateError('WSG_ADMIN_ORIGIN', { origin });
      }
      // Browsers send this on every request; a cross-site one without Origin (some redirects) is refused too.
      if (req.headers['sec-fetch-site'] === 'cross-site') {
        return new WsgateError('WSG_ADMIN_ORIGIN', { origin: origin ?? '(cross-site)' });
      }
    }
    return undefined;
  }

  async #onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://admin.invalid');
      const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
      let found: { handler: AdminHandler; params: Record<string, string> } | undefined;
      const allowed = new Set<string>();
      for (const { handler, match } of this.#handlers) {
        const params = match(url.pathname);
        if (params === undefined) continue;
        allowed.add(handler.method);
        if (handler.method === 'GET') allowed.add('HEAD');
        if (handler.method === method) {
          found = { handler, params };
          break;
        }
      }
      const mutating = method !== 'GET';
      const needsToken = found ? found.handler.public !== true : url.pathname.startsWith('/api/');
      const refusal = this.#guard(req, needsToken, mutating);
      if (refusal) {
        req.resume();
        sendError(res, refusal);
        return;
      }
      if (!found && method === 'GET' && !url.pathname.startsWith('/api/')) {
        for (const fallback of this.#fallbacks) if (fallback(req, res)) return;
      }
      if (!found && allowed.size > 0) {
        req.resume();
        // RFC 9110 §15.5.6: a 405 lists the methods the path takes.
        const allow = [...allowed].join(', ');
        sendError(
          res,
          new WsgateError('WSG_ADMIN_METHOD_NOT_ALLOWED', { method: req.method ?? '', path: url.pathname, allow }),
          { allow },
        );
        return;
      }
      if (!found) {
        req.resume();
        sendError(res, new WsgateError('WSG_ADMIN_NOT_FOUND', { detail: `no admin endpoint ${url.pathname}` }));
        return;
      }
      if (mutating) {
        const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'application/json') {
          req.resume();
          sendError(res, new WsgateError('WSG_ADMIN_CONTENT_TYPE'));
          return;
        }
      }
      await found.handler.handle(req, res, { params: found.params, url });
    } catch (error) {
      sendError(res, error instanceof WsgateError ? error : reportInternal(this.#options.log, error));
    }
  }

  #onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const entry = this.#upgrades.find((u) => u.match(url.pathname) !== undefined);
    // A WebSocket is not bound by CORS: a foreign page could open one, so upgrades get the Origin check too.
    const refusal = entry
      ? this.#guard(req, true, true)
      : new WsgateError('WSG_ADMIN_NOT_FOUND', { detail: `no admin endpoint ${url.pathname}` });
    if (refusal || !entry) {
      const body = JSON.stringify({ error: { code: refusal?.code, message: refusal?.message } });
      socket.end(
        `HTTP/1.1 ${refusal?.status ?? 404} ${http.STATUS_CODES[refusal?.status ?? 404]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
      return;
    }
    try {
      entry.handler.handle(req, socket, head, { params: entry.match(url.pathname) ?? {}, url });
    } catch (error) {
      reportInternal(this.#options.log, error);
      socket.destroy();
    }
  }
}
