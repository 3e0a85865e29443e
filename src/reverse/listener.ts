// A reverse listener: a front (src/front/) on one address with a route table that can be swapped on reload.
// The front enforces the limits, answers client errors, gives ids and access lines and drains on close; this file
// only decides where a request or a WebSocket handshake goes: route match, Origin check, then http-proxy-3 for
// plain requests and wsgate's own Upgrade forwarder for WebSockets.
import type http from 'node:http';
import type net from 'node:net';
import type tls from 'node:tls';
import type { RouteUpstream } from '../config/resolve.ts';
import { WsgateError } from '../errors.ts';
import type { TapLevel } from '../events.ts';
import { sendErrorResponse, writeErrorToSocket } from '../front/error-response.ts';
import { Front, type FrontHandler, type RequestScope, type Scope, type UpgradeScope } from '../front/front.ts';
import type { EntrySettings } from '../front/limits.ts';
import { type ProxyProtocolSpec, proxiedBy, proxiedTls } from '../front/proxy-header.ts';
import type { UpgradeRefusal } from '../front/refuse-upgrade.ts';
import { realClientAddress } from '../http/forwarded.ts';
import { originFormOf, type PathTarget } from '../http/request-target.ts';
import type { Logger } from '../log/logger.ts';
import { type Cidr, cidrsContain, compileCidrs } from '../net/cidr.ts';
import type { ConnectionRules } from '../rules/types.ts';
import { misdirectedServerName, type ServerTls } from '../tls/server-certs.ts';
import { defaultUpstreamTls, type UpstreamTls } from '../tls/upstream.ts';
import type { ServerSnapshot, UpstreamBalancer } from '../upstream/balancer.ts';
import type { UpstreamNetwork } from '../upstream/network.ts';
import { spareKey, UpstreamSpares } from '../upstream/spares.ts';
import { failedHandshake, failureOf } from '../websocket/failed-handshake.ts';
import type { KeepaliveSettings } from '../websocket/keepalive.ts';
import type { LiveSession } from '../websocket/session.ts';
import { forwardUpgrade } from '../websocket/upgrade.ts';
import type { HttpForwarder } from './http.ts';
import { type CompiledRoutes, compileRoutes, matchRoute, normalizeHost, type RouteMatch } from './match.ts';
import { dialRoute, type UpgradeDialSettings } from './upgrade-dial.ts';

export type ListenerRoute = {
  name: string;
  match: readonly RouteMatch[];
  upstream: RouteUpstream;
  changeOrigin: boolean;
  allowOrigins?: readonly string[] | undefined;
  tap: TapLevel;
  /** Match and forward the path as received instead of its canonical form. */
  rawPath?: boolean | undefined;
  /** Names of the rules for this route's connections, the listener's first (docs/rules.md, "For the edges"). */
  rules?: readonly string[] | undefined;
  /** wsgate's own pings on silent connections (route or listener `keepalive`). */
  keepalive?: KeepaliveSettings | undefined;
  /** What a relayed connection does with permessage-deflate. Default strip. */
  relay?: { deflate: 'strip' | 'keep' } | undefined;
};

export type ListenerSpec = {
  name: string;
  bind: { host: string; port: number };
  /** Direct peers (CIDR ranges) whose X-Forwarded-* and Forwarded are kept and appended to; none by default. */
  trustForwarded?: readonly string[] | undefined;
  /** Connections start with a PROXY protocol header (from these peers, or all); see front/proxy-header.ts. */
  proxyProtocol?: ProxyProtocolSpec | undefined;
  routes: readonly ListenerRoute[];
};

export type ListenerSettings = EntrySettings & {
  /** TLS settings of named upstreams (loaded before anything listens); others get the defaults. */
  upstreamTls?: ReadonlyMap<string, UpstreamTls> | undefined;
  /** Which upstreams go through an upstream proxy; direct when absent. */
  network?: UpstreamNetwork | undefined;
  /** Picks a server of upstreams with several (upstreams[].servers); one for the process, across reloads. */
  balancer?: UpstreamBalancer | undefined;
};

