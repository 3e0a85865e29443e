// The workers of `wsgate run --workers N` as a set: how many should run and from which config; the first start (the
// first worker alone); replacing a worker that crashed, after a backoff; rolling restarts (a new worker, then an old
// one stops, one at a time) and in-place reloads. Changes run one at a time, in order. One worker's own life is
// managed-worker.ts; the process around the pool (signals, the config watcher, what is printed) is primary.ts.

import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { loadConfigFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { PoolServerRef } from '../inspector/upstreams-api.ts';
import type { Logger, LogLevel } from '../log/logger.ts';
import { loadConfigTls } from '../tls/config-tls.ts';
import { ManagedWorker, type Started } from './managed-worker.ts';
import { RestartBackoff } from './restart-backoff.ts';
import { warnRestartOnly } from './restart-only.ts';
import { applyLogSettings, configuredServers } from './start-up.ts';
import { type CheckedServer, type RuntimeState, WORKER_ENV } from './worker-ipc.ts';
import { forwardLines, writeAll } from './worker-output.ts';

/**
 * The config a worker runs. limits.maxHandshakesPerSecond is the listener's rate as a whole, and
 * maxHandshakesPerClientPerSecond a client's, whatever the number of workers: the primary spreads connections evenly
 * (round robin, a client's too), so each worker takes its share of them.
 */
export function workerConfig(config: Config, workers: number): Config {
  if (workers <= 1) return config;
  const { maxHandshakesPerSecond: rate, maxHandshakesPerClientPerSecond: perClient, maxConnections } = config.limits;
  const share = (n: number) => (n === 0 ? 0 : Math.max(1, Math.ceil(n / workers)));
  // maxConnections is the listener's too: the primary hands connections out in turn, so the shares fill evenly.
  // maxConnectionsPerClient stays whole in each worker: one client's connections need not land evenly.
  return {
    ...config,
    limits: {
      ...config.limits,
      maxHandshakesPerSecond: share(rate),
      maxHandshakesPerClientPerSecond: share(perClient),
      maxConnections: share(maxConnections),
    },
  };
}

/** `workers: auto` is one per core (os.availableParallelism, which honours CPU affinity). */
export function resolveWorkers(value: number | 'auto'): number {
  return value === 'auto' ? availableParallelism() : value;
}

export type WorkerPoolOptions = {
  /** The loaded config, command-line overrides applied. */
  config: Config;
  /** `--workers`, resolved; it wins over the config's `workers` on start and on every reload. */
  workers: number | undefined;
  /** The config file, re-read on a rolling restart; undefined for --listen/--upstream/--forward. */
  file: string | undefined;
  /** Applies the command-line overrides to a re-read config. */
  prepare: (config: Config) => Config;
  log: Logger;
  /** Each config the workers run from now on (the admin API in the primary takes its token from it). */
  onConfig?: ((config: Config) => void) | undefined;
};

export class WorkerPool {
  #options: WorkerPoolOptions;
  #log: Logger;
  #config: Config;
  /** How many workers should run. */
  #target: number;
  /** Every worker that has not exited, by cluster id. */
  #workers = new Map<number, ManagedWorker>();
  #pipeStdout: boolean;
  /** Set once the first workers listen: from then on a crashed worker is replaced. */
  #up = false;
  #stopping = false;
  /** A rolling restart forks its own replacements: top-ups wait until it is done. */
  #rolling = false;
  #backoff = new RestartBackoff();
  #restartTimer: NodeJS.Timeout | undefined;
  /** A SIGHUP that arrives while one waits in the queue adds nothing. */
  #restartQueued = false;
  #queue: Promise<void> = Promise.resolve();
  /** The admin API's changes, which a worker started later gets too. */
  #runtime: RuntimeState = { drained: [], checkedDown: [] };
  /** The worker that runs the active health checks; the others follow its word. */
  #checker: ManagedWorker | undefined;

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#config = options.config;
    this.#target = this.#countOf(options.config);
    // Must be set before the first fork; NODE_CLUSTER_SCHED_POLICY=none would leave the spread to the kernel.
    cluster.schedulingPolicy = cluster.SCHED_RR;
    this.#pipeStdout = process.stdout.isTTY !== true;
    cluster.setupPrimary({
      serialization: 'advanced',
      stdio: ['ignore', this.#pipeStdout ? 'pipe' : 'inherit', 'inherit', 'ipc'],
    });
  }

  get target(): number {
    return this.#target;
  }

  /** The workers that have not exited. */
  get workers(): ManagedWorker[] {
    return [...this.#workers.values()];
  }

  /** The config the workers run (the latest reload's, command-line overrides applied). */
  get config(): Config {
    return this.#config;
  }

  /** The admin API's PUT /api/log, for every worker, and for those started later until the next reload. */
  setLogLevel(level: LogLevel): void {
    this.#runtime.logLevel = level;
    for (const m of this.#workers.values()) m.setLogLevel(level);
  }

  /** The servers drained through the admin API, as [upstream, server]. */
  get drained(): readonly PoolServerRef[] {
    return this.#runtime.drained;
  }

  /** Drains exactly these servers in every worker, and in those started later. */
  setDrained(servers: readonly PoolServerRef[]): void {
    this.#runtime.drained = servers;
    for (const m of this.#workers.values()) m.setDrained(servers);
  }

  /** A new config: its log level applies again, and a server it no longer has is forgotten (as in a worker). */
  #applyConfig(next: Config): void {
    this.#config = next;
    this.#options.onConfig?.(next);
    const configured = configuredServers(next);
    // Checks start again from "in" everywhere after a reload, as in one process.
    this.#runtime = {
      drained: this.#runtime.drained.filter(([upstream, server]) => configured.has(`${upstream}\n${server}`)),
      checkedDown: [],
    };
  }

  /** One ready worker runs the health checks: the first to be ready, and another when it is gone. */
  #assignChecker(): void {
    if (this.#checker !== undefined && this.#checker.state !== 'exited') return;
    this.#checker = this.workers.find((m) => m.state === 'ready');
    this.#checker?.setHealthRole(true);
  }

  /** The checker's word on a server: kept for workers started later and passed on to the others. */
  #onChecked(from: ManagedWorker, checked: CheckedServer): void {
    const { upstream, server, down } = checked;
    const others = this.#runtime.checkedDown.filter(([u, s]) => u !== upstream || s !== server);
    this.#runtime = { ...this.#runtime, checkedDown: down ? [...others, [upstream, server]] : others };
    for (const m of this.#workers.values()) if (m !== from) m.sendChecked(checked);
  }

  /**
   * Starts `target` workers: every one must listen, or none stays. The first starts alone, so what is created on
   * first use (wsgate's CA for TLS interception) is created once, and a config that cannot start fails in one
   * process, not N. Returns the first worker's listeners, or the first failure once every worker has stopped.
   */
  async start(): Promise<Started> {
    this.#log.info({ event: 'workers.start', workers: this.#target }, `starting ${this.#target} workers`);
    const leader = await this.#fork().started;
    const first = leader.ok
      ? [leader, ...(await Promise.all(Array.from({ length: this.#target - 1 }, () => this.#fork().started)))]
      : [leader];
    const failed = first.find((s) => !s.ok);
    if (failed !== undefined) {
      this.#stopping = true;
      await Promise.all(this.workers.map((m) => m.stop('start failed')));
      return failed;
    }
    this.#up = true;
    return leader;
  }

  /** A changed file: every worker reloads in place (connections stay); a changed count starts or stops workers. */
  reload(next: Config): Promise<void> {
    return this.#serialize(() => this.#reloadInPlace(this.#options.prepare(next)));
  }

  /** SIGHUP: re-reads the file (if any) and replaces the workers one at a time. */
  restart(): void {
    if (this.#stopping || this.#restartQueued) return;
    this.#restartQueued = true;
    const file = this.#options.file;
    void this.#serialize(async () => {
      this.#restartQueued = false;
      let next = this.#config;
      if (file !== undefined) {
        try {
          next = this.#options.prepare(await loadConfigFile(file));
        } catch (err) {
          const e = err as { code?: string; details?: unknown; message: string };
          this.#log.error(
            { event: 'config.reload_failed', code: e.code, file, issues: e.details },
            `config reload failed; keeping the running config and workers:\n${e.message}`,
          );
          return;
        }
      }
      if (!(await this.#startable(next))) return;
      // The primary writes lines too (lifecycle, the admin API's): its log follows the file like the workers'.
      applyLogSettings(this.#log, next);
      await this.#rollingRestart(next);
    });
  }

  /** Stops every worker gracefully; nothing is replaced from now on. */
  async stop(reason: string): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    await Promise.all(this.workers.map((m) => m.stop(reason)));
  }

  /** SIGKILL to every worker, for a primary that exits at once (a second SIGINT/SIGTERM): take the workers along. */
  kill(): void {
    for (const m of this.#workers.values()) m.kill();
  }

  #countOf(config: Config): number {
    return this.#options.workers ?? resolveWorkers(config.workers);
  }

  #active(): ManagedWorker[] {
    return this.workers.filter((m) => m.active);
  }

  /** Rolling restarts, reloads and top-ups run one at a time, in order; a failure is logged, not thrown. */
  #serialize(task: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(task);
    this.#queue = next.catch((err: unknown) => this.#log.error({ event: 'workers.error', err }, String(err)));
    return this.#queue;
  }

  #fork(): ManagedWorker {
    const worker = cluster.fork({ [WORKER_ENV]: '1' });
    const stdout = worker.process.stdout;
    if (this.#pipeStdout && stdout) forwardLines(stdout, (data) => writeAll(1, data));
    const m = new ManagedWorker(worker, {
      log: this.#log,
      config: () => workerConfig(this.#config, this.#target),
      runtime: () => this.#runtime,
      onChecked: (from, checked) => this.#onChecked(from, checked),
      onExit: (exited, wasReady, uptimeMs) => {
        this.#workers.delete(exited.id);
        if (this.#checker === exited) {
          this.#checker = undefined;
          this.#assignChecker();
        }
        if (wasReady && this.#up && !this.#stopping) this.#scheduleTopUp(uptimeMs);
      },
    });
    this.#workers.set(m.id, m);
    void m.started.then((s) => {
      if (s.ok) this.#assignChecker();
    });
    return m;
  }

  #scheduleTopUp(uptimeMs: number): void {
    const { delayMs, attempt } = this.#backoff.next(uptimeMs);
    this.#log.warn({ event: 'worker.restart', delayMs, attempt }, `starting a replacement worker in ${delayMs} ms`);
    if (this.#restartTimer !== undefined) return;
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      void this.#serialize(() => this.#topUp());
    }, delayMs);
  }

  /** Starts workers until `target` run; a start failure is retried with the backoff. */
  async #topUp(): Promise<void> {
    if (this.#stopping || this.#rolling) return;
    const forks: ManagedWorker[] = [];
    for (let n = this.#active().length; n < this.#target; n++) forks.push(this.#fork());
    for (const m of forks) {
      const s = await m.started;
      if (!s.ok && !this.#stopping) {
        this.#log.error({ event: 'worker.start_failed', worker: m.id, error: s.text }, s.text);
        this.#scheduleTopUp(0);
      }
    }
  }

  /** A new worker, then an old one stops; one at a time. The first failure stops the restart. */
  async #rollingRestart(next: Config): Promise<void> {
    const before = { config: this.#config, target: this.#target };
    // New workers start the echo server where the file says; the admin API stays in this process as it started.
    warnRestartOnly(before.config, next, this.#log, { inspector: true, echo: false });
    this.#applyConfig(next);
    this.#target = this.#countOf(next);
    const old = this.#active();
    this.#rolling = true;
    this.#log.info(
      { event: 'workers.restart', from: old.length, to: this.#target },
      `rolling restart: replacing ${old.length} workers one at a time`,
    );
    try {
      for (let i = 0; i < Math.max(old.length, this.#target); i++) {
        if (this.#stopping) return;
        if (i < this.#target) {
          const m = this.#fork();
          const s = await m.started;
          if (this.#stopping) return;
          if (!s.ok) {
            // Replacements for crashed workers start from the config that is known to start.
            this.#config = before.config;
            this.#options.onConfig?.(before.config);
            this.#target = before.target;
            const left = old.filter((o) => o.active).length;
            this.#log.error(
              { event: 'workers.restart_failed', worker: m.id, error: s.text },
              `rolling restart stopped: new worker ${m.id} did not start; ${left} old workers keep running\n${s.text}`,
            );
            return;
          }
        }
        const previous = old[i];
        if (previous !== undefined && previous.state !== 'exited') void previous.stop('rolling restart');
      }
      this.#log.info(
        { event: 'workers.restarted', workers: this.#target },
        `rolling restart done: ${this.#target} new workers`,
      );
    } finally {
      this.#rolling = false;
    }
    await this.#topUp();
  }

  /**
   * Certificates and keys are read here too, as a worker would on start or reload: a config whose files are missing
   * or wrong is refused before any worker sees it, and later workers never start from it.
   */
  async #startable(next: Config): Promise<boolean> {
    try {
      await loadConfigTls(next);
      return true;
    } catch (err) {
      const e = err as { code?: string; message: string };
      this.#log.error(
        { event: 'config.reload_failed', code: e.code, file: this.#options.file },
        `config reload failed; keeping the running config and workers: ${e.message}`,
      );
      return false;
    }
  }

  /**
   * Every worker applies the config, or none keeps it: one that refuses it (a listener that cannot bind there) has
   * said why in its own line, and the others go back to the running config, so workers never serve two configs and
   * replacements start from the one that runs.
   */
  async #reloadInPlace(next: Config): Promise<void> {
    if (!(await this.#startable(next))) return;
    const want = this.#countOf(next);
    const from = this.#target;
    // With the new count: a worker's share of the listener's handshake rate depends on it (workerConfig).
    const members = [...this.#workers.values()];
    const applied = await Promise.all(members.map((m) => m.reload(workerConfig(next, want))));
    if (applied.includes(false)) {
      members.forEach((m, i) => {
        if (applied[i]) void m.reload(workerConfig(this.#config, from));
      });
      this.#log.error(
        { event: 'config.reload_failed', code: 'WSG_WORKER_RELOAD_REFUSED', file: this.#options.file },
        `config reload failed: ${applied.filter((ok) => !ok).length} of ${members.length} workers could not apply it (their lines say why); every worker keeps the running config`,
      );
      return;
    }
    // The workers keep their echo server through a reload in place (app/restart-only.ts): so do later ones.
    this.#applyConfig({ ...next, echo: this.#config.echo });
    // One forked while the others answered may have had the old config at its hello: it gets this one now.
    for (const m of this.#workers.values()) if (!members.includes(m)) void m.reload(workerConfig(next, want));
    applyLogSettings(this.#log, next);
    this.#target = want;
    if (want === from) return;
    this.#log.info({ event: 'workers.scale', from, to: want }, `workers: ${from} → ${want}`);
    for (const m of this.#active().slice(want)) void m.stop('fewer workers');
    await this.#topUp();
  }
}
