// What start and reload do once per config around the listeners: the upstream routes and proxies to log, the
// warning for unverified upstreams, wsgate's CA for interception (loaded, or created on first use), the log settings
// a reload (or the admin API's PUT /api/log) applies to the running logger, and the server pools health checks cover.

import type { Config } from '../config/schema.ts';
import type { LogControl } from '../inspector/log-api.ts';
import { type Logger, type LogLevel, logOptionsOf, updateLogger } from '../log/logger.ts';
import { ensureCa, resolveCaDir } from '../tls/ca.ts';
import { type ConfigTls, insecureUpstreams } from '../tls/config-tls.ts';
import { type KeyLog, openKeyLog } from '../tls/keylog.ts';
import { LeafCache } from '../tls/leaf.ts';
import type { CheckedUpstream } from '../upstream/health-check.ts';
import type { UpstreamNetwork } from '../upstream/network.ts';

/** Every upstream a reverse route dials, with the `via:` of its named upstream (inline URLs use the environment). */
export function reverseUpstreams(config: Config): { name: string; url: string; via: string | undefined }[] {
  const via = new Map(config.upstreams.map((u) => [u.name, u.via]));
  // Every server of an upstream with several: each may take another way (a PAC script answers per host).
  return config.listeners.flatMap((l) =>
    l.routes.flatMap((r) =>
      (r.upstream.pool?.servers ?? [r.upstream.url]).map((url) => ({
        name: r.upstream.name,
        url,
        via: via.get(r.upstream.name),
      })),
    ),
  );
}

/** The upstreams with several servers that the routes use, once each: what health checks and metrics cover. */
export function checkedUpstreams(config: Config): CheckedUpstream[] {
  const pools = new Map<string, CheckedUpstream>();
  for (const l of config.listeners)
    for (const { upstream } of l.routes) {
      if (upstream.pool === undefined) continue;
      const header = upstream.proxyProtocol === undefined ? {} : { proxyProtocol: upstream.proxyProtocol };
      pools.set(upstream.name, { name: upstream.name, pool: upstream.pool, ...header });
    }
  return [...pools.values()];
}

/** Every server of those pools, as "upstream\nserver": what a drained server must be in to stay drained. */
export function configuredServers(config: Config): Set<string> {
  return new Set(checkedUpstreams(config).flatMap(({ name, pool }) => pool.servers.map((s) => `${name}\n${s}`)));
}

/** Logs the upstream proxies the environment gives wsgate, and what it could not use, once at start. */
export function logNetwork(network: UpstreamNetwork, log: Logger): void {
  for (const warning of network.warnings) log.warn({ event: 'proxy.env_invalid' }, warning);
  const { http, https } = network.envProxies;
  for (const proxy of [http, https]) {
    if (proxy !== undefined) {
      log.info(
        { event: 'proxy.env', variable: proxy.name, proxy: proxy.display, noProxy: proxy.noProxy.source.join(',') },
        `upstream proxy from ${proxy.name}: ${proxy.display}`,
      );
    }
  }
}

/**
 * tls.insecure is allowed, but never quietly. A listener certificate outside its validity is served (a renewal may
 * be on its way) but said at start and on each reload: otherwise the only trace is clients' alerts in
 * tls.handshake_failed lines.
 */
export function warnTls(config: Config, tls: ConfigTls, log: Logger, now = new Date()): void {
  for (const upstream of insecureUpstreams(config)) {
    log.warn(
      { event: 'tls.insecure_upstream', upstream },
      `TLS verification is off for upstream ${upstream} (tls.insecure): anyone on the path can read and change its traffic`,
    );
  }
  for (const [listener, server] of tls.listeners) {
    for (const { certFile: file, validFrom, validTo } of server.certs) {
      const fields = { listener, file, validFrom: validFrom.toISOString(), validTo: validTo.toISOString() };
      if (validTo < now) {
        log.warn(
          { event: 'tls.cert_expired', ...fields },
          `listener ${listener} serves ${file}, which expired on ${fields.validTo}: clients refuse it; renew it and reload (SIGHUP)`,
        );
      } else if (validFrom > now) {
        log.warn(
          { event: 'tls.cert_not_yet_valid', ...fields },
          `listener ${listener} serves ${file}, which is valid only from ${fields.validFrom}: clients refuse it until then (or this machine's clock is behind)`,
        );
      }
    }
  }
}

/** What a reload's log.* did to the running logger. */
export type LogSettingsApplied = {
  /** The config as it now runs: log.file and log.format as they were when the new file cannot be opened. */
  config: Config;
  /** Changed keys a traffic log built from the main logger depends on: it must be rebuilt (TrafficLog.update). */
  trafficAffected: boolean;
};

