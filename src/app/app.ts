// One running wsgate: the listeners and the built-in echo server a Config asks for, reload that swaps in a new
// config for new connections, and graceful shutdown. The CLI and the integration tests both start wsgate here.

import { redactConfigForDisplay } from '../config/display.ts';
import type { Config } from '../config/schema.ts';
import { type EchoServer, startEchoServer } from '../echo/server.ts';
import { isWsgateError } from '../errors.ts';
import { viaEntry } from '../forward/headers.ts';
import { ForwardListener, type ForwardSpec, newPseudonym } from '../forward/listener.ts';
import { healthHandlers, type Readiness } from '../inspector/health.ts';
import { type Inspector, listenerOfRoute, packageVersion, startInspector } from '../inspector/inspector.ts';
import { logHandlers } from '../inspector/log-api.ts';
import { demoUrlFor, staticAdminHandlers } from '../inspector/static.ts';
import { upstreamHandlers } from '../inspector/upstreams-api.ts';
import { type Logger, logQueueOf } from '../log/logger.ts';
import { formatHostPort } from '../net/host-port.ts';
import { localProxyHeader } from '../net/proxy-protocol-send.ts';
import { createHttpForwarder } from '../reverse/http.ts';
import { closeServerSessions, ReverseListener, withSpares } from '../reverse/listener.ts';
import { loadConfigTls } from '../tls/config-tls.ts';
import { keyLogFile } from '../tls/keylog.ts';
import { defaultUpstreamTls, upstreamTlsOptions } from '../tls/upstream.ts';
import { createTrafficLog } from '../traffic/traffic-log.ts';
import { UpstreamBalancer } from '../upstream/balancer.ts';
import { connectUpstream, isTlsUrl } from '../upstream/connect.ts';
import { HealthChecks } from '../upstream/health-check.ts';
import { type NetworkState, UpstreamNetwork } from '../upstream/network.ts';
import { loadPacScripts, PAC_FETCH_TIMEOUT_MS } from '../upstream/pac.ts';
import type { LiveSession } from '../websocket/session.ts';
import { settingsOf } from './listener-settings.ts';
import { moveRenamed, planSwap, runSwap } from './listener-swap.ts';
import { serversAsRunning, warnRestartOnly } from './restart-only.ts';
import type { RunningWsgate, StartOptions } from './running.ts';
import {
  applyLogSettings,
  checkedUpstreams,
  configuredServers,
  interceptionLeaves,
  logControlOf,
  logNetwork,
  openConfiguredKeyLog,
  reverseUpstreams,
  warnTls,
} from './start-up.ts';

export type { RunningWsgate, StartOptions } from './running.ts';

function sameBind(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  return a.host === b.host && a.port === b.port;
}

/** The Close 1001 of an open WebSocket whose listener a reload closed (renamed, removed, moved). */
const RELOAD_CLOSE_REASON = 'listener closed by a config reload';

