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

/**
 * What one config makes of the network: its named proxies, its PAC proxies and its reverse upstreams (key → via).
 * A reload builds the next one whole, PAC answers included (stage), before it routes anything (apply).
 */
export type NetworkState = {
  readonly named: UpstreamProxies['named'];
  readonly pac: ReadonlyMap<string, PacProxy>;
  readonly upstreams: ReadonlyMap<string, string | undefined>;
};

type Upstreams = Iterable<{ name: string; url: string; via?: string | undefined }>;

const upstreamMap = (upstreams: Upstreams) => new Map([...upstreams].map((u) => [keyOf(u.name, u.url), u.via]));

function disposeLater(scripts: readonly PacScript[]): void {
  if (scripts.length === 0) return;
  setTimeout(() => {
    for (const script of scripts) script.dispose();
  }, PAC_DISPOSE_DELAY_MS).unref();
}

function askFor(url: URL): { url: string; host: string } {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port !== '' ? Number(url.port) : trafficKindOf(url) === 'https' ? 443 : 80;
  return pacAsk(trafficKindOf(url), host, port);
}

/** Computes the PAC answers of a state's reverse upstreams (pinned in each PAC proxy's cache). */
async function prepareState(state: NetworkState): Promise<void> {
  const asks = new Map<PacProxy, { url: string; host: string }[]>();
  for (const [key, via] of state.upstreams) {
    const pac = via === undefined ? undefined : state.pac.get(via);
    if (pac === undefined) continue;
    const list = asks.get(pac) ?? [];
    list.push(askFor(new URL(key.slice(key.indexOf('\n') + 1))));
    asks.set(pac, list);
  }
  await Promise.all([...state.pac.values()].map((pac) => pac.prepare(asks.get(pac) ?? [])));
}

/** The scripts of `old` that `current` does not use. */
function unusedScripts(old: NetworkState, current: NetworkState): PacScript[] {
  const kept = new Set([...current.pac.values()].map((p) => p.script));
  return [...old.pac.values()].map((p) => p.script).filter((s) => !kept.has(s));
}

export class UpstreamNetwork {
  #env: UpstreamProxies['env'];
  #tunnels = new ProxyTunnels();
  #via: string | undefined;
  #state: NetworkState;
  /** The state apply() replaced, until settle() or revert(): its upstreams still route the way they did. */
  #previous: NetworkState | undefined;
  #log: Logger | undefined;
  readonly warnings: readonly string[];

