// How one running wsgate reaches the outside: the upstream proxies it knows (named in config, or from the
// environment), the choice between them per destination, and the CONNECT tunnels it holds open through them.
//
// Reverse listeners register their named and inline upstreams (with each one's `via`) and ask routeFor() which
// way a target takes; forward mode asks route() per destination. Each running wsgate has its own network, so
// several instances in one process (tests, workers) never see each other's routes.

import { EMPTY_NO_PROXY, parseNoProxy } from '../net/no-proxy.ts';
import { parseProxyUrl } from '../net/proxy-url.ts';
import type { UpstreamTarget } from './connect.ts';
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

export type ProxySpec = { readonly name: string; readonly url: string; readonly noProxy: readonly string[] };

/** How to reach one destination: directly (proxy undefined) or through a tunnel of `tunnels`. */
export type UpstreamRoute = {
  readonly proxy: UpstreamProxy | undefined;
  readonly why: string;
  readonly tunnels: ProxyTunnels;
  /** Headers added to the CONNECT request (Via, for loop detection). */
  readonly headers?: Record<string, string> | undefined;
};

export type NetworkOptions = {
  proxies: readonly ProxySpec[];
  /** HTTP_PROXY & co.; pass {} to ignore the environment. */
  env: Env;
  /** This instance's Via entry ("1.1 wsgate-…"), added to CONNECT requests sent to upstream proxies. */
  via?: string | undefined;
};

function namedProxies(specs: readonly ProxySpec[]): Map<string, UpstreamProxy> {
  const named = new Map<string, UpstreamProxy>();
  for (const spec of specs) {
    const url = parseProxyUrl(spec.url);
    // The schema has checked both; a failure here is a bug, not a user error.
    if (!url.ok) throw new Error(`unreachable: proxy ${spec.name} passed validation with ${url.message}`);
    const noProxy = parseNoProxy(spec.noProxy);
    named.set(spec.name, makeProxy(spec.name, url.url, url.authorization, noProxy.ok ? noProxy.value : EMPTY_NO_PROXY));
  }
  return named;
}

const keyOf = (name: string, url: URL | string) => `${name}\n${typeof url === 'string' ? new URL(url).href : url.href}`;

export class UpstreamNetwork {
  #proxies: UpstreamProxies;
  #tunnels = new ProxyTunnels();
  #via: string | undefined;
  #upstreams = new Map<string, string | undefined>();
  readonly warnings: readonly string[];

  constructor(options: NetworkOptions) {
    const env = proxiesFromEnv(options.env);
    this.warnings = env.warnings;
    this.#proxies = { named: namedProxies(options.proxies), env };
    this.#via = options.via;
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

  /** Applies a reloaded config's proxies (the environment is read once, at start). */
  update(proxies: readonly ProxySpec[]): void {
    this.#proxies = { named: namedProxies(proxies), env: this.#proxies.env };
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

  route(via: string | undefined, kind: TrafficKind, host: string, port: number): UpstreamRoute {
    const choice = chooseProxy(this.#proxies, via, kind, host, port);
    return {
      proxy: choice.proxy,
      why: choice.why,
      tunnels: this.#tunnels,
      headers: this.#via === undefined ? undefined : { via: this.#via },
    };
  }

  routeTo(via: string | undefined, url: URL): UpstreamRoute {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = url.port !== '' ? Number(url.port) : trafficKindOf(url) === 'https' ? 443 : 80;
    return this.route(via, trafficKindOf(url), host, port);
  }

  async close(): Promise<void> {
    await this.#tunnels.close();
  }
}
