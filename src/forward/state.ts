// What every part of a forward listener reads: its spec and settings (swapped on reload), the compiled access
// policy, the dialer and the HTTP relay, and the front its requests arrive through. One object, so the entry
// files (absolute-form, CONNECT, interception, in-tunnel) stay functions of one job each.
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import type { Client } from 'undici';
import type { TapLevel } from '../events.ts';
import { writeErrorToSocket } from '../front/error-response.ts';
import type { Front, Scope } from '../front/front.ts';
import type { EntrySettings, FrontLimits } from '../front/limits.ts';
import { type ProxyProtocolSpec, proxiedBy } from '../front/proxy-header.ts';
import type { UpgradeRefusal } from '../front/refuse-upgrade.ts';
import type { Logger } from '../log/logger.ts';
import type { PortRange } from '../net/ports.ts';
import type { RuleSet } from '../rules/rule-set.ts';
import type { ConnectionRules } from '../rules/types.ts';
import type { LeafCache } from '../tls/leaf.ts';
import type { UpstreamTls } from '../tls/upstream.ts';
import type { UpstreamNetwork } from '../upstream/network.ts';
import { failedHandshake, failureOf } from '../websocket/failed-handshake.ts';
import type { KeepaliveSettings } from '../websocket/keepalive.ts';
import { forwardUpgrade, type UpgradeDialOptions, type UpgradeRoute } from '../websocket/upgrade.ts';
import type { ProxyAuthSpec } from './auth.ts';
import type { ForwardDialer } from './dial.ts';
import type { HttpRelay } from './http.ts';
import type { ForwardPolicy } from './policy.ts';
import type { ProxyTarget } from './target.ts';
import type { TunnelUpstream } from './tunnel.ts';

/** A forward listener's `forward:` block as resolved from config. */
export type ForwardListenerConfig = {
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
  forward: ForwardListenerConfig;
  /** wsgate's own pings on silent WebSocket connections through this listener (listener `keepalive`). */
  keepalive?: KeepaliveSettings | undefined;
  /** Connections start with a PROXY protocol header (from these peers, or all); see front/proxy-header.ts. */
  proxyProtocol?: ProxyProtocolSpec | undefined;
};

export type ForwardSettings = EntrySettings & {
  limits: FrontLimits & { tunnelIdleTimeout: number };
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

/** Per tunnel whose content is parsed: what its requests need to reach the CONNECT target. */
export type TunnelContext = {
  target: ProxyTarget;
  /** 'https' once TLS interception has terminated the client's TLS. */
  scheme: 'http' | 'https';
  upstream: TunnelUpstream;
  /** The undici client for plain requests in this tunnel, created on the first one. */
  dispatcher: Client | undefined;
};

export type ForwardState = {
  /** Changed when a reload renames the listener. */
  name: string;
  log: Logger;
  readonly front: Front<TunnelContext>;
  readonly deps: ForwardDeps;
  readonly dialer: ForwardDialer;
  readonly relay: HttpRelay;
  spec: ForwardSpec;
  settings: ForwardSettings;
  policy: ForwardPolicy;
  /** Does a CONNECT host match forward.intercept? */
  intercepts: (host: string) => boolean;
  /** The CA's leaves, or undefined (warned once) when interception is configured without a CA. */
  interceptionLeaves: () => LeafCache | undefined;
  /**
   * The running config's rules, for relayed connections' `live: true` rules. One function per listener: a closure
   * made in startUpgrade would share its scope with the dial's and keep the request alive as long as the connection.
   */
  readonly ruleSource: () => RuleSet | undefined;
};

/** The route name in access and traffic lines: "<listener>/forward" or "<listener>/tunnel". */
export function routeName(state: ForwardState, kind: 'forward' | 'tunnel'): string {
  return `${state.name}/${kind}`;
}

/**
 * Where a WebSocket inside a tunnel goes: `ws://host:port/`, or `wss://` when the tunnel was intercepted. Its origin
 * names the upstream, as an absolute-form route's does, in the open line and in a refused handshake's record alike.
 */
export function tunnelWsUrl(tunnel: TunnelContext): string {
  return `${tunnel.scheme === 'https' ? 'wss' : 'ws'}://${tunnel.target.authority}/`;
}

/** A handshake refused before it was dialled (the front's gate, proxy auth, the policy): a failed record. */
export function recordRefusal(
  state: ForwardState,
  req: import('node:http').IncomingMessage,
  scope: Scope<TunnelContext>,
  refusal: UpgradeRefusal,
): void {
  const at = {
    conn: scope.id,
    listener: state.name,
    route: refusal.route ?? routeName(state, scope.tunnel === undefined ? 'forward' : 'tunnel'),
    upstream: refusal.upstream ?? (scope.tunnel === undefined ? undefined : new URL(tunnelWsUrl(scope.tunnel)).origin),
    client: req.socket.remoteAddress,
    peer: proxiedBy(req.socket) ?? req.socket.remoteAddress,
    tap: state.spec.forward.tap,
    started: refusal.started,
    showSecrets: state.settings.showSecrets,
  };
  state.settings.emit(failedHandshake(req, at, failureOf(refusal.err)));
}

/** Proxies a validated WebSocket handshake to `how.dial`'s socket, tapped at the listener's level. */
export function startUpgrade(
  state: ForwardState,
  req: import('node:http').IncomingMessage,
  socket: net.Socket,
  scope: { id: string; log: Logger; key: string },
  how: {
    route: UpgradeRoute;
    /** 'https' inside an intercepted tunnel (X-Forwarded-Proto). */
    clientScheme?: 'http' | 'https';
    dial: (options: UpgradeDialOptions) => Promise<net.Socket>;
    /** The connection's rules (faults, relay); forward/faults.ts forwardRules. */
    rules?: ConnectionRules | undefined;
    /** The handshake came inside a CONNECT tunnel. */
    inTunnel?: boolean;
    /** This proxy's Via entry, added to the handshake as it leaves (absolute-form only: tunnels add nothing). */
    via?: string;
  },
): void {
  void forwardUpgrade(req, socket, {
    connId: scope.id,
    log: scope.log,
    route: how.route,
    limits: state.settings.limits,
    showSecrets: state.settings.showSecrets,
    clientScheme: how.clientScheme ?? 'http',
    // The balancer, when a PROXY header named the client (the open line's `peer`, as on reverse listeners).
    peer: proxiedBy(req.socket),
    key: scope.key,
    tap: { level: state.spec.forward.tap, ...state.settings.tap },
    emit: state.settings.emit,
    onSession: (session, conn) => state.front.addSession(session, conn),
    refuse: writeErrorToSocket,
    dial: (_target, options) => how.dial(options),
    rules: how.rules,
    inTunnel: how.inTunnel,
    via: how.via,
    keepalive: state.spec.keepalive,
    ruleSource: state.ruleSource,
  });
}