/** Starts everything the config names. Nothing is left half-started: on a failure, what did start is closed. */
export async function startWsgate(initial: Config, log: Logger, options: StartOptions = {}): Promise<RunningWsgate> {
  let config = initial;
  // Certificates, keys and CA files are read before anything listens: a bad one is an exit 2 naming the file.
  let tls = await loadConfigTls(config);
  let leaves = await interceptionLeaves(config, undefined, log);
  warnTls(config, tls, log);
  const keyLogPath = keyLogFile(config.tls.keyLog);
  const keyLog = openConfiguredKeyLog(keyLogPath, log);
  const listeners = new Map<string, ReverseListener | ForwardListener>();
  // Upstream proxies (config and environment) for every listener of this instance; its Via pseudonym marks the
  // requests it forwards, so one that comes back around is recognised as a loop.
  const pseudonym = newPseudonym();
  // PAC scripts (proxies[].pac) are read and compiled before anything listens: a bad one is an exit 2.
  const network = new UpstreamNetwork({
    proxies: config.proxies,
    env: options.env ?? process.env,
    via: viaEntry(pseudonym),
    pac: await loadPacScripts(config.proxies, log),
    log,
  });
  network.registerUpstreams(reverseUpstreams(config));
  await network.prepare();
  logNetwork(network, log);
  // One for the process and its reloads: open connections per server and skipped servers outlive a config.
  const balancer = new UpstreamBalancer();
  balancer.syncDrained(options.drained ?? []);
  const forwarder = createHttpForwarder({ keyLog, network, balancer });
  // Active checks dial as traffic does: the upstream's TLS settings, its proxy. With --workers one worker runs them.
  const checkRole = options.healthChecks;
  const healthChecks = new HealthChecks(
    balancer,
    log,
    (target, timeout, proxyProtocol) => {
      const settings = isTlsUrl(target.url) ? (tls.upstreams.get(target.name) ?? defaultUpstreamTls()) : undefined;
      return connectUpstream(target, {
        connectTimeout: timeout,
        proxyHeader: proxyProtocol === undefined ? undefined : localProxyHeader(proxyProtocol),
        ...(settings === undefined ? {} : upstreamTlsOptions(settings)),
        keyLog,
        route: network.routeFor(target),
      });
    },
    checkRole ?? {},
  );
  const addresses = new Map<string, { host: string; port: number }>();
  let echo: EchoServer | undefined;
  const traffic = createTrafficLog({ file: config.log.traffic, main: log });
  let stopping: Promise<void> | undefined;
  let reloads: Promise<boolean> = Promise.resolve(true);
  // prom-client and the OpenTelemetry API it loads are ~90 modules: loaded only for the admin API's /metrics.
  const metricsModule = config.inspector !== undefined ? await import('../inspector/metrics.ts') : undefined;
  const metrics = metricsModule === undefined ? undefined : new metricsModule.WsgateMetrics();
  metrics?.watchLogQueue('main', () => logQueueOf(log));
  metrics?.watchLogQueue('traffic', () => traffic.ownQueue);
  metrics?.watchServers(() => balancer.snapshot(Date.now()));
  const readiness = (): Readiness => ({
    listeners: config.listeners.map((l) => ({ name: l.name, bound: addresses.has(l.name) })),
    configLoaded: true,
    draining: stopping !== undefined,
  });
  const healthAndMetricsHandlers = () => [
    ...(metrics === undefined || metricsModule === undefined ? [] : [metricsModule.metricsHandler(metrics)]),
    ...healthHandlers(readiness),
  ];
  const sessionOf = (conn: string): LiveSession | undefined => {
    for (const listener of listeners.values()) {
      const session = listener.session(conn);
      if (session !== undefined) return session;
    }
    return undefined;
  };
  let inspector: Inspector | undefined;

  type Running = ReverseListener | ForwardListener;
  type Sources = { config: Config; tls: typeof tls; leaves: typeof leaves };
  const settingsFor = (from: Sources) =>
    settingsOf(from.config, traffic, network, balancer, from.tls, keyLog, metrics, inspector ?? options.events);
  /** Builds and binds a listener from a config and what was loaded for it; the caller registers it. */
  const startListener = async (spec: Config['listeners'][number], from: Sources) => {
    const settings = settingsFor(from);
    const listener: Running =
      spec.forward === undefined
        ? new ReverseListener(spec, settings, log, forwarder, from.tls.listeners.get(spec.name))
        : new ForwardListener(
            spec as ForwardSpec,
            {
              ...settings,
              limits: from.config.limits,
              leaves: from.leaves,
              destinationTls: from.tls.forward.get(spec.name),
            },
            log,
            { network, pseudonym, lookup: options.lookup },
          );
    const address = await listener.listen();
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
    return { listener, address };
  };
  const register = ({ listener, address }: { listener: Running; address: { host: string; port: number } }) => {
    listeners.set(listener.name, listener);
    addresses.set(listener.name, address);
  };
  const reloadFailed = (err: unknown, fields: Record<string, unknown> = {}) => {
    // A hint fitted to the error (a bind's cause) is as useful after a reload as the CLI's at start.
    const hint = isWsgateError(err) ? err.hint : undefined;
    log.error(
      { event: 'config.reload_failed', code: (err as { code?: string }).code, ...fields, ...(hint ? { hint } : {}) },
      `config reload failed; keeping the running config: ${(err as Error).message}`,
    );
  };

  try {
    // The admin API starts first: the listeners' taps feed its store from their first connection.
    if (config.inspector !== undefined && options.admin !== false) {
      inspector = await startInspector(config.inspector, {
        log,
        session: sessionOf,
        config: () => redactConfigForDisplay(config, config.log.showSecrets, config.log.redactQueryParams),
        reload: options.reloadFromFile,
        listenerOf: (route) => listenerOfRoute(config, route),
        redaction: () => config.log,
        version: options.version ?? packageVersion(),
        handlers: [
          ...healthAndMetricsHandlers(),
          ...logHandlers(logControlOf(log, () => config.log.traffic)),
          ...upstreamHandlers({
            pools: () => checkedUpstreams(config),
            snapshots: async () => ({ lists: [withSpares(balancer.snapshot(Date.now()), listeners.values())] }),
            drained: () => balancer.drainedServers(),
            setDrained: (servers) => balancer.syncDrained(servers),
            closeServer: async (upstream, server, code, reason) =>
              closeServerSessions(listeners.values(), upstream, server, code, reason),
            log,
          }),
          ...staticAdminHandlers({ demoUrl: demoUrlFor(config) }),
        ],
      });
      const store = inspector.store;
      metrics?.watchStore(() => store.stats());
    }
    if (config.echo) {
      echo = await startEchoServer(config.echo.bind);
      log.info({ event: 'echo.start', url: echo.url }, `echo server on ${echo.url}`);
    }
    for (const spec of config.listeners) register(await startListener(spec, { config, tls, leaves }));
  } catch (err) {
    await Promise.all([...listeners.values()].map((l) => l.close(0)));
    await inspector?.close();
    await echo?.close();
    forwarder.close();
    await network.close();
    await traffic.close();
    await keyLog?.close();
    throw err;
  }

  healthChecks.update(checkedUpstreams(config));
  for (const [upstream, server] of checkRole?.down ?? []) balancer.setCheckedDown(upstream, server, true);

  return {
    listeners: addresses,
    get echo() {
      return echo;
    },
    reload(asked) {
      // One at a time, in the order asked (SIGHUP, the file watcher and the admin API do not wait for each other):
      // two swaps planned from the same listeners would each start their own, and the slower config would win.
      const run = reloads.then(() => reloadNow(asked));
      reloads = run.catch(() => false);
      return run;
    },
    metrics,
    get inspector() {
      return inspector;
    },
    readiness,
    session: sessionOf,
    servers: () => withSpares(balancer.snapshot(Date.now()), listeners.values()),
    setDrained: (servers) => balancer.syncDrained(servers),
    setHealthChecks: (run) => healthChecks.setRunning(run),
    setCheckedDown: (upstream, server, down) => balancer.setCheckedDown(upstream, server, down),
    closeServer: (upstream, server, code, reason) =>
      closeServerSessions(listeners.values(), upstream, server, code, reason),
    healthAndMetricsHandlers,
    shutdown() {
      // Safe to call twice (a signal handler and a test's cleanup may both do it): the second call waits for the first.
      stopping ??= stop();
      return stopping;
    },
  };

  /** A reload: the new config for new connections, or nothing changed and false when a part of it cannot apply. */
  async function reloadNow(asked: Config): Promise<boolean> {
    const previous = config;
    const next = serversAsRunning(previous, asked);
    // Certificates are re-read, so a renewed one is served without a restart; a bad file keeps the old ones.
    let loaded: Sources;
    let staged: NetworkState;
    try {
      const nextTls = await loadConfigTls(next);
      loaded = { config: next, tls: nextTls, leaves: await interceptionLeaves(next, leaves, log) };
      // PAC scripts are fetched and their answers for the reverse upstreams computed before anything routes by
      // them; one that cannot be fetched or run fails the reload, and the running scripts go on answering (but an
      // unchanged source that cannot be fetched again keeps its running script: loadPacScripts).
      const pac = await loadPacScripts(next.proxies, log, PAC_FETCH_TIMEOUT_MS, network.pacProxies);
      staged = await network.stage(next.proxies, pac, reverseUpstreams(next));
    } catch (err) {
      reloadFailed(err);
      return false;
    }
    // From a new listener's first connection its upstreams route by the new proxies; routes only the old config
    // has (kept listeners until they are updated) route as before until the swap is done.
    network.apply(staged);
    if (!(await swapListenersFor(next, loaded, { config: previous, tls, leaves }))) {
      network.revert(staged);
      return false;
    }
    network.settle();
    tls = loaded.tls;
    leaves = loaded.leaves;
    config = next;
    warnTls(next, tls, log);
    warnRestartOnly(previous, asked, log);
    if (next.inspector !== undefined) inspector?.admin.setToken(next.inspector.token);
    if (keyLogFile(next.tls.keyLog) !== keyLogPath) {
      log.warn({ event: 'tls.keylog_unchanged' }, 'a changed tls.keyLog applies after a restart');
    }
    const logged = applyLogSettings(log, config);
    config = logged.config;
    if (config.log.traffic !== previous.log.traffic || logged.trafficAffected) {
      try {
        // Open connections hold this traffic log too: their next lines go where it writes now.
        traffic.update(config.log.traffic);
      } catch (err) {
        // The rest of the reload applies; traffic lines stay where they went, and the config says so.
        const e = err as { code?: string; message: string };
        log.error(
          { event: 'log.traffic_unchanged', code: e.code, file: config.log.traffic },
          `${e.message}; traffic lines still go to ${previous.log.traffic ?? 'the main log'}`,
        );
        config = { ...config, log: { ...config.log, traffic: previous.log.traffic } };
      }
    }
    healthChecks.update(checkedUpstreams(config));
    // A drained server stays drained while the config has it (a worker's primary forgets the same ones).
    const configured = configuredServers(config);
    balancer.syncDrained(balancer.drainedServers().filter(([u, s]) => configured.has(`${u}\n${s}`)));
    log.info({ event: 'config.reloaded', listeners: next.listeners.length }, 'configuration reloaded');
    return true;
  }

  /**
   * The listeners of `next`, all or none (app/listener-swap.ts): false, with the reason logged, when one could not
   * bind; the running ones are then as before. A listener that keeps its name, kind and address takes the new
   * spec in place; its open connections keep the settings they started with.
   */
  async function swapListenersFor(next: Config, loaded: Sources, before: Sources): Promise<boolean> {
    const settings = settingsFor(loaded);
    const sameKind = (existing: Running, spec: Config['listeners'][number]) =>
      existing instanceof ForwardListener
        ? spec.forward !== undefined
        : spec.forward === undefined && existing.scheme === (spec.tls === undefined ? 'http' : 'https');
    const plan = planSwap(
      listeners,
      (l) => addresses.get(l.name) ?? l.bind,
      next.listeners,
      (existing, spec) => sameKind(existing, spec) && sameBind(existing.bind, spec.bind),
      sameKind,
    );
    const result = await runSwap(plan, (l) => addresses.get(l.name) ?? l.bind, {
      start: (spec) => startListener(spec, loaded),
      restore: (old) => {
        // On the port it had: one the config left to the system (port 0) is the one clients were given.
        const spec = before.config.listeners.find((l) => l.name === old.name)!;
        const port = addresses.get(old.name)?.port ?? spec.bind.port;
        return startListener({ ...spec, bind: { host: spec.bind.host, port } }, before);
      },
      retire: (old) => {
        log.info({ event: 'listener.stop', listener: old.name }, `listener ${old.name} closed by reload`);
        return old.close(before.config.shutdown.grace, RELOAD_CLOSE_REASON);
      },
    });
    if (!result.ok) {
      const err = result.error as { code?: string; message?: string; cause?: unknown };
      for (const r of result.restored) register(r);
      for (const { listener, error } of result.lost) {
        listeners.delete(listener.name);
        addresses.delete(listener.name);
        log.error(
          { event: 'listener.lost', listener: listener.name, code: (error as { code?: string }).code },
          `listener ${listener.name} could not listen again after a failed reload: ${(error as Error).message}`,
        );
      }
      reloadFailed(err, { listener: result.spec, cause: (err.cause as { code?: string } | undefined)?.code });
      return false;
    }
    for (const old of plan.retired) {
      listeners.delete(old.name);
      addresses.delete(old.name);
    }
    moveRenamed(plan.kept, { listeners, addresses }, (listener, name) => {
      const line = `listener ${listener.name} is now ${name}; its open connections carry on`;
      log.info({ event: 'listener.rename', listener: name, from: listener.name }, line);
      listener.rename(name, log);
    });
    for (const s of result.started) register(s);
    for (const { listener, spec } of plan.kept) {
      if (listener instanceof ForwardListener) {
        listener.update(spec as ForwardSpec, {
          ...settings,
          limits: next.limits,
          leaves: loaded.leaves,
          destinationTls: loaded.tls.forward.get(spec.name),
        });
      } else listener.update(spec, settings, loaded.tls.listeners.get(spec.name));
    }
    return true;
  }

  async function stop(): Promise<void> {
    {
      const grace = config.shutdown.grace;
      log.info({ event: 'shutdown.start', graceMs: grace }, `shutting down (grace ${grace} ms)`);
      healthChecks.close();
      await Promise.all([...listeners.values()].map((l) => l.close(grace)));
      await echo?.close();
      await inspector?.close();
      forwarder.close();
      await network.close();
      await traffic.close();
      await keyLog?.close();
      log.info({ event: 'shutdown.done' }, 'stopped');
    }
  }
}
