// How one running wsgate reaches the outside: the upstream proxies it knows (named in config, or from the
// environment), the choice between them per destination, and the CONNECT tunnels it holds open through them.
//
// Reverse listeners register their named and inline upstreams (with each one's `via`) and ask routeFor() which
// way a target takes; forward mode asks route() per destination. Each running wsgate has its own network, so
// several instances in one process (tests, workers) never see each other's routes.
//
// A proxy with `pac:` (pac-route.ts) answers with a list: the route's proxy is its first entry and `fallbacks` the
// rest, which connectUpstream tries in order. Its answers may need the script to run, so route() may return a
// promise (forward callers await it); reverse upstreams' answers are computed by prepare() before listeners start,
// so routeFor() stays synchronous.

import type { Logger } from '../log/logger.ts';
import { formatHostPort } from '../net/host-port.ts';
import { EMPTY_NO_PROXY, noProxyMatch, parseNoProxy } from '../net/no-proxy.ts';
import { parseProxyUrl } from '../net/proxy-url.ts';
import type { UpstreamTarget } from './connect.ts';
import type { PacScript } from './pac.ts';
import { type PacChoice, PacProxy } from './pac-route.ts';
import {
  chooseProxy,
  type Env,
  makeProxy,
  proxiesFromEnv,
  type TrafficKind,
  trafficKindOf,
  type UpstreamProxies,
  type UpstreamProxy,
} from './proxy-config.ts';
import { ProxyTunnels } from './proxy-tunnel.ts';

/** A proxy of the config: a URL, or a PAC script (file or URL) that picks one per destination. */
export type ProxySpec = {
  readonly name: string;
  readonly url?: string | undefined;
  readonly pac?: string | undefined;
  readonly noProxy: readonly string[];
};

/** How to reach one destination: directly (proxy undefined) or through a tunnel of `tunnels`. */
export type UpstreamRoute = {
  readonly proxy: UpstreamProxy | undefined;
  readonly why: string;
  readonly tunnels: ProxyTunnels;
  /** Headers added to the CONNECT request (Via, for loop detection). */
  readonly headers?: Record<string, string> | undefined;
  /**
   * A PAC answer's further entries, in order (undefined is DIRECT): connectUpstream goes on to the next when the
   * one before is a proxy that cannot be reached.
   */
  readonly fallbacks?: readonly (UpstreamProxy | undefined)[] | undefined;
};

export type NetworkOptions = {
  proxies: readonly ProxySpec[];
  /** HTTP_PROXY & co.; pass {} to ignore the environment. */
  env: Env;
  /** This instance's Via entry ("1.1 wsgate-…"), added to CONNECT requests sent to upstream proxies. */
  via?: string | undefined;
  /** The compiled scripts of the proxies with `pac:`, by name (loadPacScripts; app/ loads them before start). */
  pac?: ReadonlyMap<string, PacScript> | undefined;
  /** Where PAC failures are reported. */
  log?: Logger | undefined;
};

function namedProxies(specs: readonly ProxySpec[]): Map<string, UpstreamProxy> {
  const named = new Map<string, UpstreamProxy>();
  for (const spec of specs) {
    if (spec.url === undefined) continue;
    const url = parseProxyUrl(spec.url);
    // The schema has checked both; a failure here is a bug, not a user error.
    if (!url.ok) throw new Error(`unreachable: proxy ${spec.name} passed validation with ${url.message}`);
    const noProxy = parseNoProxy(spec.noProxy);
    named.set(spec.name, makeProxy(spec.name, url.url, url.authorization, noProxy.ok ? noProxy.value : EMPTY_NO_PROXY));
  }
  return named;
}

