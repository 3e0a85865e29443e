// A forward proxy listener: what HTTP_PROXY / HTTPS_PROXY and a browser's proxy setting point at. It is a front
// (src/front/) with a handler that sends each entry to the file that owns it:
//   - absolute-form requests and WebSocket handshakes (`GET http://host/path`) → absolute.ts;
//   - `CONNECT host:port` → connect.ts (verdict, dial, sniff; TLS interception in intercept.ts);
//   - requests and handshakes found inside a tunnel, plain or intercepted, come back through the same front →
//     in-tunnel.ts.
// Access control (auth, host and port rules, destination classes, loops) runs before anything is dialed, and every
// refusal is one coded log line naming the client, the target and the cause.
import type http from 'node:http';
import type net from 'node:net';
import {
  type ConnectScope,
  Front,
  type FrontHandler,
  type RequestScope,
  type Scope,
  type UpgradeScope,
} from '../front/front.ts';
import type { UpgradeRefusal } from '../front/refuse-upgrade.ts';
import type { Logger } from '../log/logger.ts';
import { compileHostMatcher } from '../net/host-pattern.ts';
import { isLoopbackHost } from '../net/ip.ts';
import type { LeafCache } from '../tls/leaf.ts';
import type { LiveSession } from '../websocket/session.ts';
import { serveAbsoluteRequest, serveAbsoluteUpgrade } from './absolute.ts';
import { serveConnect } from './connect.ts';
import { ForwardDialer, type ForwardDialerSpec, isSelf, selfCheckedAddress } from './dial.ts';
import { HttpRelay } from './http.ts';
import { refuseNestedConnect, serveTunnelRequest, serveTunnelUpgrade } from './in-tunnel.ts';
import { compilePolicy, type ForwardPolicy } from './policy.ts';
import {
  type ForwardDeps,
  type ForwardSettings,
  type ForwardSpec,
  type ForwardState,
  recordRefusal,
  type TunnelContext,
} from './state.ts';
import { loadUndici } from './undici.ts';

export type { ForwardSettings, ForwardSpec } from './state.ts';
export { newPseudonym } from './state.ts';

/** What the dialer needs from the listener's config; built once per config (start and each reload). */
function dialerSpec(
  spec: ForwardSpec,
  settings: ForwardSettings,
  policy: ForwardPolicy,
  front: Front<TunnelContext>,
): ForwardDialerSpec {
  return {
    policy,
    via: spec.forward.via,
    self: () => front.address,
    tls: settings.destinationTls,
    keyLog: settings.keyLog,
  };
}

export class ForwardListener implements FrontHandler<TunnelContext> {
  name: string;
  readonly scheme = 'http' as const;
  #state: ForwardState;
  #warnedNoCa = false;

