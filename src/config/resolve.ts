// From the parsed input to the Config the rest of wsgate reads: route upstreams given by name replaced with
// { name, url }, default names for listeners and routes, tap levels inherited route ← listener ← tap.level, and
// the forward defaults that depend on the bind address. Runs only once the shape and the cross-key checks passed.
// Pure.

import type { z } from 'zod';
import { isLoopbackHost } from '../net/ip.ts';
import type { configObject } from './shape.ts';
import type { forwardBlock } from './shape-listener.ts';
import type { Keepalive } from './shape-relay.ts';
import type { tapLevel } from './shape-route.ts';
import type { ServerEntry } from './shape-servers.ts';

/** keepalive: 0 written on a route turns off the listener's; off is undefined in the Config. */
function keepaliveOf(...levels: (Keepalive | undefined)[]): Keepalive | undefined {
  const k = levels.find((l) => l !== undefined);
  return k === undefined || k.intervalMs === 0 ? undefined : { ...k };
}

/** Names in order without repeats: a rule listed on both the listener and its route applies once. */
/** listeners[].proxyProtocol: true → from every peer; false or absent → no key (off). */
function proxyProtocolOf(value: boolean | { from: string[] } | undefined): { proxyProtocol?: { from?: string[] } } {
  if (value === undefined || value === false) return {};
  return { proxyProtocol: value === true ? {} : { from: value.from } };
}

function uniqueNames(...lists: readonly string[][]): string[] {
  return [...new Set(lists.flat())];
}

/** Defaults that depend on the bind address: a listener reachable from other machines is locked down. */
function resolveForward(
  f: z.output<typeof forwardBlock>,
  bindHost: string,
  tap: z.output<ReturnType<typeof tapLevel>>,
) {
  const loopback = isLoopbackHost(bindHost);
  return {
    allowHosts: f.allowHosts,
    denyHosts: f.denyHosts,
    allowPorts:
      f.allowPorts ??
      (loopback
        ? undefined
        : [
            { from: 80, to: 80 },
            { from: 443, to: 443 },
          ]),
    destinations: f.destinations ?? (loopback ? 'any' : 'public'),
    auth: f.auth === undefined ? undefined : { realm: f.auth.realm, users: f.auth.users.map((u) => ({ ...u })) },
    via: f.via,
    tap,
    intercept: f.intercept,
    upstreamCa: f.upstreamCa,
    profile: f.profile,
  };
}

/** Several servers behind one upstream name, and how one is picked (upstream/balancer.ts). */
export type ServerPool = {
  /** Every server's URL, backups too, in the config's order. */
  servers: string[];
  /** Each server's share of new connections (servers[].weight); absent when every weight is 1. */
  weights?: Record<string, number> | undefined;
  /** Servers that take connections only while every other is skipped (servers[].backup); absent when none is. */
  backups?: string[] | undefined;
  balance: 'least-connections' | 'round-robin' | 'ip-hash';
  /** Milliseconds a server is skipped after a failed connection. */
  failTimeout: number;
  /** Active checks (upstreams[].healthCheck): milliseconds, and the HTTP path to GET (else a connection). */
  healthCheck?:
    | { interval: number; timeout: number; path?: string | undefined; fails: number; passes: number }
    | undefined;
};

/** Where a route sends its requests: one URL, or (pool) one of several servers, `url` being the first. */
export type RouteUpstream = {
  name: string;
  url: string;
  pool?: ServerPool;
  /** upstreams[].proxyProtocol: the PROXY protocol header each connection to the upstream starts with. */
  proxyProtocol?: 'v1' | 'v2';
  /** upstreams[].preconnect in milliseconds when it is not the default (DEFAULT_PRECONNECT_MS); 0 is off. */
  preconnect?: number;
};

/** How long a spare connection waits for a handshake (upstreams[].preconnect's default; inline upstreams use it). */
export const DEFAULT_PRECONNECT_MS = 2000;

/** The parsed input: what the shape yields before resolution. */
export type ConfigShape = z.output<typeof configObject>;

/** A pool's weights and backups, each only when some server has one. */
function serverOptions(entries: readonly ServerEntry[]): Pick<ServerPool, 'weights' | 'backups'> {
  const weighted = entries.some((e) => e.weight !== 1);
  const backups = entries.filter((e) => e.backup).map((e) => e.url);
  return {
    ...(weighted ? { weights: Object.fromEntries(entries.map((e) => [e.url, e.weight])) } : {}),
    ...(backups.length > 0 ? { backups } : {}),
  };
}

