// A forward proxy listener: what HTTP_PROXY / HTTPS_PROXY and a browser's proxy setting point at.
//   - absolute-form requests (`GET http://host/path`) are relayed with undici (forward/http.ts);
//   - an absolute-form request with `Upgrade: websocket` is proxied by the same forwarder as a reverse route;
//   - `CONNECT host:port` opens a tunnel: after the 200, the client's first bytes decide — an HTTP request line
//     is parsed by an internal HTTP server, so a ws:// session inside the tunnel is observed like a reverse-proxied
//     one; a TLS ClientHello to a host in forward.intercept is terminated with a leaf from wsgate's CA and the
//     decrypted stream is parsed the same way (wsgate opens its own verified TLS to the destination); any other
//     ClientHello, and anything else, is tunnelled blindly.
// Access control (auth, host and port rules, destination classes, loops) runs before anything is dialed, and every
// refusal is one coded log line naming the client, the target and the cause.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { Client } from 'undici';
import { WsgateError } from '../errors.ts';
import type { TapLevel } from '../events.ts';
import { newConnId } from '../front/conn-id.ts';
import { sendErrorResponse } from '../front/error-response.ts';
import { admitHandshake } from '../front/handshake-gate.ts';
import { listenOn } from '../front/listen.ts';
import type { Logger } from '../log/logger.ts';
import type { ListenerLimits, ListenerSettings } from '../reverse/listener.ts';
import type { LeafCache } from '../tls/leaf.ts';
import { terminateTls } from '../tls/terminate.ts';
import { defaultUpstreamTls, type UpstreamTls } from '../tls/upstream.ts';
import { isLoopbackHost } from '../upstream/ip.ts';
import type { UpstreamNetwork, UpstreamRoute } from '../upstream/network.ts';
import type { LiveSession } from '../websocket/session.ts';
import { forwardUpgrade, type UpgradeRoute } from '../websocket/upgrade.ts';
import { AUTH_REASONS, checkProxyAuthorization, type ProxyAuthSpec, proxyAuthenticate } from './auth.ts';
import { ForwardDialer, isSelf } from './dial.ts';
import { viaEntry, viaNames } from './headers.ts';
import { HttpRelay } from './http.ts';
import { compileHostMatcher, compilePolicy, type ForwardPolicy, type PortRange, type Verdict } from './policy.ts';
import { writeProxyError } from './respond.ts';
import { type ProxyTarget, parseAbsoluteTarget, parseConnectTarget } from './target.ts';
import { SNIFF_PATIENCE_MS, sniffTunnel, spliceTunnel, type TunnelContent, TunnelUpstream } from './tunnel.ts';

export type ForwardConfig = {
  readonly allowHosts: readonly string[] | undefined;
  readonly denyHosts: readonly string[];
  readonly allowPorts: readonly PortRange[] | undefined;
  readonly destinations: 'any' | 'public';
  readonly auth: ProxyAuthSpec | undefined;
  readonly via: string | undefined;
  readonly tap: TapLevel;
  /** Host patterns whose CONNECT tunnels are decrypted (TLS interception); none by default. */
  readonly intercept?: readonly string[] | undefined;
};

export type ForwardSpec = {
  name: string;
  bind: { host: string; port: number };
  forward: ForwardConfig;
};

export type ForwardSettings = Pick<ListenerSettings, 'showSecrets' | 'tap' | 'emit' | 'keyLog'> & {
  limits: ListenerLimits & { tunnelIdleTimeout: number };
  /** Leaves signed by wsgate's CA: present when some forward listener intercepts (forward.intercept). */
  leaves?: LeafCache | undefined;
  /** How this listener verifies TLS destinations (forward.upstreamCa on top of the defaults). */
  destinationTls?: UpstreamTls | undefined;
};

export type ForwardDeps = {
  network: UpstreamNetwork;
  /** This instance's name in Via headers ("wsgate-…"), shared by its listeners; a request carrying it has looped. */
  pseudonym: string;
  /** Name resolution for direct dials (default dns.lookup). */
  lookup?: net.LookupFunction | undefined;
};

/** A random Via pseudonym per running wsgate, so two instances chained together do not mistake each other. */
export function newPseudonym(): string {
  return `wsgate-${randomBytes(3).toString('hex')}`;
}

/** After one side of a blind tunnel has sent FIN, how long the other may still send (hostile-cases: 30 s). */
const HALF_CLOSE_LINGER_MS = 30_000;

/** An intercepted client's TLS handshake limit when limits.headersTimeout is off (as on TLS listeners). */
const DEFAULT_TLS_HANDSHAKE_MS = 120_000;