/** Browsers always send Origin on a WebSocket handshake; non-browser clients often send none and are not at risk. */
function originAllowed(origin: string | undefined, allowed: readonly string[] | undefined): boolean {
  if (!allowed || origin === undefined) return true;
  return allowed.includes(origin);
}

export class ReverseListener implements FrontHandler<never> {
  name: string;
  #spec: ListenerSpec;
  #routes: CompiledRoutes<ListenerRoute>;
  #trusted: readonly Cidr[];
  #settings: ListenerSettings;
  #forwarder: HttpForwarder;
  #front: Front;
  /** The certificates served (as the front has them): a request's Host must fall to the one its SNI chose. */
  #tls: ServerTls | undefined;
  #spares = new UpstreamSpares((upstream, result) => this.#settings.observer?.spare(upstream, result));
  // One function for every connection: a closure made in onUpgrade would share its scope with the dial's, and so
  // keep the request (its headers and buffers) alive as long as the connection.
  #ruleSource = () => this.#settings.rules;

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
    this.#trusted = compileCidrs(spec.trustForwarded ?? []);
    this.#settings = settings;
    this.#forwarder = forwarder;
    this.#tls = tls;
    this.#front = new Front(
      {
        name: spec.name,
        log: log.child({ listener: spec.name }),
        limits: settings.limits,
        tls,
        keyLog: settings.keyLog,
        requestIdPrefix: 'r',
        observer: settings.observer,
        proxyProtocol: spec.proxyProtocol,
      },
      this,
    );
  }

  /** "https" for a TLS listener. */
  get scheme(): 'http' | 'https' {
    return this.#front.scheme;
  }

  get address(): { host: string; port: number } | undefined {
    return this.#front.address;
  }

  get bind(): { host: string; port: number } {
    return this.#spec.bind;
  }

  /** Active WebSocket connections. */
  get webSocketCount(): number {
    return this.#front.webSocketCount;
  }

  /** The live WebSocket connection with this id, if this listener holds it (the admin API's send and close). */
  session(conn: string): LiveSession | undefined {
    return this.#front.session(conn);
  }

  /** The open WebSockets to one server of a pool (its origin). */
  /** Spares held now for a server (spareKey): 0 or 1. */
  sparesFor(key: string): number {
    return this.#spares.heldFor(key);
  }

  sessionsTo(upstream: string, server: string): LiveSession[] {
    return this.#front.sessionsTo(upstream, server);
  }

  listen(): Promise<{ host: string; port: number }> {
    return this.#front.listen(this.#spec.bind);
  }

  /**
   * Applies a new route table and limits to connections that arrive from now on; for a TLS listener also the
   * certificates as re-read on reload (a renewed certificate is served without a restart).
   */
  update(spec: ListenerSpec, settings: ListenerSettings, tls?: ServerTls | undefined): void {
    this.#spec = spec;
    this.#routes = compileRoutes(spec.routes);
    this.#trusted = compileCidrs(spec.trustForwarded ?? []);
    this.#settings = settings;
    if (tls !== undefined && this.#tls !== undefined) this.#tls = tls;
    this.#front.update(settings.limits, spec.proxyProtocol, tls);
    // Spares were dialed with the old upstreams' settings (TLS, via, preconnect).
    this.#spares.closeAll();
  }

  /** A reload renamed it (same kind and address): new connections and its own lines carry `name` (front/front.ts). */
  rename(name: string, log: Logger): void {
    this.name = name;
    this.#front.rename(name, log.child({ listener: name }));
  }

  close(graceMs: number, reason?: string): Promise<void> {
    this.#spares.close();
    return this.#front.close(graceMs, reason);
  }

  /** The scheme the client used: this listener's, or https where a balancer terminated TLS and its header says so. */
  #clientScheme(req: http.IncomingMessage): 'http' | 'https' {
    return this.scheme === 'https' || proxiedTls(req.socket) ? 'https' : 'http';
  }

  /** The TLS settings of an upstream: its tls: block when it is a named upstream that has one. */
  #upstreamTls(upstream: string): UpstreamTls {
    return this.#settings.upstreamTls?.get(upstream) ?? defaultUpstreamTls();
  }

  #dialSettings(): UpgradeDialSettings {
    const { upstreamTls, network, balancer, keyLog } = this.#settings;
    return { upstreamTls, network, balancer, keyLog, spares: this.#spares };
  }

  /**
   * The client's address for ip-hash and per-client handshake rates: the peer, or behind trusted proxies the one
   * X-Forwarded-For names.
   */
  clientOf(req: http.IncomingMessage): string {
    const header = req.headers['x-forwarded-for'];
    // Node joins repeated X-Forwarded-For lines with ", " already; an array would only come from a caller's object.
    const forwardedFor = Array.isArray(header) ? header.join(', ') : header;
    return realClientAddress(req.socket.remoteAddress ?? '', forwardedFor, (address) =>
      cidrsContain(this.#trusted, address),
    );
  }

  /**
   * The route and the origin-form target to forward (canonical path, or raw on a rawPath route), or the logged
   * refusal: 404 when no route matches, 400 when the path has no canonical form and no rawPath route takes it.
   */
  #match(
    req: http.IncomingMessage,
    target: PathTarget,
    log: Logger,
    kind: 'http' | 'ws',
  ): { route: ListenerRoute; target: string } | WsgateError {
    if (this.#tls !== undefined) {
      const host = normalizeHost(req.headers.host);
      const servername = misdirectedServerName(this.#tls, (req.socket as tls.TLSSocket).servername, host);
      if (servername !== undefined) {
        const err = new WsgateError('WSG_MISDIRECTED_REQUEST', { host: host ?? '', servername });
        log.warn({ event: `${kind}.misdirected`, code: err.code, status: err.status, servername, host }, err.message);
        return err;
      }
    }
    const result = matchRoute(this.#routes, {
      host: req.headers.host,
      path: originFormOf(target),
      headers: req.headers,
    });
    if (result.route !== undefined) return { route: result.route, target: result.target };
    if (result.ambiguous !== undefined) {
      const path = target.path.length > 200 ? `${target.path.slice(0, 200)}…` : target.path;
      const err = new WsgateError('WSG_AMBIGUOUS_PATH', { path, detail: result.ambiguous });
      log.warn({ event: `${kind}.ambiguous_path`, code: err.code, status: err.status, why: result.why }, err.message);
      return err;
    }
    const err = new WsgateError('WSG_NO_ROUTE', { host: req.headers.host ?? '', path: req.url ?? '' });
    log.warn({ event: `${kind}.no_route`, code: err.code, why: result.why }, err.message);
    return err;
  }

  onRequest(req: http.IncomingMessage, res: http.ServerResponse, scope: RequestScope<never>): void {
    const { log, access } = scope;
    const matched = this.#match(req, scope.target, log, 'http');
    if (matched instanceof WsgateError) {
      access.code = matched.code;
      sendErrorResponse(res, matched);
      return;
    }
    const { route } = matched;
    access.route = route.name;
    access.upstream = route.upstream.name;
    this.#forwarder.forward(req, res, route, {
      target: matched.target,
      log,
      connectTimeout: this.#settings.limits.connectTimeout,
      responseTimeout: this.#settings.limits.responseTimeout,
      tls: this.#upstreamTls(route.upstream.name),
      forwarded: { proto: this.#clientScheme(req), trusted: cidrsContain(this.#trusted, req.socket.remoteAddress) },
      client: route.upstream.pool?.balance === 'ip-hash' ? this.clientOf(req) : undefined,
      access,
    });
  }

  onUpgrade(req: http.IncomingMessage, socket: net.Socket, scope: UpgradeScope<never>): void {
    const { id, log, key } = scope;
    const matched = this.#match(req, scope.target, log, 'ws');
    if (matched instanceof WsgateError) {
      scope.refuse(matched);
      return;
    }
    const { route } = matched;
    const origin = req.headers.origin;
    if (!originAllowed(origin, route.allowOrigins)) {
      const err = new WsgateError('WSG_ORIGIN_DENIED', { origin: origin ?? '' });
      log.warn({ event: 'ws.origin_denied', code: err.code, route: route.name, origin }, err.message);
      scope.refuse(err, { route: route.name, upstream: route.upstream.name });
      return;
    }
    void forwardUpgrade(req, socket, {
      connId: id,
      log,
      route,
      target: matched.target,
      limits: this.#settings.limits,
      showSecrets: this.#settings.showSecrets,
      clientScheme: this.#clientScheme(req),
      forwarded: { trusted: cidrsContain(this.#trusted, req.socket.remoteAddress) },
      client: this.clientOf(req),
      peer: proxiedBy(req.socket),
      key,
      tap: { level: route.tap, ...this.#settings.tap },
      emit: this.#settings.emit,
      onSession: (session, conn, server) =>
        this.#front.addSession(
          session,
          conn,
          server === undefined ? undefined : { upstream: route.upstream.name, server },
        ),
      refuse: writeErrorToSocket,
      dial: (target, options) =>
        dialRoute(this.#dialSettings(), log, route.upstream, target, options, req, () => this.clientOf(req)),
      rules: this.#rulesFor(route, req, matched.target, id),
      // The rules of the config now running: a relayed connection's `live: true` rules follow a reload.
      ruleSource: this.#ruleSource,
      keepalive: route.keepalive,
    });
  }

  /** A handshake refused before an upstream was asked (no route, Origin, the front's gate): a failed record. */
  upgradeRefused(req: http.IncomingMessage, scope: Scope<never>, refusal: UpgradeRefusal): void {
    const { err, route, upstream, started } = refusal;
    const tap = route === undefined ? undefined : this.#spec.routes.find((r) => r.name === route)?.tap;
    const at = { conn: scope.id, listener: this.name, route, upstream, tap, started };
    const who = { client: this.clientOf(req), peer: proxiedBy(req.socket) ?? req.socket.remoteAddress };
    const showSecrets = this.#settings.showSecrets;
    this.#settings.emit(failedHandshake(req, { ...at, ...who, showSecrets }, failureOf(err)));
  }

  /** The connection's rules, or undefined when its route has none (docs/rules.md, "For the edges"). */
  #rulesFor(
    route: ListenerRoute,
    req: http.IncomingMessage,
    target: string,
    conn: string,
  ): ConnectionRules | undefined {
    const ruleSet = this.#settings.rules;
    const names = route.rules ?? [];
    if (ruleSet === undefined || names.length === 0) return undefined;
    // The host the client asked for (Host, without the port), as a forward listener's CONNECT target would be.
    let host = '';
    let port = this.#clientScheme(req) === 'https' ? 443 : 80;
    if (req.headers.host !== undefined && URL.canParse(`http://${req.headers.host}/`)) {
      const url = new URL(`http://${req.headers.host}/`);
      host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      if (url.port !== '') port = Number(url.port);
    }
    const facts = { listener: this.name, route: route.name, host, port, path: target.split(/[?#]/, 1)[0] ?? '/' };
    return ruleSet.forConnection(facts, names, { conn, deflate: route.relay?.deflate ?? 'strip' });
  }
}

/**
 * Closes every open WebSocket to one server of a pool (the admin API's close, after a drain) with `code` to both
 * sides, between frames. Returns how many began closing.
 */
export function closeServerSessions(
  listeners: Iterable<unknown>,
  upstream: string,
  server: string,
  code: number,
  reason: string,
): number {
  const origin = new URL(server).origin;
  let closed = 0;
  for (const listener of listeners) {
    if (!(listener instanceof ReverseListener)) continue;
    for (const session of listener.sessionsTo(upstream, origin)) if (session.close(code, reason, 'both').ok) closed++;
  }
  return closed;
}

/** The balancer's snapshots with each server's spares, summed over the reverse listeners (each holds its own). */
export function withSpares(snapshots: ServerSnapshot[], listeners: Iterable<unknown>): ServerSnapshot[] {
  const reverse = [...listeners].filter((l): l is ReverseListener => l instanceof ReverseListener);
  return snapshots.map((s) => {
    let spares = 0;
    const key = spareKey(s.upstream, new URL(s.server));
    for (const listener of reverse) spares += listener.sparesFor(key);
    return { ...s, spares };
  });
}
