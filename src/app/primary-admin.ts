// The admin API of `wsgate run --workers N`: one admin listener, in the primary, that sees every worker. Workers
// run without an admin listener of their own (a shared port would hand each request to one worker, which would
// answer for its own connections only); they send their WebSocket events here for the traffic store, answer
// metrics scrapes and carry out send and close through the IPC (worker-bridge.ts ↔ worker-hub.ts).
//   /api/…     the traffic store of every worker's connections; send/close go to the worker that holds one;
//              /api/upstreams sums the workers' counts, and a drained server is drained in every worker
//   /metrics   every listening worker's registry merged with the primary's own (process metrics of the primary)
//   /healthz   the primary answers
//   /readyz    at least one worker listens, every listener is bound, and the primary is not stopping
import cluster, { type Worker } from 'node:cluster';
import { redactConfigForDisplay } from '../config/display.ts';
import type { Config } from '../config/schema.ts';
import { healthHandlers, type Readiness } from '../inspector/health.ts';
import { type Inspector, listenerOfRoute, packageVersion, startInspector } from '../inspector/inspector.ts';
import { logHandlers } from '../inspector/log-api.ts';
import { metricsHandler, WsgateMetrics } from '../inspector/metrics.ts';
import { demoUrlFor, staticAdminHandlers } from '../inspector/static.ts';
import { upstreamHandlers } from '../inspector/upstreams-api.ts';
import type { Logger } from '../log/logger.ts';
import { serversAsRunning } from './restart-only.ts';
import { checkedUpstreams, logControlOf } from './start-up.ts';
import { WorkerHub, workerOfConn } from './worker-hub.ts';
import type { ControlAnswer } from './worker-ipc.ts';
import type { WorkerPool } from './worker-pool.ts';

export type PrimaryAdmin = {
  readonly inspector: Inspector;
  /** The workers' new config: its inspector.token from now on (the rest of the block applies after a restart). */
  applyConfig(next: Config): void;
  /** From now on /readyz answers 503 (the primary is stopping its workers). */
  drain(): void;
  close(): Promise<void>;
};

export type PrimaryAdminOptions = {
  config: Config;
  pool: WorkerPool;
  log: Logger;
  /** The listeners the workers share (the first worker's report: every worker listens on the same sockets). */
  listeners: readonly string[];
  /** POST /api/reload: the same as SIGHUP; undefined without a config file. */
  reload: (() => Promise<void>) | undefined;
};

const asResult = (answer: ControlAnswer) =>
  answer.ok ? { ok: true as const } : { ok: false as const, reason: answer.reason };

/** Starts the admin listener in the primary; undefined when the config has no `inspector`. */
export async function startPrimaryAdmin(options: PrimaryAdminOptions): Promise<PrimaryAdmin | undefined> {
  const { config, pool, log } = options;
  if (config.inspector === undefined) return undefined;
  const metrics = new WsgateMetrics();
  let draining = false;
  let inspector: Inspector | undefined;
  const readyWorkers = (): Worker[] =>
    pool.workers
      .filter((m) => m.state === 'ready')
      .map((m) => cluster.workers?.[m.id])
      .filter((w): w is Worker => w !== undefined);
  const hub = new WorkerHub({ ingest: (event) => inspector?.ingest(event), metrics, workers: readyWorkers });
  const readiness = (): Readiness => {
    const ready = readyWorkers().length;
    return {
      listeners: options.listeners.map((name) => ({ name, bound: ready > 0 })),
      configLoaded: true,
      draining,
      workers: { ready, target: pool.target },
    };
  };
  try {
    inspector = await startInspector(config.inspector, {
      log,
      // A connection a worker holds: open in the store, and its id names a worker.
      session: (conn) => {
        if (inspector?.store.connection(conn)?.state !== 'open' || workerOfConn(conn) === undefined) return undefined;
        return {
          send: (to, message) =>
            hub.control({ op: 'send', conn, to, message: { type: message.type, data: message.data } }).then(asResult),
          close: (code, reason, to) => hub.control({ op: 'close', conn, code, reason, to }).then(asResult),
          // The hold action: the decision goes to the worker; the held data stays there (GET /api/held: previews).
          release: (id, decision) => hub.control({ op: 'release', conn, id, decision }).then(asResult),
          holdRule: (rule) => hub.control({ op: 'holdRule', conn, rule }).then(asResult),
        };
      },
      config: () => {
        // The admin API's block as it runs here (a reload moves only its token); the workers' echo as they run it.
        const now = { ...serversAsRunning(config, pool.config), echo: pool.config.echo };
        return redactConfigForDisplay(now, now.log.showSecrets, now.log.redactQueryParams);
      },
      reload: options.reload,
      // The workers' config of the moment (a reload changes it), not the one the primary started with.
      listenerOf: (route) => listenerOfRoute(pool.config, route),
      redaction: () => pool.config.log,
      version: packageVersion(),
      handlers: [
        metricsHandler({ text: () => hub.metricsText(), contentType: metrics.contentType }),
        ...healthHandlers(readiness),
        // The primary's own log, and every ready worker's.
        ...logHandlers(
          logControlOf(
            log,
            () => pool.config.log.traffic,
            (level) => pool.setLogLevel(level),
          ),
        ),
        ...upstreamHandlers({
          pools: () => checkedUpstreams(pool.config),
          snapshots: () => hub.upstreamSnapshots(),
          drained: () => pool.drained,
          setDrained: (servers) => pool.setDrained(servers),
          closeServer: (upstream, server, code, reason) => hub.closeServer(upstream, server, code, reason),
          log,
        }),
        ...staticAdminHandlers({ demoUrl: demoUrlFor(config) }),
      ],
    });
  } catch (err) {
    hub.close();
    throw err;
  }
  const store = inspector.store;
  metrics.watchStore(() => store.stats());
  const started = inspector;
  return {
    inspector: started,
    applyConfig(next) {
      started.admin.setToken(serversAsRunning(config, next).inspector?.token);
    },
    drain() {
      draining = true;
    },
    async close() {
      hub.close();
      await started.close();
    },
  };
}