/** Why an intercepted client's handshake failed, in words, and how loud to say it. */
function handshakeFailure(
  detail: string,
  refused: { name: string; detail: string } | undefined,
  leaves: LeafCache,
): { reason: string; level: 'info' | 'warn'; endedBy: 'client' | 'wsgate'; message: string } {
  if (refused !== undefined) {
    return {
      reason: 'server_name_denied',
      level: 'warn',
      endedBy: 'wsgate',
      message: `the client asked for ${refused.name} (SNI), which is refused: ${refused.detail}`,
    };
  }
  if (/^no complete handshake within/.test(detail)) {
    return { reason: 'timeout', level: 'info', endedBy: 'wsgate', message: detail };
  }
  // OpenSSL clients (curl) and browsers answer a certificate they do not trust with an alert.
  if (/ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|DECRYPT_ERROR)/i.test(detail)) {
    return {
      reason: 'client_rejected_certificate',
      level: 'warn',
      endedBy: 'client',
      message: `the client rejected wsgate's certificate (${detail}): it does not trust wsgate's CA ${leaves.ca.paths.cert}; \`wsgate ca trust-help --dir ${leaves.ca.paths.dir}\` shows how`,
    };
  }
  if (/closed the connection/.test(detail)) {
    return {
      reason: 'client_closed',
      level: 'info',
      endedBy: 'client',
      message: `${detail} (a client that does not trust wsgate's CA may hang up without saying why)`,
    };
  }
  return { reason: 'protocol', level: 'info', endedBy: 'client', message: `not a valid TLS handshake: ${detail}` };
}

const ABSOLUTE = /^[a-z][a-z0-9+.-]*:\/\//i;

/** Per parsed tunnel: what its requests need to reach the CONNECT target. */
type TunnelContext = {
  id: string;
  log: Logger;
  target: ProxyTarget;
  /** 'https' once TLS interception has terminated the client's TLS. */
  scheme: 'http' | 'https';
  upstream: TunnelUpstream;
  /** The undici client for plain requests in this tunnel, created on the first one. */
  dispatcher: Client | undefined;
};

type Outcome = 'tunnel' | 'denied' | 'bad_target' | 'auth_required' | 'upstream_error' | 'loop';

export class ForwardListener {
  readonly name: string;
  readonly scheme = 'http' as const;
  #spec: ForwardSpec;
  #settings: ForwardSettings;
  #deps: ForwardDeps;
  #log: Logger;
  #server: http.Server;
  /** Parses the HTTP found inside CONNECT tunnels; never listens, sockets are handed to it. */
  #tunnelServer: http.Server;
  #tunnelContexts = new WeakMap<net.Socket, TunnelContext>();
  #policy: ForwardPolicy;
  /** Does a CONNECT host match forward.intercept? */
  #intercepts: (host: string) => boolean;
  #dialer: ForwardDialer;
  #relay: HttpRelay;
  #address: { host: string; port: number } | undefined;
  /** Client sockets of CONNECTs and upgrades in progress (until they close). */
  #sockets = new Set<net.Socket>();
  #sessions = new Set<LiveSession>();
  #blind = new Set<{ terminate(detail: string): void }>();
  #closing = false;
  #warnedNoCa = false;

