// The TLS files a config names, read and checked in one place before anything listens (and by `wsgate check`):
// each TLS listener's certificates and keys, each named upstream's CA file, each forward listener's upstreamCa.
// Any problem is a WsgateError with exit code 2 that names the file.
import type { PathSegment } from '../config/issues.ts';
import { placeInConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { placedError, WsgateError } from '../errors.ts';
import { loadServerTls, type ServerTls } from './server-certs.ts';
import { loadUpstreamTls, type UpstreamTls } from './upstream.ts';

export type ConfigTls = {
  /** By listener name, for listeners with tls:. */
  listeners: ReadonlyMap<string, ServerTls>;
  /** By upstream name, for every named upstream (defaults when it has no tls:). */
  upstreams: ReadonlyMap<string, UpstreamTls>;
  /** By forward listener name: how it verifies TLS destinations (forward.upstreamCa; defaults without). */
  forward: ReadonlyMap<string, UpstreamTls>;
};

export async function loadConfigTls(config: Pick<Config, 'listeners' | 'upstreams'>): Promise<ConfigTls> {
  // A file that cannot be used is reported at the key that names it, as config issues are, and all of them at once.
  const failures: unknown[] = [];
  const at = async <T>(path: PathSegment[], load: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await load();
    } catch (err) {
      failures.push(placedError(err, placeInConfig(config, path)));
      return undefined;
    }
  };
  const listeners = new Map<string, ServerTls>();
  for (const [i, listener] of config.listeners.entries()) {
    const tls = listener.tls;
    const loaded = tls === undefined ? undefined : await at(['listeners', i, 'tls'], () => loadServerTls(tls.certs));
    if (loaded !== undefined) listeners.set(listener.name, loaded);
  }
  const upstreams = new Map<string, UpstreamTls>();
  for (const [i, upstream] of config.upstreams.entries()) {
    if (!/^(wss|https):/i.test(upstream.url)) continue;
    const loaded = await at(['upstreams', i, 'tls'], () => loadUpstreamTls(upstream.tls));
    if (loaded !== undefined) upstreams.set(upstream.name, loaded);
  }
  const forward = new Map<string, UpstreamTls>();
  for (const [i, listener] of config.listeners.entries()) {
    const block = listener.forward;
    if (block !== undefined) {
      const path = ['listeners', i, 'forward', 'upstreamCa'];
      const loaded = await at(path, () => loadUpstreamTls({ ca: block.upstreamCa }));
      if (loaded !== undefined) forward.set(listener.name, loaded);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    const lines = failures.map((f) => (f instanceof Error ? f.message : String(f)));
    throw new WsgateError('WSG_TLS_FILES', { count: failures.length, detail: lines.join('\n') }, { details: failures });
  }
  return { listeners, upstreams, forward };
}

/** Named upstreams whose certificates are not verified (tls.insecure: true). */
export function insecureUpstreams(config: Pick<Config, 'upstreams'>): string[] {
  return config.upstreams.filter((u) => u.tls?.insecure === true).map((u) => u.name);
}
