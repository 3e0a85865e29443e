// Which upstream proxy, if any, wsgate goes through to reach a destination: a proxy named in config (`proxies:`,
// chosen with `via:`), `via: direct`, or by default the environment (HTTP_PROXY / HTTPS_PROXY / NO_PROXY, lower
// case winning over upper case). Credentials in a proxy URL become a Proxy-Authorization value for that proxy only;
// the URL kept for logs and messages has none. Pure: the environment is a parameter.

import { EMPTY_NO_PROXY, type NoProxyList, noProxyMatch, parseNoProxy } from './no-proxy.ts';

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

export type ProxyUrlResult = { ok: true; url: URL; authorization: string | undefined } | { ok: false; message: string };

/** Parses a proxy URL. "host:port" without a scheme means http://, as curl reads it. */
export function parseProxyUrl(text: string): ProxyUrlResult {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: false, message: 'the proxy URL is empty' };
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
  const url = URL.parse(withScheme);
  if (url === null || url.hostname === '') {
    return { ok: false, message: `invalid proxy URL ${JSON.stringify(redactUserinfo(trimmed))}` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return {
      ok: false,
      message: `${url.protocol}// proxies are not supported (${redactUserinfo(trimmed)}): use an http:// or https:// proxy`,
    };
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    return { ok: false, message: `a proxy URL has no path, query or fragment: ${redactUserinfo(trimmed)}` };
  }
  let authorization: string | undefined;
  if (url.username !== '' || url.password !== '') {
    let user: string;
    let password: string;
    try {
      user = decodeURIComponent(url.username);
      password = decodeURIComponent(url.password);
    } catch {
      return { ok: false, message: `the user or password in proxy URL ${redactUserinfo(trimmed)} is badly escaped` };
    }
    authorization = `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
  }
  const bare = new URL(url.origin);
  return { ok: true, url: bare, authorization };
}

/** A URL as text with any user:password replaced, safe for messages. */
export function redactUserinfo(text: string): string {
  return text.replace(
    /^([a-z][a-z0-9+.-]*:\/\/)?[^@/?#]*@/i,
    (_all, scheme: string | undefined) => `${scheme ?? ''}***@`,
  );
}

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
