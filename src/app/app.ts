// One running wsgate: the listeners and the built-in echo server a Config asks for, reload that swaps in a new
// config for new connections, and graceful shutdown. The CLI and the integration tests both start wsgate here.

import type net from 'node:net';
import type { Config } from '../config/schema.ts';
import { type EchoServer, startEchoServer } from '../echo/server.ts';
import { viaEntry } from '../forward/headers.ts';
import { ForwardListener, type ForwardSpec, newPseudonym } from '../forward/listener.ts';
import type { Logger } from '../log/logger.ts';
import { createTextRedactor } from '../log/redact.ts';
import { formatHostPort } from '../net/host-port.ts';
import { createHttpForwarder } from '../reverse/http.ts';
import { type ListenerSettings, ReverseListener } from '../reverse/listener.ts';
import { ensureCa, resolveCaDir } from '../tls/ca.ts';
import { type ConfigTls, insecureUpstreams, loadConfigTls } from '../tls/config-tls.ts';
import { type KeyLog, keyLogFile, openKeyLog } from '../tls/keylog.ts';
import { LeafCache } from '../tls/leaf.ts';
import { createTrafficLog, type TrafficLog } from '../traffic/traffic-log.ts';
import { UpstreamNetwork } from '../upstream/network.ts';
import type { Env } from '../upstream/proxy-config.ts';

export type StartOptions = {
  /** Where HTTP_PROXY, HTTPS_PROXY and NO_PROXY are read (default process.env); tests pass their own. */
  env?: Env | undefined;
  /** Name resolution for forward-mode dials (default dns.lookup); tests map names to 127.0.0.1 with it. */
  lookup?: net.LookupFunction | undefined;
};

/** Every upstream a reverse route dials, with the `via:` of its named upstream (inline URLs use the environment). */
function reverseUpstreams(config: Config): { name: string; url: string; via: string | undefined }[] {
  const via = new Map(config.upstreams.map((u) => [u.name, u.via]));
  return config.listeners.flatMap((l) =>
    l.routes.map((r) => ({ name: r.upstream.name, url: r.upstream.url, via: via.get(r.upstream.name) })),
  );
}

