// From the parsed input to the Config the rest of wsgate reads: route upstreams given by name replaced with
// { name, url }, default names for listeners and routes, tap levels inherited route ← listener ← tap.level, and
// the forward defaults that depend on the bind address. Runs only once the shape and the cross-key checks passed.
// Pure.

import type { z } from 'zod';
import { isLoopbackHost } from '../net/ip.ts';
import type { configObject } from './shape.ts';
import type { forwardBlock } from './shape-listener.ts';
import type { tapLevel } from './shape-route.ts';

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
  };
}

/** The parsed input: what the shape yields before resolution. */
export type ConfigShape = z.output<typeof configObject>;

/** The resolved config (typed as Config by schema.ts, which runs this as the schema's last step). */
export function resolveConfig(cfg: ConfigShape) {
  const upstreams = cfg.upstreams.map((u) => ({ name: u.name, url: u.url, tls: u.tls, via: u.via }));
  const byName = new Map(upstreams.map((u) => [u.name, u]));
  const resolve = (ref: string): { name: string; url: string } => {
    if (ref.includes('://')) return { name: new URL(ref).origin, url: ref };
    const u = byName.get(ref);
    if (u === undefined)
      throw new Error(`unreachable: crossCheck lets unknown upstream ${JSON.stringify(ref)} through`);
    return { name: u.name, url: u.url };
  };
  const listeners = cfg.listeners.map((l, i) => {
    const listenerName = l.name ?? `listener-${i}`;
    return {
      name: listenerName,
      bind: l.bind,
      tls: l.tls,
      trustForwarded: l.trustForwarded ?? [],
      forward: l.forward === undefined ? undefined : resolveForward(l.forward, l.bind.host, l.tap ?? cfg.tap.level),
      routes: (l.routes ?? []).map((r, j) => ({
        name: r.name ?? `${listenerName}/route-${j}`,
        match: r.match,
        upstream: resolve(r.upstream),
        changeOrigin: r.changeOrigin,
        rawPath: r.rawPath,
        allowOrigins: r.allowOrigins,
        tap: r.tap ?? l.tap ?? cfg.tap.level,
      })),
    };
  });
  return {
    listeners,
    upstreams,
    proxies: cfg.proxies.map((p) => ({ name: p.name, url: p.url, noProxy: p.noProxy })),
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