  constructor(spec: ForwardSpec, settings: ForwardSettings, log: Logger, deps: ForwardDeps) {
    this.name = spec.name;
    this.#spec = spec;
    this.#settings = settings;
    this.#deps = deps;
    this.#log = log.child({ listener: spec.name });
    this.#policy = compilePolicy(spec.forward);
    this.#intercepts = compileHostMatcher(spec.forward.intercept ?? []);
    this.#dialer = new ForwardDialer(deps, this.#dialerSpec());
    this.#relay = new HttpRelay(
      () => this.#dialer,
      () => this.#settings.limits.connectTimeout,
    );
    const serverOptions: http.ServerOptions = {
      maxHeaderSize: settings.limits.maxHeaderBytes,
      headersTimeout: settings.limits.headersTimeout,
      requestTimeout: 0,
      connectionsCheckingInterval: Math.min(1000, settings.limits.headersTimeout || 1000),
      keepAliveTimeout: 5000,
      highWaterMark: settings.limits.maxBufferedBytes,
    };
    this.#server = http.createServer(serverOptions);
    this.#server.on('request', (req, res) => this.#onRequest(req, res));
    this.#server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket as net.Socket, head));
    this.#server.on('connect', (req, socket, head) => this.#onConnect(req, socket as net.Socket, head));
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) =>
      this.#onClientError(err, socket),
    );

    this.#tunnelServer = http.createServer(serverOptions);
    this.#tunnelServer.on('request', (req, res) => this.#onTunnelRequest(req, res));
    this.#tunnelServer.on('upgrade', (req, socket, head) => this.#onTunnelUpgrade(req, socket as net.Socket, head));
    this.#tunnelServer.on('connect', (_req, socket: net.Socket) => {
      // A CONNECT inside a tunnel would be a proxy chained through itself.
      writeProxyError(socket, new WsgateError('WSG_FORWARD_LOOP', { detail: 'CONNECT inside a CONNECT tunnel' }));
    });
    this.#tunnelServer.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) =>
      this.#onClientError(err, socket),
    );
    // The server never binds (tunnel sockets are handed to it), so start Node's connection tracking by hand: it is
    // what enforces headersTimeout (slowloris inside a tunnel) and lets close() end idle keep-alive connections.
    this.#tunnelServer.emit('listening');
  }

  #dialerSpec() {
    return {
      policy: this.#policy,
      via: this.#spec.forward.via,
      self: () => this.#address,
      tls: this.#settings.destinationTls,
      keyLog: this.#settings.keyLog,
    };
  }

  get address(): { host: string; port: number } | undefined {
    return this.#address;
  }

  get bind(): { host: string; port: number } {
    return this.#spec.bind;
  }

  get webSocketCount(): number {
    return this.#sessions.size;
  }

  async listen(): Promise<{ host: string; port: number }> {
    this.#address = await listenOn(this.#server, this.#spec.bind, this.#log);
    this.#dropSelfProxies();
    return this.#address;
  }

  /** HTTP_PROXY pointing at this listener (a shell that exported it for clients) would make wsgate loop. */
  #dropSelfProxies(): void {
    const env = this.#deps.network.envProxies;
    for (const which of ['http', 'https'] as const) {
      const proxy = env[which];
      if (proxy === undefined) continue;
      const host = proxy.url.hostname.replace(/^\[|\]$/g, '');
      const port = Number(proxy.url.port || (proxy.url.protocol === 'https:' ? 443 : 80));
      const self = isLoopbackHost(host)
        ? isSelf(this.#address, host === 'localhost' ? '127.0.0.1' : host, port)
        : false;
      if (self) {
        this.#deps.network.dropEnvProxy(which);
        this.#log.warn(
          { event: 'proxy.env_self', variable: proxy.name, proxy: proxy.display },
          `${proxy.name} points at this proxy listener (${proxy.display}); ignoring it for wsgate's own connections`,
        );
      }
    }
  }

  update(spec: ForwardSpec, settings: ForwardSettings): void {
    this.#spec = spec;
    this.#settings = settings;
    this.#policy = compilePolicy(spec.forward);
    this.#intercepts = compileHostMatcher(spec.forward.intercept ?? []);
    this.#dialer.update(this.#dialerSpec());
  }

  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    this.#tunnelServer.closeIdleConnections();
    for (const session of this.#sessions) session.goingAway();
    const timer = setTimeout(() => {
      this.#server.closeAllConnections();
      this.#tunnelServer.closeAllConnections();
      for (const session of this.#sessions) session.terminate('shutdown', 'grace period over');
      for (const tunnel of this.#blind) tunnel.terminate('grace period over');
      for (const socket of this.#sockets) socket.destroy();
    }, graceMs);
    const idle = setInterval(() => {
      this.#server.closeIdleConnections();
      this.#tunnelServer.closeIdleConnections();
    }, 100);
    await closed;
    while (this.#sockets.size > 0 || this.#sessions.size > 0) {
      await new Promise((r) => setTimeout(r, 20));
    }
    clearTimeout(timer);
    clearInterval(idle);
    // Stops the connection checker started in the constructor; the server never listened, so close reports that.
    this.#tunnelServer.close(() => {});
    await this.#relay.close();
  }

  // ---------------------------------------------------------------- shared checks

  /** Proxy authentication, when the listener has users. Returns the user, or undefined after answering 407. */
  #authenticate(
    req: http.IncomingMessage,
    refuse: (err: WsgateError, challenge: string) => void,
    log: Logger,
    event: string,
    target: string,
  ): { user: string | undefined } | undefined {
    const auth = this.#spec.forward.auth;
    if (auth === undefined) return { user: undefined };
    const verdict = checkProxyAuthorization(auth, req.headers['proxy-authorization']);
    if (verdict.ok) return { user: verdict.user };
    const err = new WsgateError('WSG_PROXY_AUTH_REQUIRED', { detail: AUTH_REASONS[verdict.reason] });
    // A browser's first request carries no credentials by design: that is routine, a wrong password is not.
    const level = verdict.reason === 'missing' ? 'info' : 'warn';
    log[level](
      {
        event,
        outcome: 'auth_required',
        code: err.code,
        client: req.socket.remoteAddress,
        target,
        reason: verdict.reason,
      },
      `${target}: ${err.message}`,
    );
    refuse(err, proxyAuthenticate(auth.realm));
    return undefined;
  }

  /** Via already naming this instance: the request came back around. */
  #loopError(req: http.IncomingMessage): WsgateError | undefined {
    if (!viaNames(req.headers.via, this.#deps.pseudonym)) return undefined;
    return new WsgateError('WSG_FORWARD_LOOP', {
      detail: `the request already passed through ${this.#deps.pseudonym}`,
    });
  }

  #checkTarget(target: ProxyTarget): Verdict {
    return this.#policy.checkTarget(target.host, target.port);
  }

  /** The policy's verdict for an absolute-form request: undefined when allowed, else the 403 to send (logged). */
  #denial(target: ProxyTarget, client: string | undefined, log: Logger): WsgateError | undefined {
    const verdict = this.#checkTarget(target);
    if (verdict.ok) return undefined;
    const err = new WsgateError('WSG_FORWARD_DENIED', { target: target.authority, reason: verdict.detail });
    log.warn(
      { event: 'forward.denied', code: err.code, reason: verdict.reason, client, target: target.authority },
      err.message,
    );
    return err;
  }

  #routeName(kind: 'forward' | 'tunnel'): string {
    return `${this.name}/${kind}`;
  }

  // ---------------------------------------------------------------- absolute-form HTTP

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const id = newConnId('f');
    const log = this.#log.child({ id });
    const started = performance.now();
    const url = req.url ?? '';
    const clientIp = req.socket.remoteAddress;
    let upstream: string | undefined;
    let via: string | undefined;
    let user: string | undefined;
    let code: string | undefined;
    res.once('close', () => {
      log.info(
        {
          event: 'http.access',
          method: req.method,
          url,
          status: res.statusCode,
          ms: Math.round(performance.now() - started),
          route: this.#routeName('forward'),
          upstream,
          via,
          user,
          code,
          client: clientIp,
          completed: res.writableFinished,
        },
        `${req.method} ${url} ${res.statusCode}`,
      );
    });
    const refuse = (err: WsgateError, extra: Record<string, string> = {}) => {
      code = err.code;
      for (const [name, value] of Object.entries(extra)) res.setHeader(name, value);
      sendErrorResponse(res, err);
    };
    if (!ABSOLUTE.test(url)) {
      const err = new WsgateError('WSG_FORWARD_NOT_PROXY', { method: req.method ?? 'GET', target: url.slice(0, 200) });
      log.info({ event: 'forward.not_proxy', code: err.code, client: req.socket.remoteAddress }, err.message);
      refuse(err);
      return;
    }
    const authed = this.#authenticate(
      req,
      (err, challenge) => refuse(err, { 'proxy-authenticate': challenge }),
      log,
      'forward.auth_required',
      url,
    );
    if (authed === undefined) {
      code = 'WSG_PROXY_AUTH_REQUIRED';
      return;
    }
    user = authed.user;
    const loop = this.#loopError(req);
    if (loop !== undefined) {
      log.warn({ event: 'forward.loop', code: loop.code, client: req.socket.remoteAddress, target: url }, loop.message);
      refuse(loop);
      return;
    }
    const parsed = parseAbsoluteTarget(url);
    if (!parsed.ok) {
      const err = new WsgateError('WSG_BAD_REQUEST', { detail: `request target: ${parsed.detail}` });
      log.warn(
        { event: 'forward.bad_target', code: err.code, client: req.socket.remoteAddress, target: url },
        err.message,
      );
      refuse(err);
      return;
    }
    const target = parsed.target;
    upstream = target.url.origin;
    const denied = this.#denial(target, req.socket.remoteAddress, log);
    if (denied) {
      refuse(denied);
      return;
    }
    // ws:// and wss:// in a plain request are the same origins as http:// and https://.
    const httpUrl = new URL(target.url.href.replace(/^ws/i, 'http'));
    const secure = httpUrl.protocol === 'https:';
    const route = this.#dialer.route(target, secure ? 'https' : 'http');
    via = route.proxy?.display ?? 'direct';
    void this.#relay
      .relay(req, res, {
        url: httpUrl,
        proxy: route.proxy,
        host: httpUrl.host,
        via: viaEntry(this.#deps.pseudonym),
        responseTimeout: this.#settings.limits.responseTimeout,
        connectTimeout: this.#settings.limits.connectTimeout,
      })
      .then((result) => {
        if (result.error !== undefined) {
          code = result.error.code;
          this.#logUpstreamError('forward.upstream_error', log, clientIp, target.authority, route, result.error);
        }
      });
  }

  #logUpstreamError(
    event: string,
    log: Logger,
    client: string | undefined,
    target: string,
    route: UpstreamRoute,
    err: WsgateError,
  ): void {
    log.warn(
      {
        event,
        outcome:
          err.code === 'WSG_FORWARD_DENIED' ? 'denied' : err.code === 'WSG_FORWARD_LOOP' ? 'loop' : 'upstream_error',
        code: err.code,
        status: err.status,
        reason: err.params['denyReason'],
        client,
        target,
        via: route.proxy?.display ?? 'direct',
        why: route.why,
        cause: (err.cause as Error | undefined)?.message,
      },
      `${target}: ${err.message}`,
    );
  }

  // ---------------------------------------------------------------- absolute-form WebSocket

  #trackSocket(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  #onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    socket.on('error', () => {});
    const id = newConnId('w');
    const log = this.#log.child({ id });
    this.#trackSocket(socket);
    // As on a reverse listener: bytes sent with the handshake wait in the socket until the upstream said 101.
    if (head.length > 0) socket.unshift(head);
    const url = req.url ?? '';
    const refuse = (err: WsgateError, extra: [string, string][] = []) => writeProxyError(socket, err, extra);
    if (!ABSOLUTE.test(url)) {
      const err = new WsgateError('WSG_FORWARD_NOT_PROXY', { method: req.method ?? 'GET', target: url.slice(0, 200) });
      log.info({ event: 'forward.not_proxy', code: err.code, client: socket.remoteAddress }, err.message);
      refuse(err);
      return;
    }
    const authed = this.#authenticate(
      req,
      (err, challenge) => refuse(err, [['Proxy-Authenticate', challenge]]),
      log,
      'forward.auth_required',
      url,
    );
    if (authed === undefined) return;
    const loop = this.#loopError(req);
    if (loop !== undefined) {
      log.warn({ event: 'forward.loop', code: loop.code, client: socket.remoteAddress, target: url }, loop.message);
      refuse(loop);
      return;
    }
    const check = admitHandshake(req, log);
    if (check instanceof WsgateError) {
      refuse(check);
      return;
    }
    const parsed = parseAbsoluteTarget(url);
    if (!parsed.ok) {
      const err = new WsgateError('WSG_BAD_REQUEST', { detail: `request target: ${parsed.detail}` });
      log.warn({ event: 'forward.bad_target', code: err.code, client: socket.remoteAddress, target: url }, err.message);
      refuse(err);
      return;
    }
    const target = parsed.target;
    const denied = this.#denial(target, socket.remoteAddress, log);
    if (denied) {
      refuse(denied);
      return;
    }
    const secure = target.scheme === 'https' || target.scheme === 'wss';
    const wsUrl = `${secure ? 'wss' : 'ws'}://${target.authority}/`;
    // RFC 9110 §7.6.3: the handshake leaves with this proxy's Via entry appended.
    appendRawVia(req, viaEntry(this.#deps.pseudonym));
    this.#startUpgrade(req, socket, log, id, check.key, {
      // RFC 9112 §3.2.2: a proxy sends the target's authority as Host, whatever Host the client sent.
      route: {
        name: this.#routeName('forward'),
        upstream: { name: new URL(wsUrl).origin, url: wsUrl },
        changeOrigin: true,
      },
      dial: (options) => this.#dialer.dial(target, { ...options, secure, kind: secure ? 'https' : 'http' }),
    });
  }

  #startUpgrade(
    req: http.IncomingMessage,
    socket: net.Socket,
    log: Logger,
    id: string,
    key: string,
    how: {
      route: UpgradeRoute;
      /** 'https' inside an intercepted tunnel (X-Forwarded-Proto). */
      clientScheme?: 'http' | 'https';
      dial: (options: { connectTimeout: number; highWaterMark: number }) => Promise<net.Socket>;
    },
  ): void {
    void forwardUpgrade(req, socket, Buffer.alloc(0), {
      connId: id,
      log,
      route: how.route,
      limits: this.#settings.limits,
      showSecrets: this.#settings.showSecrets,
      clientScheme: how.clientScheme ?? 'http',
      key,
      tap: { level: this.#spec.forward.tap, ...this.#settings.tap },
      emit: this.#settings.emit,
      onSession: (session) => {
        this.#sessions.add(session);
        // A handshake that completes while the listener is closing still gets its Close 1001.
        if (this.#closing) session.goingAway();
        void session.done.then(() => this.#sessions.delete(session));
      },
      dial: (_target, options) => how.dial(options),
    });
  }

  // ---------------------------------------------------------------- CONNECT

  #onConnect(req: http.IncomingMessage, client: net.Socket, head: Buffer): void {
    client.on('error', () => {});
    const id = newConnId('c');
    const log = this.#log.child({ id });
    const started = performance.now();
    this.#trackSocket(client);
    const raw = req.url ?? '';
    const clientIp = client.remoteAddress;
    const fail = (
      event: string,
      outcome: Outcome,
      err: WsgateError,
      fields: Record<string, unknown> = {},
      extra: [string, string][] = [],
    ) => {
      log.warn(
        { event, outcome, code: err.code, status: err.status, client: clientIp, target: raw, ...fields },
        `CONNECT ${raw}: ${err.message}`,
      );
      writeProxyError(client, err, extra);
    };
    const authed = this.#authenticate(
      req,
      (err, challenge) => writeProxyError(client, err, [['Proxy-Authenticate', challenge]]),
      log,
      'connect.auth_required',
      raw,
    );
    if (authed === undefined) return;
    const parsed = parseConnectTarget(raw);
    if (!parsed.ok) {
      fail(
        'connect.bad_target',
        'bad_target',
        new WsgateError('WSG_CONNECT_BAD_TARGET', { target: JSON.stringify(raw.slice(0, 200)), detail: parsed.detail }),
      );
      return;
    }
    const target = parsed.target;
    const loop = this.#loopError(req);
    if (loop !== undefined) {
      fail('connect.loop', 'loop', loop);
      return;
    }
    const verdict = this.#checkTarget(target);
    if (!verdict.ok) {
      fail(
        'connect.denied',
        'denied',
        new WsgateError('WSG_FORWARD_DENIED', { target: target.authority, reason: verdict.detail }),
        {
          reason: verdict.reason,
        },
      );
      return;
    }
    const route = this.#dialer.route(target, 'tunnel');
    const limits = this.#settings.limits;
    const dial = () =>
      this.#dialer.dial(
        target,
        { connectTimeout: limits.connectTimeout, highWaterMark: limits.maxBufferedBytes, kind: 'tunnel' },
        route,
      );
    const base = {
      client: clientIp,
      target: target.authority,
      user: authed.user,
      via: route.proxy?.display ?? 'direct',
    };
    // An intercepted host is dialed only after the client's TLS is done (or once it turns out not to start with
    // TLS): a ClientHello that is garbage, names a refused host or never finishes costs the destination nothing.
    const leaves = this.#intercepts(target.host) ? this.#interceptionLeaves() : undefined;
    void (async () => {
      /** Dials the destination; on failure logs it and answers (before the 200) or closes (after it). */
      const dialed = async (afterOk: boolean): Promise<net.Socket | undefined> => {
        try {
          const socket = await dial();
          socket.on('error', () => {});
          return socket;
        } catch (error) {
          const err = error instanceof WsgateError ? error : new WsgateError('WSG_INTERNAL', { detail: String(error) });
          const outcome: Outcome =
            err.code === 'WSG_FORWARD_DENIED' ? 'denied' : err.code === 'WSG_FORWARD_LOOP' ? 'loop' : 'upstream_error';
          const event =
            outcome === 'denied' ? 'connect.denied' : outcome === 'loop' ? 'connect.loop' : 'connect.upstream_error';
          log.warn(
            {
              event,
              outcome,
              code: err.code,
              status: err.status,
              reason: err.params['denyReason'],
              ...base,
              why: route.why,
              cause: (err.cause as Error | undefined)?.message,
              ms: Math.round(performance.now() - started),
            },
            `CONNECT ${target.authority}: ${err.message}`,
          );
          if (afterOk) client.destroy();
          else writeProxyError(client, err);
          return undefined;
        }
      };
      let upstream: net.Socket | undefined;
      let connectedMs: number | undefined;
      if (leaves === undefined) {
        upstream = await dialed(false);
        if (upstream === undefined) return;
        connectedMs = Math.round(performance.now() - started);
      }
      if (client.destroyed || this.#closing) {
        upstream?.destroy();
        client.destroy();
        log.info(
          {
            event: 'connect.close',
            outcome: 'tunnel' as Outcome,
            ...base,
            content: 'none',
            endedBy: this.#closing ? 'wsgate' : 'client',
            how: this.#closing ? 'shutdown' : 'fin',
            durationMs: Math.round(performance.now() - started),
          },
          `CONNECT ${target.authority} ended before the tunnel opened`,
        );
        return;
      }
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      log.debug(
        { event: 'connect.open', ...base, connectMs: connectedMs, intercept: leaves !== undefined },
        `CONNECT ${target.authority} established`,
      );
      const bytesBefore = { read: client.bytesRead, written: client.bytesWritten };
      if (head.length > 0) client.unshift(head);
      let content: TunnelContent = await sniffTunnel(client, upstream, limits.tunnelIdleTimeout, SNIFF_PATIENCE_MS);
      let intercepted = false;
      const finishLine = (fields: Record<string, unknown>) => {
        log.info(
          {
            event: 'connect.close',
            outcome: 'tunnel' as Outcome,
            ...base,
            content,
            ...(leaves === undefined ? {} : { intercepted }),
            connectMs: connectedMs,
            durationMs: Math.round(performance.now() - started),
            ...fields,
          },
          `CONNECT ${target.authority} (${content}${intercepted ? ', intercepted' : ''}) closed after ${Math.round(performance.now() - started)} ms`,
        );
      };
      const transferred = () => ({
        bytesToUpstream: client.bytesRead - bytesBefore.read,
        bytesToClient: client.bytesWritten - bytesBefore.written,
      });
      if (leaves !== undefined && upstream === undefined && (content === 'opaque' || content === 'quiet')) {
        // Intercepted host, but no ClientHello: another protocol, or a client waiting for a server that speaks
        // first. Dial now and carry on as with any tunnel.
        upstream = await dialed(true);
        if (upstream === undefined) {
          finishLine({ ...transferred(), endedBy: 'wsgate', how: 'upstream_error' });
          return;
        }
        connectedMs = Math.round(performance.now() - started);
        if (content === 'quiet') content = await sniffTunnel(client, upstream, limits.tunnelIdleTimeout);
      }
      if (content === 'closed' || content === 'idle') {
        client.destroy();
        upstream?.destroy();
        // 'closed': one side hung up before either sent a byte.
        finishLine({
          bytesToUpstream: 0,
          bytesToClient: 0,
          ...(content === 'idle' ? { endedBy: 'wsgate', how: 'idle' } : { how: 'fin' }),
        });
        return;
      }
      if (content === 'tls' && leaves !== undefined) {
        intercepted = true;
        this.#interceptTls(client, upstream, { id, log, target, dial, leaves }, (fields) =>
          finishLine({ ...transferred(), ...fields }),
        );
        return;
      }
      if (content === 'http') {
        this.#serveParsed(
          client,
          { id, log, target, scheme: 'http', upstream: new TunnelUpstream(upstream, dial), dispatcher: undefined },
          () => finishLine(transferred()),
        );
        return;
      }
      // TLS not intercepted, another protocol, or an upstream that speaks first: bytes pass unread.
      if (upstream === undefined) {
        // Not reached: without an upstream every verdict is handled above.
        client.destroy();
        finishLine({ ...transferred(), endedBy: 'wsgate', how: 'internal' });
        return;
      }
      const tunnel = spliceTunnel(client, upstream, {
        idleTimeout: limits.tunnelIdleTimeout,
        halfCloseLinger: HALF_CLOSE_LINGER_MS,
      });
      this.#blind.add(tunnel);
      const stats = await tunnel.done;
      this.#blind.delete(tunnel);
      finishLine({
        bytesToUpstream: stats.bytesToUpstream,
        bytesToClient: stats.bytesToClient,
        endedBy: stats.cause.by,
        how: stats.cause.how,
        detail: stats.cause.detail,
      });
    })();
  }

  /** The CA's leaves for an intercepted CONNECT; without them (no CA loaded) the tunnel stays blind, with a warning. */
  #interceptionLeaves(): LeafCache | undefined {
    const leaves = this.#settings.leaves;
    if (leaves === undefined && !this.#warnedNoCa) {
      this.#warnedNoCa = true;
      this.#log.warn(
        { event: 'tls.intercept_unavailable' },
        "forward.intercept is set but wsgate's CA is not loaded; matching tunnels pass blindly",
      );
    }
    return leaves;
  }

  /**
   * TLS interception: completes the client's handshake with a leaf for its SNI name (the CONNECT host without
   * SNI) and serves the decrypted stream like plain HTTP in a tunnel, with wsgate's own verified TLS toward the
   * destination (servername: the same name). A failed handshake closes the tunnel with one tls.handshake_failed
   * line; the destination is then never dialed (a parked socket, from a client that was slow to start, is closed).
   */
  #interceptTls(
    client: net.Socket,
    parked: net.Socket | undefined,
    tunnel: { id: string; log: Logger; target: ProxyTarget; dial: () => Promise<net.Socket>; leaves: LeafCache },
    finish: (fields: Record<string, unknown>) => void,
  ): void {
    const { id, log, target, leaves } = tunnel;
    const limits = this.#settings.limits;
    let refused: { name: string; reason: string; detail: string } | undefined;
    void terminateTls(client, {
      leaves,
      connectHost: target.host,
      // The handshake is part of what a client owes before its request head: the same slowloris guard.
      handshakeTimeout: limits.headersTimeout || DEFAULT_TLS_HANDSHAKE_MS,
      keyLog: this.#settings.keyLog,
      // The SNI name is where the decrypted requests go (and the name checked upstream): the access rules apply.
      allowServerName: (name) => {
        const verdict = this.#policy.checkTarget(name, target.port);
        if (!verdict.ok) refused = { name, reason: verdict.reason, detail: verdict.detail };
        return verdict.ok;
      },
    }).then(
      ({ socket, servername, sni, alpnProtocol }) => {
        log.debug(
          {
            event: 'tls.intercepted',
            target: target.authority,
            servername,
            sni,
            alpn: alpnProtocol,
            protocol: socket.getProtocol(),
          },
          `CONNECT ${target.authority}: TLS intercepted with a certificate for ${servername}`,
        );
        const upstream = new TunnelUpstream(parked, tunnel.dial, {
          host: servername,
          port: target.port,
          settings: this.#settings.destinationTls ?? defaultUpstreamTls(),
          keyLog: this.#settings.keyLog,
          timeout: limits.connectTimeout,
        });
        this.#serveParsed(socket, { id, log, target, scheme: 'https', upstream, dispatcher: undefined }, () =>
          finish({ servername }),
        );
      },
      (error: unknown) => {
        parked?.destroy();
        const detail = error instanceof WsgateError ? String(error.params['detail'] ?? error.message) : String(error);
        const why = handshakeFailure(detail, refused, leaves);
        log[why.level](
          {
            event: 'tls.handshake_failed',
            code: 'WSG_TLS_HANDSHAKE',
            reason: why.reason,
            detail,
            client: client.remoteAddress,
            target: target.authority,
            ...(refused === undefined ? {} : { servername: refused.name, denyReason: refused.reason }),
          },
          `CONNECT ${target.authority}: TLS interception failed: ${why.message}`,
        );
        finish({ endedBy: why.endedBy, how: 'tls_handshake', detail: why.reason });
      },
    );
  }

  /** Hands a tunnel's client socket to the internal HTTP server; its requests go to the CONNECT target. */
  #serveParsed(client: net.Socket, ctx: TunnelContext, onClose: () => void): void {
    this.#tunnelContexts.set(client, ctx);
    client.once('close', () => {
      ctx.upstream.destroy();
      void ctx.dispatcher?.destroy().catch(() => {});
      onClose();
    });
    this.#tunnelServer.emit('connection', client);
    client.resume();
  }

  #onTunnelRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const ctx = this.#tunnelContexts.get(req.socket);
    if (ctx === undefined) {
      res.destroy();
      return;
    }
    const started = performance.now();
    const log = ctx.log;
    const clientIp = req.socket.remoteAddress;
    let code: string | undefined;
    res.once('close', () => {
      log.info(
        {
          event: 'http.access',
          method: req.method,
          path: req.url,
          status: res.statusCode,
          ms: Math.round(performance.now() - started),
          route: this.#routeName('tunnel'),
          upstream: ctx.target.authority,
          code,
          client: clientIp,
          completed: res.writableFinished,
        },
        `${req.method} ${req.url} ${res.statusCode} (in CONNECT ${ctx.target.authority})`,
      );
    });
    const secure = ctx.scheme === 'https';
    const origin = `${ctx.scheme}://${ctx.target.authority}`;
    // Inside a tunnel the client speaks to the origin itself: origin-form, its own Host, no Via.
    const path = ABSOLUTE.test(req.url ?? '')
      ? new URL(req.url!).pathname + new URL(req.url!).search
      : (req.url ?? '/');
    ctx.dispatcher ??= new Client(origin, {
      keepAliveTimeout: 4000,
      connect: (_opts, callback) => {
        ctx.upstream.take(secure).then(
          (socket) => callback(null, socket),
          (err: Error) => callback(err, null),
        );
      },
    });
    void this.#relay
      .relay(req, res, {
        url: new URL(path.startsWith('/') ? path : `/${path}`, origin),
        proxy: undefined,
        host: req.headers.host ?? ctx.target.authority,
        via: undefined,
        responseTimeout: this.#settings.limits.responseTimeout,
        connectTimeout: this.#settings.limits.connectTimeout,
        dispatcher: ctx.dispatcher,
      })
      .then((result) => {
        if (result.error !== undefined) {
          code = result.error.code;
          log.warn(
            { event: 'forward.upstream_error', code, client: clientIp, target: ctx.target.authority },
            result.error.message,
          );
        }
      });
  }

  #onTunnelUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    socket.on('error', () => {});
    const ctx = this.#tunnelContexts.get(socket);
    if (ctx === undefined) {
      socket.destroy();
      return;
    }
    if (head.length > 0) socket.unshift(head);
    const id = newConnId('w');
    const log = ctx.log.child({ ws: id });
    const check = admitHandshake(req, log);
    if (check instanceof WsgateError) {
      writeProxyError(socket, check);
      return;
    }
    const secure = ctx.scheme === 'https';
    const url = `${secure ? 'wss' : 'ws'}://${ctx.target.authority}/`;
    this.#startUpgrade(req, socket, log, id, check.key, {
      route: { name: this.#routeName('tunnel'), upstream: { name: ctx.target.authority, url }, changeOrigin: false },
      clientScheme: ctx.scheme,
      dial: () => ctx.upstream.take(secure),
    });
  }

  #onClientError(err: NodeJS.ErrnoException, socket: net.Socket): void {
    const rawPacket = (err as { rawPacket?: Buffer }).rawPacket;
    const isConnect = rawPacket !== undefined && rawPacket.subarray(0, 8).toString('latin1') === 'CONNECT ';
    if (['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'HPE_CLOSED_CONNECTION'].includes(err.code ?? '')) {
      socket.destroy();
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 431
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 408
          : err.code === 'HPE_URI_TOO_LONG'
            ? 414
            : 400;
    if (isConnect) {
      // llhttp refuses some targets itself (a space or NUL inside): still a bad CONNECT target to the user.
      const line = rawPacket.toString('latin1').split('\r\n')[0]!.slice(0, 200);
      const error = new WsgateError('WSG_CONNECT_BAD_TARGET', {
        target: JSON.stringify(line.replace(/^CONNECT /, '').replace(/ HTTP\/1\.[01]$/, '')),
        detail: err.message.replace(/^Parse Error: /, ''),
      });
      this.#log.warn(
        {
          event: 'connect.bad_target',
          outcome: 'bad_target',
          code: error.code,
          status: 400,
          reason: err.code,
          client: socket.remoteAddress,
        },
        error.message,
      );
      writeProxyError(socket, error);
      return;
    }
    const error =
      status === 408
        ? new WsgateError('WSG_HEADERS_TIMEOUT', { timeout: `${this.#settings.limits.headersTimeout}ms` })
        : status === 431
          ? new WsgateError('WSG_HEADERS_TOO_LARGE', { limit: this.#settings.limits.maxHeaderBytes, count: 100 })
          : status === 414
            ? new WsgateError('WSG_URI_TOO_LONG', { limit: 8192 })
            : new WsgateError('WSG_BAD_REQUEST', { detail: err.message.replace(/^Parse Error: /, '') });
    this.#log.warn(
      {
        event: 'http.client_error',
        code: error.code,
        status: error.status,
        reason: err.code,
        client: socket.remoteAddress,
      },
      error.message,
    );
    writeProxyError(socket, error);
  }
}

/** Adds this proxy's Via entry to the raw headers the upgrade forwarder copies (RFC 9110 §7.6.3). */
function appendRawVia(req: http.IncomingMessage, entry: string): void {
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'via') {
      raw[i + 1] = `${raw[i + 1]}, ${entry}`;
      return;
    }
  }
  raw.push('Via', entry);
}
