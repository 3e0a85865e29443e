// One PAC proxy of the config (proxies[].pac): its compiled script, asked which way a destination goes, with the
// answers kept per URL asked (a bounded LRU with a short TTL, so a script using dnsResolve or isInNet sees changes
// within seconds and a flood of destinations cannot grow memory). An answer is the script's list in order
// ("PROXY a:3128; PROXY b:3128; DIRECT"), tried as browsers do: the next entry when a proxy cannot be reached.
// A script that fails for one destination sends it DIRECT with a warning, as browsers do.
//
// Reverse upstreams are known in advance: their answers are computed before listeners start (prepare), kept out of
// eviction, and refreshed in the background when old, so routeFor() can answer without waiting.
import type { Logger } from '../log/logger.ts';
import type { NoProxyList } from '../net/no-proxy.ts';
import { EMPTY_NO_PROXY } from '../net/no-proxy.ts';
import { parsePacResult } from '../net/pac-result.ts';
import { parseProxyUrl } from '../net/proxy-url.ts';
import type { PacScript } from './pac.ts';
import { makeProxy, type UpstreamProxy } from './proxy-config.ts';

/** The entries of one answer in order; undefined is DIRECT. */
export type PacChoice = { readonly entries: readonly (UpstreamProxy | undefined)[]; readonly why: string };

export const PAC_CACHE_ENTRIES = 1024;
export const PAC_CACHE_TTL_MS = 30_000;

type Cached = { at: number; pending: Promise<PacChoice>; value: PacChoice | undefined };

export type PacProxyOptions = {
  name: string;
  /** The file or URL the script came from, for logs. */
  source: string;
  script: PacScript;
  noProxy: NoProxyList;
  log?: Logger | undefined;
  /** The clock (tests). */
  now?: () => number;
};

export class PacProxy {
  readonly name: string;
  readonly source: string;
  readonly noProxy: NoProxyList;
  readonly script: PacScript;
  #log: Logger | undefined;
  #now: () => number;
  #cache = new Map<string, Cached>();
  /** URLs of reverse upstreams: never evicted. */
  #pinned = new Set<string>();
  /** One UpstreamProxy per proxy URL an answer names, so equal answers share objects (and agent pools). */
  #proxies = new Map<string, UpstreamProxy>();

  constructor(options: PacProxyOptions) {
    this.name = options.name;
    this.source = options.source;
    this.script = options.script;
    this.noProxy = options.noProxy;
    this.#log = options.log;
    this.#now = options.now ?? (() => performance.now());
  }

  /** The answer for `url` (asked with `host`): from the cache when fresh, else the script's. */
  choose(url: string, host: string): PacChoice | Promise<PacChoice> {
    const cached = this.#cache.get(url);
    if (cached !== undefined && this.#now() - cached.at < PAC_CACHE_TTL_MS) {
      this.#cache.delete(url);
      this.#cache.set(url, cached);
      return cached.value ?? cached.pending;
    }
    return this.#ask(url, host, cached?.value).pending;
  }

  /**
   * The last answer for `url` without waiting: an old one is returned while a fresh one is computed; none yet
   * starts one and returns undefined.
   */
  peek(url: string, host: string): PacChoice | undefined {
    const cached = this.#cache.get(url);
    if (cached === undefined) {
      this.#ask(url, host, undefined);
      return undefined;
    }
    if (this.#now() - cached.at >= PAC_CACHE_TTL_MS && cached.value !== undefined) this.#ask(url, host, cached.value);
    return cached.value;
  }

  /** Computes the answers for these URLs (reverse upstreams) and keeps them from eviction. */
  async prepare(asks: readonly { url: string; host: string }[]): Promise<void> {
    this.#pinned = new Set(asks.map((a) => a.url));
    await Promise.all(asks.map((a) => this.choose(a.url, a.host)));
  }

  #ask(url: string, host: string, previous: PacChoice | undefined): Cached {
    const entry: Cached = { at: this.#now(), pending: undefined as unknown as Promise<PacChoice>, value: previous };
    entry.pending = this.#evaluate(url, host).then((choice) => {
      entry.value = choice;
      return choice;
    });
    this.#cache.delete(url);
    this.#cache.set(url, entry);
    this.#evict();
    return entry;
  }

  #evict(): void {
    if (this.#cache.size <= PAC_CACHE_ENTRIES) return;
    for (const key of this.#cache.keys()) {
      if (this.#cache.size <= PAC_CACHE_ENTRIES) return;
      if (!this.#pinned.has(key)) this.#cache.delete(key);
    }
  }

  async #evaluate(url: string, host: string): Promise<PacChoice> {
    let result: string;
    try {
      result = await this.script.find(url, host);
    } catch (err) {
      const detail = (err as Error).message ?? String(err);
      this.#log?.warn(
        { event: 'proxy.pac_failed', proxy: this.name, pac: this.source, url, detail },
        `PAC script of proxy ${this.name} failed for ${url}: ${detail}; going direct, as browsers do`,
      );
      return { entries: [undefined], why: `PAC ${this.name} failed (${detail}): direct` };
    }
    const { entries, skipped } = parsePacResult(result);
    const out: (UpstreamProxy | undefined)[] = [];
    for (const entry of entries) {
      if (entry.kind === 'direct') {
        out.push(undefined);
        continue;
      }
      const proxy = this.#proxyFor(`${entry.scheme}://${entry.hostPort}`);
      if (proxy !== undefined) out.push(proxy);
      else skipped.push(entry.text);
    }
    if (skipped.length > 0) {
      this.#log?.debug(
        { event: 'proxy.pac_skipped', proxy: this.name, url, skipped },
        `PAC ${this.name}: skipped ${skipped.join('; ')} (only DIRECT, PROXY and HTTPS are supported)`,
      );
    }
    // An empty or unusable answer means DIRECT, as in browsers.
    if (out.length === 0) out.push(undefined);
    return { entries: out, why: `PAC ${this.name}: ${result.trim() === '' ? '(empty) DIRECT' : result.trim()}` };
  }

  #proxyFor(text: string): UpstreamProxy | undefined {
    let proxy = this.#proxies.get(text);
    if (proxy !== undefined) return proxy;
    const parsed = parseProxyUrl(text);
    if (!parsed.ok) return undefined;
    proxy = makeProxy(this.name, parsed.url, undefined, EMPTY_NO_PROXY);
    // A script naming a new proxy per destination must not grow this without bound.
    if (this.#proxies.size >= PAC_CACHE_ENTRIES) this.#proxies.clear();
    this.#proxies.set(text, proxy);
    return proxy;
  }
}

/**
 * One line when a PAC list was walked past proxies that could not be reached: which were skipped and why, and which
 * entry carried the connection.
 */
export function logPacFallthrough(
  log: Logger,
  target: string,
  used: UpstreamProxy | undefined,
  skipped: readonly { proxy: UpstreamProxy; error: Error & { code?: string } }[],
): void {
  if (skipped.length === 0) return;
  const via = used?.display ?? 'direct';
  log.warn(
    {
      event: 'proxy.fallthrough',
      target,
      via,
      skipped: skipped.map((s) => ({ proxy: s.proxy.display, code: s.error.code, detail: s.error.message })),
    },
    `${target}: ${skipped.map((s) => s.proxy.display).join(', ')} unreachable; went on to the next PAC entry, ${via}`,
  );
}