  constructor(spec: ForwardSpec, settings: ForwardSettings, log: Logger, deps: ForwardDeps) {
    this.name = spec.name;
    const listenerLog = log.child({ listener: spec.name });
    const front = new Front<TunnelContext>(
      {
        name: spec.name,
        log: listenerLog,
        limits: settings.limits,
        keyLog: settings.keyLog,
        requestIdPrefix: 'f',
        observer: settings.observer,
        proxyProtocol: spec.proxyProtocol,
      },
      this,
    );
    const policy = compilePolicy(spec.forward);
    this.#state = {
      name: spec.name,
      log: listenerLog,
      front,
      deps,
      spec,
      settings,
      policy,
      intercepts: compileHostMatcher(spec.forward.intercept ?? []),
      interceptionLeaves: () => this.#interceptionLeaves(),
      ruleSource: () => this.#state.settings.rules,
      dialer: new ForwardDialer(deps, dialerSpec(spec, settings, policy, front)),
      relay: new HttpRelay(
        () => this.#state.dialer,
        () => this.#state.settings.limits.connectTimeout,
      ),
    };
  }

  get address(): { host: string; port: number } | undefined {
    return this.#state.front.address;
  }

  get bind(): { host: string; port: number } {
    return this.#state.spec.bind;
  }

  get webSocketCount(): number {
    return this.#state.front.webSocketCount;
  }

  /** The live WebSocket connection with this id, if this listener holds it (the admin API's send and close). */
  session(conn: string): LiveSession | undefined {
    return this.#state.front.session(conn);
  }

  async listen(): Promise<{ host: string; port: number }> {
    await loadUndici();
    const address = await this.#state.front.listen(this.#state.spec.bind);
    this.#dropSelfProxies();
    return address;
  }

  /** HTTP_PROXY pointing at this listener (a shell that exported it for clients) would make wsgate loop. */
  #dropSelfProxies(): void {
    const { network } = this.#state.deps;
    const env = network.envProxies;
    for (const which of ['http', 'https'] as const) {
      const proxy = env[which];
      if (proxy === undefined) continue;
      const host = proxy.url.hostname.replace(/^\[|\]$/g, '');
      const port = Number(proxy.url.port || (proxy.url.protocol === 'https:' ? 443 : 80));
      const address = isLoopbackHost(host) ? selfCheckedAddress(host) : undefined;
      const self = address !== undefined && isSelf(this.address, address, port);
      if (self) {
        network.dropEnvProxy(which);
        this.#state.log.warn(
          { event: 'proxy.env_self', variable: proxy.name, proxy: proxy.display },
          `${proxy.name} points at this proxy listener (${proxy.display}); ignoring it for wsgate's own connections`,
        );
      }
    }
  }

  update(spec: ForwardSpec, settings: ForwardSettings): void {
    const state = this.#state;
    state.spec = spec;
    state.settings = settings;
    state.policy = compilePolicy(spec.forward);
    state.intercepts = compileHostMatcher(spec.forward.intercept ?? []);
    state.dialer.update(dialerSpec(spec, settings, state.policy, state.front));
    state.front.update(settings.limits, spec.proxyProtocol);
  }

  /** A reload renamed it (same address): new connections and its own lines carry `name` (front/front.ts). */
  rename(name: string, log: Logger): void {
    const listenerLog = log.child({ listener: name });
    this.name = name;
    this.#state.name = name;
    this.#state.log = listenerLog;
    this.#state.front.rename(name, listenerLog);
  }

  async close(graceMs: number, reason?: string): Promise<void> {
    await this.#state.front.close(graceMs, reason);
    await this.#state.relay.close();
  }

  onRequest(req: http.IncomingMessage, res: http.ServerResponse, scope: RequestScope<TunnelContext>): void {
    if (scope.tunnel === undefined) serveAbsoluteRequest(this.#state, req, res, scope);
    else serveTunnelRequest(this.#state, req, res, scope, scope.tunnel);
  }

  onUpgrade(req: http.IncomingMessage, socket: net.Socket, scope: UpgradeScope<TunnelContext>): void {
    if (scope.tunnel === undefined) serveAbsoluteUpgrade(this.#state, req, socket, scope);
    else serveTunnelUpgrade(this.#state, req, socket, scope, scope.tunnel);
  }

  upgradeRefused(req: http.IncomingMessage, scope: Scope<TunnelContext>, refusal: UpgradeRefusal): void {
    recordRefusal(this.#state, req, scope, refusal);
  }

  onConnect(req: http.IncomingMessage, socket: net.Socket, head: Buffer, scope: ConnectScope<TunnelContext>): void {
    if (scope.tunnel === undefined) serveConnect(this.#state, req, socket, head, scope);
    else refuseNestedConnect(socket);
  }

  /** The CA's leaves for an intercepted CONNECT; without them (no CA loaded) the tunnel stays blind, with a warning. */
  #interceptionLeaves(): LeafCache | undefined {
    const leaves = this.#state.settings.leaves;
    if (leaves === undefined && !this.#warnedNoCa) {
      this.#warnedNoCa = true;
      this.#state.log.warn(
        { event: 'tls.intercept_unavailable' },
        "forward.intercept is set but wsgate's CA is not loaded; matching tunnels pass blindly",
      );
    }
    return leaves;
  }
}