function pacProxies(
  specs: readonly ProxySpec[],
  scripts: ReadonlyMap<string, PacScript> | undefined,
  log: Logger | undefined,
): Map<string, PacProxy> {
  const out = new Map<string, PacProxy>();
  for (const spec of specs) {
    if (spec.pac === undefined) continue;
    const script = scripts?.get(spec.name);
    // app/ loads every script before it builds or updates the network; a missing one is a bug.
    if (script === undefined) throw new Error(`unreachable: the PAC script of proxy ${spec.name} was not loaded`);
    const noProxy = parseNoProxy(spec.noProxy);
    out.set(
      spec.name,
      new PacProxy({
        name: spec.name,
        source: spec.pac,
        script,
        noProxy: noProxy.ok ? noProxy.value : EMPTY_NO_PROXY,
        log,
      }),
    );
  }
  return out;
}

/** What a PAC script is asked for a destination: its origin, as Chromium asks for https URLs (no path). */
function pacAsk(kind: TrafficKind, host: string, port: number): { url: string; host: string } {
  const scheme = kind === 'http' ? 'http' : 'https';
  const authority =
    port === (scheme === 'http' ? 80 : 443)
      ? formatHostPort(host, port).replace(/:\d+$/, '')
      : formatHostPort(host, port);
  return { url: `${scheme}://${authority}/`, host };
}

/** Scripts no longer used are freed a little later: an evaluation may still be running on them. */
const PAC_DISPOSE_DELAY_MS = 10_000;

const keyOf = (name: string, url: URL | string) => `${name}\n${typeof url === 'string' ? new URL(url).href : url.href}`;

export class UpstreamNetwork {
  #proxies: UpstreamProxies;
  #tunnels = new ProxyTunnels();
  #via: string | undefined;
  #upstreams = new Map<string, string | undefined>();
  #pac: Map<string, PacProxy>;
  #log: Logger | undefined;
  readonly warnings: readonly string[];

  constructor(options: NetworkOptions) {
    const env = proxiesFromEnv(options.env);
    this.warnings = env.warnings;
    this.#proxies = { named: namedProxies(options.proxies), env };
    this.#via = options.via;
    this.#log = options.log;
    this.#pac = pacProxies(options.proxies, options.pac, options.log);
  }