  constructor(options: NetworkOptions) {
    const env = proxiesFromEnv(options.env);
    this.warnings = env.warnings;
    this.#env = env;
    this.#via = options.via;
    this.#log = options.log;
    this.#state = {
      named: namedProxies(options.proxies),
      pac: pacProxies(options.proxies, options.pac, options.log),
      upstreams: new Map(),
    };
  }

  /** The route a registered reverse upstream takes (its `via`, else the environment's proxies), if registered. */
  routeFor(target: UpstreamTarget): UpstreamRoute | undefined {
    const key = keyOf(target.name, target.url);
    const state = this.#state.upstreams.has(key)
      ? this.#state
      : this.#previous?.upstreams.has(key)
        ? this.#previous
        : undefined;
    if (state === undefined) return undefined;
    return this.#routeTo(state, state.upstreams.get(key), new URL(target.url));
  }

  /** The environment's proxies, for the start-up log line. */
  get envProxies(): { http: UpstreamProxy | undefined; https: UpstreamProxy | undefined } {
    return { http: this.#env.http, https: this.#env.https };
  }

  /**
   * A reloaded config's proxies (the environment is read once, at start), PAC scripts and reverse upstreams, with
   * the PAC answers of those upstreams computed: nothing routes by it until apply(). Without this a reload routed
   * reverse upstreams of a PAC proxy DIRECT ("answer pending") until the new script had answered.
   */
  async stage(proxies: readonly ProxySpec[], pac: ReadonlyMap<string, PacScript>, upstreams: Upstreams) {
    const state: NetworkState = {
      named: namedProxies(proxies),
      pac: pacProxies(proxies, pac, this.#log),
      upstreams: upstreamMap(upstreams),
    };
    await prepareState(state);
    return state;
  }

  /**
   * New connections route by `state` from now on. An upstream only the replaced state knows (a route a listener
   * still has until the reload has swapped every listener) keeps routing as it did, until settle() or revert().
   */
  apply(state: NetworkState): void {
    this.#previous = this.#state;
    this.#state = state;
  }

  /** The reload is done: the replaced state's scripts are freed (a little later, see PAC_DISPOSE_DELAY_MS). */
  settle(): void {
    const previous = this.#previous;
    this.#previous = undefined;
    if (previous !== undefined) disposeLater(unusedScripts(previous, this.#state));
  }

  /** The reload failed: the replaced state routes again; a staged one never applied is passed to be freed. */
  revert(staged: NetworkState): void {
    if (this.#previous !== undefined && this.#state === staged) this.#state = this.#previous;
    this.#previous = undefined;
    disposeLater(unusedScripts(staged, this.#state));
  }

  /**
   * Computes the PAC answers of the registered reverse upstreams, so routeFor() has them without waiting. Call
   * after registerUpstreams(), before traffic (at start; a reload stages a whole state instead).
   */
  async prepare(): Promise<void> {
    await prepareState(this.#state);
  }

  /** The upstreams reverse routes dial through connectUpstream(), each with its `via` (undefined: environment). */
  registerUpstreams(upstreams: Upstreams): void {
    this.#state = { ...this.#state, upstreams: upstreamMap(upstreams) };
  }

  /** Ignores the environment's proxies from now on (e.g. when HTTP_PROXY points at this wsgate itself). */
  dropEnvProxy(which: 'http' | 'https'): void {
    this.#env = { ...this.#env, [which]: undefined };
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
    const state = this.#state;
    const pac = via === undefined ? undefined : state.pac.get(via);
    if (pac === undefined) return this.#fixedRoute(state, via, kind, host, port);
    const bypass = noProxyMatch(pac.noProxy, host, port);
    if (bypass !== undefined) return this.#routeOf({ entries: [undefined], why: `direct: ${bypass} (${pac.name})` });
    const ask = pacAsk(kind, host, port);
    const choice = pac.choose(ask.url, ask.host);
    return choice instanceof Promise ? choice.then((c) => this.#routeOf(c)) : this.#routeOf(choice);
  }

  #fixedRoute(
    state: NetworkState,
    via: string | undefined,
    kind: TrafficKind,
    host: string,
    port: number,
  ): UpstreamRoute {
    const choice = chooseProxy({ named: state.named, env: this.#env }, via, kind, host, port);
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
    return this.#routeTo(this.#state, via, url);
  }

  #routeTo(state: NetworkState, via: string | undefined, url: URL): UpstreamRoute {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = url.port !== '' ? Number(url.port) : trafficKindOf(url) === 'https' ? 443 : 80;
    const pac = via === undefined ? undefined : state.pac.get(via);
    if (pac === undefined) return this.#fixedRoute(state, via, trafficKindOf(url), host, port);
    const bypass = noProxyMatch(pac.noProxy, host, port);
    if (bypass !== undefined) return this.#routeOf({ entries: [undefined], why: `direct: ${bypass} (${pac.name})` });
    const ask = askFor(url);
    // Only an upstream registered after prepare() has no answer yet: direct this once, as a failing script would.
    const choice = pac.peek(ask.url, ask.host) ?? {
      entries: [undefined],
      why: `PAC ${pac.name}: answer pending, direct`,
    };
    return this.#routeOf(choice);
  }

  /** The PAC proxies, for `wsgate check --explain` and logs. */
  get pacProxies(): ReadonlyMap<string, PacProxy> {
    return this.#state.pac;
  }

  async close(): Promise<void> {
    await this.#tunnels.close();
    for (const state of [this.#state, this.#previous])
      for (const pac of state?.pac.values() ?? []) pac.script.dispose();
  }
}