/**
 * Applies a reload's log.* to the running logger and every child of it, as nginx applies error_log on reload: the
 * level, the destination (log.file, log.format), the line redaction and the queue bound. A log.file that cannot be
 * opened keeps lines where they went (log.file_unchanged), and the rest applies.
 */
export function applyLogSettings(log: Logger, next: Config): LogSettingsApplied {
  const update = updateLogger(log, next.log);
  let config = next;
  if (update.error !== undefined) {
    const running = logOptionsOf(log);
    log.error(
      { event: 'log.file_unchanged', code: update.error.code, file: next.log.file },
      `${update.error.message}; the log still goes to ${running?.file ?? 'stdout'}`,
    );
    config = { ...next, log: { ...next.log, file: running?.file, format: running?.format ?? next.log.format } };
  }
  if (update.changed.length > 0) {
    log.info(
      { event: 'log.changed', keys: update.changed.map((key) => `log.${key}`) },
      `log settings changed: ${update.changed.map((key) => `log.${key}`).join(', ')}`,
    );
  }
  return { config, trafficAffected: update.redactionChanged || update.changed.includes('maxQueueBytes') };
}

/**
 * Sets the level of this process's log from the admin API (PUT /api/log), as a reload of log.level would. The line
 * saying so is written where it can be read: before a level that hides info lines takes effect, after one that
 * shows them.
 */
export function setLogLevel(log: Logger, level: LogLevel): void {
  const options = logOptionsOf(log);
  if (log.level === level) return;
  const say = () =>
    log.info(
      { event: 'log.changed', keys: ['log.level'], level, by: 'admin' },
      `log.level set to ${level} through the admin API, until the next reload or restart`,
    );
  const before = log.isLevelEnabled('info');
  if (before) say();
  updateLogger(log, { ...(options ?? { format: 'json' }), level });
  if (!before) say();
}

/** The admin API's log endpoints for one process; `alsoSet` passes a new level on (the primary to its workers). */
export function logControlOf(
  log: Logger,
  traffic: () => string | undefined,
  alsoSet?: (level: LogLevel) => void,
): LogControl {
  return {
    view() {
      const options = logOptionsOf(log);
      return { level: log.level, format: options?.format ?? 'json', file: options?.file, traffic: traffic() };
    },
    setLevel(level) {
      setLogLevel(log, level);
      alsoSet?.(level);
    },
  };
}

/**
 * wsgate's CA, loaded — or created, on first use — when a forward listener intercepts TLS, and the cache of the
 * leaves it signs. The one already loaded is kept while tls.caDir stays the same.
 */
export async function interceptionLeaves(
  config: Config,
  current: LeafCache | undefined,
  log: Logger,
): Promise<LeafCache | undefined> {
  const intercepting = config.listeners.filter((l) => (l.forward?.intercept.length ?? 0) > 0).map((l) => l.name);
  if (intercepting.length === 0) return current;
  if (current !== undefined && current.ca.paths.dir === resolveCaDir(config.tls.caDir)) return current;
  const { ca, created } = await ensureCa(config.tls.caDir);
  const { paths } = ca;
  const trustHelp = `wsgate ca trust-help --dir ${paths.dir}`;
  const fields = { cert: paths.cert, listeners: intercepting.join(','), leafSpki: ca.leafKey.spkiSha256 };
  if (created) {
    log.warn(
      { event: 'tls.ca_created', dir: paths.dir, ...fields },
      `created wsgate's CA for TLS interception in ${paths.dir}: clients see intercepted traffic only if they trust ${paths.cert}; \`${trustHelp}\` shows how`,
    );
  } else {
    log.info(
      { event: 'tls.ca', dir: paths.dir, ...fields },
      `intercepting TLS (${intercepting.join(', ')}) with the CA ${paths.cert}; how to trust it: \`${trustHelp}\``,
    );
  }
  if (!ca.leafKey.persisted) {
    log.warn(
      { event: 'tls.leaf_key_missing', file: paths.leafKey },
      `${paths.leafKey} is missing: leaf certificates use a new key on every start (their SPKI hash changes)`,
    );
  }
  return new LeafCache(ca);
}

/** tls.keyLog, opened for appending (a write failure is logged, never thrown); undefined when not set. */
export function openConfiguredKeyLog(path: string | undefined, log: Logger): KeyLog | undefined {
  if (path === undefined) return undefined;
  const keyLog = openKeyLog(path, (err) =>
    log.error({ event: 'tls.keylog_failed', file: path, err }, `cannot write the TLS key log ${path}`),
  );
  log.info({ event: 'tls.keylog', file: keyLog.file }, `TLS secrets are appended to ${keyLog.file} (key log)`);
  return keyLog;
}
