// Which upstream proxy, if any, wsgate goes through to reach a destination: a proxy named in config (`proxies:`,
// chosen with `via:`), `via: direct`, or by default the environment (HTTP_PROXY / HTTPS_PROXY / NO_PROXY, lower
// case winning over upper case). Credentials in a proxy URL become a Proxy-Authorization value for that proxy only;
// the URL kept for logs and messages has none. Pure: the environment is a parameter. The grammar of proxy URLs and
// NO_PROXY lists is net/'s (config checks them too); this module is the choice built from them.

import { EMPTY_NO_PROXY, type NoProxyList, noProxyMatch, parseNoProxy } from '../net/no-proxy.ts';
import { parseProxyUrl } from '../net/proxy-url.ts';

export type UpstreamProxy = {
  /** The config name, or the environment variable it came from. */
  readonly name: string;
  /** Where the proxy listens, without credentials. */
  readonly url: URL;
  /** The URL without credentials, for logs and error bodies. */
  readonly display: string;
  /** "Basic …" from the URL's user:password, sent to this proxy only. */
  readonly authorization: string | undefined;
  readonly noProxy: NoProxyList;
};

export function makeProxy(
  name: string,
  url: URL,
  authorization: string | undefined,
  noProxy: NoProxyList,
): UpstreamProxy {
  return { name, url, display: url.origin, authorization, noProxy };
}

export type Env = Readonly<Record<string, string | undefined>>;

export type EnvProxies = {
  readonly http: UpstreamProxy | undefined;
  readonly https: UpstreamProxy | undefined;
  /** Problems to log once at start (an unsupported scheme, a bad NO_PROXY entry); the entry is ignored. */
  readonly warnings: readonly string[];
};

/** Lower case wins over upper case, as in curl and undici; an empty value means "no proxy". */
function envValue(env: Env, name: string): { name: string; value: string } | undefined {
  const lower = name.toLowerCase();
  const upper = name.toUpperCase();
  if (env[lower] !== undefined) return env[lower] === '' ? undefined : { name: lower, value: env[lower] };
  if (env[upper] !== undefined && env[upper] !== '') return { name: upper, value: env[upper] };
  return undefined;
}

export function proxiesFromEnv(env: Env): EnvProxies {
  const warnings: string[] = [];
  const noProxyVar = envValue(env, 'no_proxy');
  const parsedNoProxy = parseNoProxy(noProxyVar?.value);
  if (!parsedNoProxy.ok) {
    warnings.push(
      `${noProxyVar?.name}: ignoring invalid entries ${parsedNoProxy.invalid.map((e) => JSON.stringify(e)).join(', ')}`,
    );
  }
  const noProxy = noProxyVar === undefined ? EMPTY_NO_PROXY : parsedNoProxy.value;
  const fromVar = (name: string): UpstreamProxy | undefined => {
    const found = envValue(env, name);
    if (found === undefined) return undefined;
    const parsed = parseProxyUrl(found.value);
    if (!parsed.ok) {
      warnings.push(`${found.name}: ${parsed.message}; going direct instead`);
      return undefined;
    }
    return makeProxy(found.name, parsed.url, parsed.authorization, noProxy);
  };
  return { http: fromVar('http_proxy'), https: fromVar('https_proxy'), warnings };
}

export const NO_ENV_PROXIES: EnvProxies = { http: undefined, https: undefined, warnings: [] };

export type UpstreamProxies = {
  /** Proxies named in config. */
  readonly named: ReadonlyMap<string, UpstreamProxy>;
  readonly env: EnvProxies;
};

/**
 * What kind of traffic goes to the destination, which picks the environment variable: http (and ws) use
 * HTTP_PROXY, https (and wss) use HTTPS_PROXY, and a CONNECT tunnel of unknown content uses HTTPS_PROXY, else
 * HTTP_PROXY (both are asked for CONNECT).
 */
export type TrafficKind = 'http' | 'https' | 'tunnel';

export function trafficKindOf(url: URL): TrafficKind {
  return url.protocol === 'https:' || url.protocol === 'wss:' ? 'https' : 'http';
}

export type ProxyChoice = { proxy: UpstreamProxy | undefined; why: string };

/**
 * Decides how to reach host:port. `via` is a proxy name, "direct", or undefined for the environment's proxies.
 * `why` says it in words for logs and `wsgate check`.
 */
export function chooseProxy(
  proxies: UpstreamProxies,
  via: string | undefined,
  kind: TrafficKind,
  host: string,
  port: number,
): ProxyChoice {
  if (via === 'direct') return { proxy: undefined, why: 'via: direct' };
  let proxy: UpstreamProxy | undefined;
  if (via !== undefined) {
    proxy = proxies.named.get(via);
    if (proxy === undefined) return { proxy: undefined, why: `unknown proxy ${JSON.stringify(via)}: direct` };
  } else {
    proxy =
      kind === 'http'
        ? proxies.env.http
        : kind === 'https'
          ? proxies.env.https
          : (proxies.env.https ?? proxies.env.http);
    if (proxy === undefined) return { proxy: undefined, why: 'no proxy configured in the environment' };
  }
  const bypass = noProxyMatch(proxy.noProxy, host, port);
  if (bypass !== undefined) return { proxy: undefined, why: `direct: ${bypass} (${proxy.name})` };
  return { proxy, why: `through ${proxy.name} ${proxy.display}` };
}
