// The TLS files a config names, read and checked in one place before anything listens (and by `wsgate check`):
// each TLS listener's certificates and keys, each named upstream's CA file, each forward listener's upstreamCa.
// Any problem is a WsgateError with exit code 2 that names the file.
import type { Config } from '../config/schema.ts';
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
  const listeners = new Map<string, ServerTls>();
  for (const listener of config.listeners) {
    if (listener.tls !== undefined) listeners.set(listener.name, await loadServerTls(listener.tls.certs));
  }
  const upstreams = new Map<string, UpstreamTls>();
  for (const upstream of config.upstreams) {
    if (/^(wss|https):/i.test(upstream.url)) upstreams.set(upstream.name, await loadUpstreamTls(upstream.tls));
  }
  const forward = new Map<string, UpstreamTls>();
  for (const listener of config.listeners) {
    if (listener.forward !== undefined) {
      forward.set(listener.name, await loadUpstreamTls({ ca: listener.forward.upstreamCa }));
    }
  }
  return { listeners, upstreams, forward };
}

/** Named upstreams whose certificates are not verified (tls.insecure: true). */
export function insecureUpstreams(config: Pick<Config, 'upstreams'>): string[] {
  return config.upstreams.filter((u) => u.tls?.insecure === true).map((u) => u.name);
}