/** The resolved config (typed as Config by schema.ts, which runs this as the schema's last step). */
export function resolveConfig(cfg: ConfigShape) {
  // url is the first server of one with servers: what displays and PAC lookups name it by.
  const upstreams = cfg.upstreams.map((u) => ({
    name: u.name,
    url: u.url ?? u.servers![0]!.url,
    servers: u.servers?.map((s) => s.url) ?? [u.url!],
    ...serverOptions(u.servers ?? []),
    balance: u.balance,
    failTimeout: u.failTimeout,
    healthCheck: u.healthCheck,
    tls: u.tls,
    via: u.via,
    proxyProtocol: u.proxyProtocol,
    preconnect: u.preconnect,
  }));
  const byName = new Map(upstreams.map((u) => [u.name, u]));
  const resolve = (ref: string): RouteUpstream => {
    if (ref.includes('://')) return { name: new URL(ref).origin, url: ref };
    const u = byName.get(ref);
    if (u === undefined)
      throw new Error(`unreachable: crossCheck lets unknown upstream ${JSON.stringify(ref)} through`);
    const header = {
      ...(u.proxyProtocol === undefined ? {} : { proxyProtocol: u.proxyProtocol }),
      ...(u.preconnect === DEFAULT_PRECONNECT_MS ? {} : { preconnect: u.preconnect }),
    };
    if (u.servers.length === 1) return { name: u.name, url: u.url, ...header };
    return {
      name: u.name,
      url: u.url,
      ...header,
      pool: {
        servers: u.servers,
        ...(u.weights === undefined ? {} : { weights: u.weights }),
        ...(u.backups === undefined ? {} : { backups: u.backups }),
        balance: u.balance,
        failTimeout: u.failTimeout,
        ...(u.healthCheck === undefined ? {} : { healthCheck: u.healthCheck }),
      },
    };
  };
  const listeners = cfg.listeners.map((l, i) => {
    const listenerName = l.name ?? `listener-${i}`;
    // A forward profile is a bundle of rules (src/rules/profiles.ts): "profile:NAME" names it among the rules.
    const listenerRules = uniqueNames(
      l.forward?.profile === undefined ? [] : [`profile:${l.forward.profile}`],
      l.rules,
    );
    return {
      name: listenerName,
      bind: l.bind,
      tls: l.tls,
      trustForwarded: l.trustForwarded ?? [],
      ...proxyProtocolOf(l.proxyProtocol),
      rules: listenerRules,
      keepalive: keepaliveOf(l.keepalive),
      relay: { deflate: l.relay?.deflate ?? ('strip' as const) },
      forward: l.forward === undefined ? undefined : resolveForward(l.forward, l.bind.host, l.tap ?? cfg.tap.level),
      routes: (l.routes ?? []).map((r, j) => ({
        name: r.name ?? `${listenerName}/route-${j}`,
        match: r.match,
        upstream: resolve(r.upstream),
        changeOrigin: r.changeOrigin,
        rawPath: r.rawPath,
        allowOrigins: r.allowOrigins,
        tap: r.tap ?? l.tap ?? cfg.tap.level,
        // Effective for the route's connections: the listener's rules first, keepalive and relay overridden here.
        rules: uniqueNames(listenerRules, r.rules),
        keepalive: keepaliveOf(r.keepalive, l.keepalive),
        relay: { deflate: r.relay?.deflate ?? l.relay?.deflate ?? ('strip' as const) },
      })),
    };
  });
  return {
    listeners,
    upstreams,
    rules: cfg.rules,
    // Exactly one of url and pac is set (checks.ts); the other key is left out rather than undefined.
    proxies: cfg.proxies.map((p) => ({
      name: p.name,
      ...(p.url === undefined ? {} : { url: p.url }),
      ...(p.pac === undefined ? {} : { pac: p.pac }),
      noProxy: p.noProxy,
    })),
    inspector:
      cfg.inspector === undefined
        ? undefined
        : {
            bind: cfg.inspector.bind,
            token: cfg.inspector.token,
            store: {
              maxBytes: cfg.inspector.store.maxBytes,
              maxMessagesPerConnection: cfg.inspector.store.maxMessagesPerConnection,
              disk: cfg.inspector.store.disk,
              file: cfg.inspector.store.file,
              maxFileBytes: cfg.inspector.store.maxFileBytes,
              maxMessageBytes: cfg.inspector.store.maxMessageBytes,
            },
          },
    echo: cfg.echo === undefined ? undefined : { bind: cfg.echo.bind },
    log: {
      level: cfg.log.level,
      format: cfg.log.format,
      file: cfg.log.file,
      showSecrets: cfg.log.showSecrets,
      traffic: cfg.log.traffic,
      maxQueueBytes: cfg.log.maxQueueBytes,
      redactQueryParams: cfg.log.redactQueryParams,
      redactSubprotocols: cfg.log.redactSubprotocols,
      tokenSubprotocolPrefixes: cfg.log.tokenSubprotocolPrefixes,
    },
    tap: {
      level: cfg.tap.level,
      previewBytes: cfg.tap.previewBytes,
      maxDecodedBytes: cfg.tap.maxDecodedBytes,
      redactJsonKeys: cfg.tap.redactJsonKeys,
      redactPatterns: cfg.tap.redactPatterns,
      onViolation: cfg.tap.onViolation,
    },
    limits: { ...cfg.limits },
    shutdown: { grace: cfg.shutdown.grace },
    workers: cfg.workers,
    tls: { caDir: cfg.tls.caDir, keyLog: cfg.tls.keyLog },
  };
}