  /** The route a registered reverse upstream takes (its `via`, else the environment's proxies), if registered. */
  routeFor(target: UpstreamTarget): UpstreamRoute | undefined {
    const key = keyOf(target.name, target.url);
    if (!this.#upstreams.has(key)) return undefined;
    return this.routeTo(this.#upstreams.get(key), target.url);
  }

  /** The environment's proxies, for the start-up log line. */
  get envProxies(): { http: UpstreamProxy | undefined; https: UpstreamProxy | undefined } {
    return { http: this.#proxies.env.http, https: this.#proxies.env.https };
  }

  /** Applies a reloaded config's proxies (the environment is read once, at start) and PAC scripts. */
  update(proxies: readonly ProxySpec[], pac?: ReadonlyMap<string, PacScript>): void {
    this.#proxies = { named: namedProxies(proxies), env: this.#proxies.env };
    const kept = new Set(pac?.values() ?? []);
    const old = [...this.#pac.values()].map((p) => p.script).filter((s) => !kept.has(s));
    this.#pac = pacProxies(proxies, pac, this.#log);
    if (old.length > 0) {
      setTimeout(() => {
        for (const script of old) script.dispose();
      }, PAC_DISPOSE_DELAY_MS).unref();
    }
  }

  /**
   * Computes the PAC answers of the registered reverse upstreams, so routeFor() has them without waiting. Call
   * after registerUpstreams(), before traffic.
   */
  async prepare(): Promise<void> {
    const asks = new Map<PacProxy, { url: string; host: string }[]>();
    for (const [key, via] of this.#upstreams) {
      const pac = via === undefined ? undefined : this.#pac.get(via);
      if (pac === undefined) continue;
      const url = new URL(key.slice(key.indexOf('\n') + 1));
      const list = asks.get(pac) ?? [];
      list.push(this.#askFor(url));
      asks.set(pac, list);
    }
    await Promise.all([...this.#pac.values()].map((pac) => pac.prepare(asks.get(pac) ?? [])));
  }

  #askFor(url: URL): { url: string; host: string } {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = url.port !== '' ? Number(url.port) : trafficKindOf(url) === 'https' ? 443 : 80;
    return pacAsk(trafficKindOf(url), host, port);
  }

  /** The upstreams reverse routes dial through connectUpstream(), each with its `via` (undefined: environment). */
  registerUpstreams(upstreams: Iterable<{ name: string; url: string; via?: string | undefined }>): void {
    this.#upstreams.clear();
    for (const u of upstreams) this.#upstreams.set(keyOf(u.name, u.url), u.via);
  }

  /** Ignores the environment's proxies from now on (e.g. when HTTP_PROXY points at this wsgate itself). */
  dropEnvProxy(which: 'http' | 'https'): void {
    const env = { ...this.#proxies.env, [which]: undefined };
    this.#proxies = { named: this.#proxies.named, env };
  }

  /**
   * Direct or through which proxy, and why. Synchronous unless `via` names a PAC proxy whose answer for this
   * destination is not cached: then the script runs first.
   */
  route(
    via: string | undefined,
    kind: TrafficKind,
    host: string,
    port: number,
  ): UpstreamRoute | Promise<UpstreamRoute> {
    const pac = via === undefined ? undefined : this.#pac.get(via);
    if (pac === undefined) return this.#fixedRoute(via, kind, host, port);
    const bypass = noProxyMatch(pac.noProxy, host, port);
    if (bypass !== undefined) return this.#routeOf({ entries: [undefined], why: `direct: ${bypass} (${pac.name})` });
    const ask = pacAsk(kind, host, port);
    const choice = pac.choose(ask.url, ask.host);
    return choice instanceof Promise ? choice.then((c) => this.#routeOf(c)) : this.#routeOf(choice);
  }

  #fixedRoute(via: string | undefined, kind: TrafficKind, host: string, port: number): UpstreamRoute {
    const choice = chooseProxy(this.#proxies, via, kind, host, port);
    return this.#routeOf({ entries: [choice.proxy], why: choice.why });
  }

  #routeOf(choice: PacChoice): UpstreamRoute {
    const [proxy, ...fallbacks] = choice.entries;
    return {
      proxy,
      why: choice.why,
      tunnels: this.#tunnels,
      headers: this.#via === undefined ? undefined : { via: this.#via },
      ...(fallbacks.length === 0 ? {} : { fallbacks }),
    };
  }

  /** A reverse upstream's route, without waiting: a PAC proxy's answer comes from prepare() (refreshed when old). */
  routeTo(via: string | undefined, url: URL): UpstreamRoute {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = url.port !== '' ? Number(url.port) : trafficKindOf(url) === 'https' ? 443 : 80;
    const pac = via === undefined ? undefined : this.#pac.get(via);
    if (pac === undefined) return this.#fixedRoute(via, trafficKindOf(url), host, port);
    const bypass = noProxyMatch(pac.noProxy, host, port);
    if (bypass !== undefined) return this.#routeOf({ entries: [undefined], why: `direct: ${bypass} (${pac.name})` });
    const ask = this.#askFor(url);
    // Only an upstream registered after prepare() has no answer yet: direct this once, as a failing script would.
    const choice = pac.peek(ask.url, ask.host) ?? {
      entries: [undefined],
      why: `PAC ${pac.name}: answer pending, direct`,
    };
    return this.#routeOf(choice);
  }

  /** The PAC proxies, for `wsgate check --explain` and logs. */
  get pacProxies(): ReadonlyMap<string, PacProxy> {
    return this.#pac;
  }

  async close(): Promise<void> {
    await this.#tunnels.close();
    for (const pac of this.#pac.values()) pac.script.dispose();
  }
}