/** Logs the upstream proxies the environment gives wsgate, and what it could not use, once at start. */
function logNetwork(network: UpstreamNetwork, log: Logger): void {
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

export type RunningWsgate = {
  /** Bound addresses by listener name (the real port when the config asked for port 0). */
  readonly listeners: ReadonlyMap<string, { host: string; port: number }>;
  readonly echo: EchoServer | undefined;
  /** Applies a validated config to new connections; listeners added or removed by name are started or closed. */
  reload(config: Config): Promise<void>;
  /** Stops accepting, waits up to the configured grace period for what is in flight, closes the rest. */
  shutdown(): Promise<void>;
};

function settingsOf(
  config: Config,
  traffic: TrafficLog,
  network: UpstreamNetwork,
  tls?: ConfigTls,
  keyLog?: KeyLog,
): ListenerSettings {
  return {
    upstreamTls: tls?.upstreams,
    keyLog,
    network,
    limits: config.limits,
    showSecrets: config.log.showSecrets,
    tap: {
      previewBytes: config.tap.previewBytes,
      maxDecodedBytes: config.tap.maxDecodedBytes,
      redactText: createTextRedactor(config.tap.redactJsonKeys, config.tap.redactPatterns),
      active: () => traffic.active(),
      onViolation: config.tap.onViolation,
      limits: {
        maxFrameBytes: config.limits.maxFrameBytes,
        maxMessageBytes: config.limits.maxMessageBytes,
        maxFragments: config.limits.maxFragments,
        maxPendingPings: config.limits.maxPendingPings,
      },
    },
    emit: (event) => traffic.emit(event),
  };
}

/** tls.insecure is allowed, but never quietly. */
function warnInsecure(config: Config, log: Logger): void {
  for (const upstream of insecureUpstreams(config)) {
    log.warn(
      { event: 'tls.insecure_upstream', upstream },
      `TLS verification is off for upstream ${upstream} (tls.insecure): anyone on the path can read and change its traffic`,
    );
  }
}

/**
 * wsgate's CA, loaded — or created, on first use — when a forward listener intercepts TLS, and the cache of the
 * leaves it signs. The one already loaded is kept while tls.caDir stays the same.
 */
async function interceptionLeaves(
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

function sameBind(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  return a.host === b.host && a.port === b.port;
}

/** Starts everything the config names. Nothing is left half-started: on a failure, what did start is closed. */
export async function startWsgate(initial: Config, log: Logger, options: StartOptions = {}): Promise<RunningWsgate> {
  let config = initial;
  // Certificates, keys and CA files are read before anything listens: a bad one is an exit 2 naming the file.
  let tls = await loadConfigTls(config);
  let leaves = await interceptionLeaves(config, undefined, log);
  warnInsecure(config, log);
  const keyLogPath = keyLogFile(config.tls.keyLog);
  const keyLog =
    keyLogPath === undefined
      ? undefined
      : openKeyLog(keyLogPath, (err) =>
          log.error(
            { event: 'tls.keylog_failed', file: keyLogPath, err },
            `cannot write the TLS key log ${keyLogPath}`,
          ),
        );
  if (keyLog) {
    log.info({ event: 'tls.keylog', file: keyLog.file }, `TLS secrets are appended to ${keyLog.file} (key log)`);
  }
  const listeners = new Map<string, ReverseListener | ForwardListener>();
  // Upstream proxies (config and environment) for every listener of this instance; its Via pseudonym marks the
  // requests it forwards, so one that comes back around is recognised as a loop.
  const pseudonym = newPseudonym();
  const network = new UpstreamNetwork({
    proxies: config.proxies,
    env: options.env ?? process.env,
    via: viaEntry(pseudonym),
  });
  network.registerUpstreams(reverseUpstreams(config));
  logNetwork(network, log);
  const forwarder = createHttpForwarder({ keyLog, network });
  const addresses = new Map<string, { host: string; port: number }>();
  let echo: EchoServer | undefined;
  let traffic = createTrafficLog({ file: config.log.traffic, main: log });
  let stopping: Promise<void> | undefined;

  const startListener = async (spec: Config['listeners'][number]) => {
    const listener =
      spec.forward === undefined
        ? new ReverseListener(
            spec,
            settingsOf(config, traffic, network, tls, keyLog),
            log,
            forwarder,
            tls.listeners.get(spec.name),
          )
        : new ForwardListener(
            spec as ForwardSpec,
            {
              ...settingsOf(config, traffic, network, tls, keyLog),
              limits: config.limits,
              leaves,
              destinationTls: tls.forward.get(spec.name),
            },
            log,
            { network, pseudonym, lookup: options.lookup },
          );
    const address = await listener.listen();
    listeners.set(spec.name, listener);
    addresses.set(spec.name, address);
    log.info(
      {
        event: 'listener.start',
        listener: spec.name,
        address: formatHostPort(address.host, address.port),
        ...(spec.forward === undefined ? { routes: spec.routes.length } : { mode: 'forward' }),
      },
      spec.forward === undefined
        ? `listening on ${listener.scheme}://${formatHostPort(address.host, address.port)} (${spec.name})`
        : `forward proxy on http://${formatHostPort(address.host, address.port)} (${spec.name}): use it as HTTP_PROXY / HTTPS_PROXY`,
    );
  };

  try {
    if (config.echo) {
      echo = await startEchoServer(config.echo.bind);
      log.info({ event: 'echo.start', url: echo.url }, `echo server on ${echo.url}`);
    }
    for (const spec of config.listeners) await startListener(spec);
  } catch (err) {
    await Promise.all([...listeners.values()].map((l) => l.close(0)));
    await echo?.close();
    forwarder.close();
    await network.close();
    await traffic.close();
    await keyLog?.close();
    throw err;
  }

  return {
    listeners: addresses,
    get echo() {
      return echo;
    },
    async reload(next) {
      const previous = config;
      // Certificates are re-read, so a renewed one is served without a restart; a bad file keeps the old ones.
      try {
        const nextTls = await loadConfigTls(next);
        leaves = await interceptionLeaves(next, leaves, log);
        tls = nextTls;
      } catch (err) {
        log.error(
          { event: 'config.reload_failed', code: (err as { code?: string }).code },
          `config reload failed; keeping the running config: ${(err as Error).message}`,
        );
        return;
      }
      config = next;
      warnInsecure(next, log);
      if (keyLogFile(next.tls.keyLog) !== keyLogPath) {
        log.warn({ event: 'tls.keylog_unchanged' }, 'a changed tls.keyLog applies after a restart');
      }
      if (next.log.traffic !== previous.log.traffic) {
        const old = traffic;
        traffic = createTrafficLog({ file: next.log.traffic, main: log });
        void old.close();
      }
      const settings = settingsOf(next, traffic, network, tls, keyLog);
      network.update(next.proxies);
      network.registerUpstreams(reverseUpstreams(next));
      for (const spec of next.listeners) {
        const existing = listeners.get(spec.name);
        const scheme = spec.tls === undefined ? 'http' : 'https';
        if (existing instanceof ForwardListener && spec.forward !== undefined && sameBind(existing.bind, spec.bind)) {
          existing.update(spec as ForwardSpec, {
            ...settings,
            limits: next.limits,
            leaves,
            destinationTls: tls.forward.get(spec.name),
          });
          continue;
        }
        if (
          existing instanceof ReverseListener &&
          spec.forward === undefined &&
          sameBind(existing.bind, spec.bind) &&
          existing.scheme === scheme
        ) {
          existing.update(spec, settings, tls.listeners.get(spec.name));
          continue;
        }
        if (existing) {
          listeners.delete(spec.name);
          addresses.delete(spec.name);
          await existing.close(previous.shutdown.grace);
        }
        try {
          await startListener(spec);
        } catch (err) {
          log.error({ event: 'listener.start_failed', listener: spec.name, err }, (err as Error).message);
        }
      }
      for (const [name, listener] of listeners) {
        if (!next.listeners.some((l) => l.name === name)) {
          listeners.delete(name);
          addresses.delete(name);
          log.info({ event: 'listener.stop', listener: name }, `listener ${name} removed by reload`);
          void listener.close(previous.shutdown.grace);
        }
      }
      log.info({ event: 'config.reloaded', listeners: next.listeners.length }, 'configuration reloaded');
    },
    shutdown() {
      // Safe to call twice (a signal handler and a test's cleanup may both do it): the second call waits for the first.
      stopping ??= stop();
      return stopping;
    },
  };

  async function stop(): Promise<void> {
    {
      const grace = config.shutdown.grace;
      log.info({ event: 'shutdown.start', graceMs: grace }, `shutting down (grace ${grace} ms)`);
      await Promise.all([...listeners.values()].map((l) => l.close(grace)));
      await echo?.close();
      forwarder.close();
      await network.close();
      await traffic.close();
      await keyLog?.close();
      log.info({ event: 'shutdown.done' }, 'stopped');
    }
  }
}
