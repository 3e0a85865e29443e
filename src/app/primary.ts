// `wsgate run --workers N`: a primary process and N worker processes, each running startWsgate with the same config.
//
// Sharing the listeners: node:cluster in round-robin mode. The primary owns every listening socket (reverse, forward,
// echo: whatever a worker listens on), accepts, and hands each connection to the next worker in turn over IPC. Chosen
// over SO_REUSEPORT because: every listener is shared without touching the listener code, port 0 included (every
// worker gets the primary's one port); during a rolling restart the listening socket never closes, as a worker that
// stops accepting only leaves the rotation (closing one of several reusePort sockets resets the connections waiting in
// its accept queue unless net.ipv4.tcp_migrate_req=1, which is off by default); and the spread is even rather than a
// hash of the client's address and port. The cost is one IPC hand-off per accepted connection, nothing per byte.
//
// Logs: every line of a worker carries `worker` (its cluster id; a replaced worker gets a new one). When stdout is not
// a terminal, a worker's stdout is a pipe to the primary, which writes only whole lines to its own stdout, so lines of
// any length never interleave (a pipe keeps a write whole only up to PIPE_BUF, 4 KiB). On a terminal the workers
// write to it directly. Files (log.file, log.traffic) are opened by each worker in append mode: each write(2) holds
// whole lines and O_APPEND writes do not interleave.
//
// Signals go to the primary. SIGHUP re-reads the config and replaces the workers one at a time: a new worker starts,
// and once it listens the old one shuts down as on SIGTERM (stops accepting; WebSockets get Close 1001; at most
// shutdown.grace). A changed file is applied in place by every worker, as without workers. SIGTERM/SIGINT stop all
// workers gracefully. A worker that exits on its own is started again after a backoff.
//
// The pieces: primary.ts (this process: signals, the config watcher, what is printed), worker-pool.ts (the set of
// workers: start, crash restart, rolling restart, reload), restart-backoff.ts (the delays), managed-worker.ts (one
// worker's state from fork to exit), worker-ipc.ts (the messages), worker.ts (the worker process), worker-output.ts
// (whole lines).

import type { Config } from '../config/schema.ts';
import { watchConfig } from '../config/watch.ts';
import { createLogger } from '../log/logger.ts';
import { formatHostPort } from '../net/host-port.ts';
import { startMemoryReclaimer } from './memory-reclaimer.ts';
import type { PrimaryAdmin } from './primary-admin.ts';
import { reopenLogsOnSignal, waitForStopSignal } from './signals.ts';
import { WorkerPool } from './worker-pool.ts';

export type PrimaryOptions = {
  /** The loaded config, command-line overrides applied. */
  config: Config;
  /** `--workers`, resolved; it wins over the config's `workers` on start and on every reload. */
  workers: number | undefined;
  /** The config file, re-read on SIGHUP and watched; undefined for --listen/--upstream/--forward. */
  file: string | undefined;
  /** The text `config` was loaded from: the watcher reloads only once the file differs from it. */
  loadedText?: string | undefined;
  /** Applies the command-line overrides to a re-read config. */
  prepare: (config: Config) => Config;
  /** Where a person reads the listeners, or why wsgate did not start (the CLI's stderr). */
  io: { err: (text: string) => void };
};

/**
 * The primary: starts the workers, announces the listeners, restarts crashed workers, runs rolling restarts on
 * SIGHUP and in-place reloads on file changes, and stops everything on SIGTERM/SIGINT. Returns the exit code.
 */
export async function runPrimary(options: PrimaryOptions): Promise<number> {
  const { io, file } = options;
  const log = createLogger(options.config.log);
  // The primary copies every worker's log lines and feeds the admin API's store: after a burst it holds garbage too.
  startMemoryReclaimer({ onReclaim: (r) => log.debug({ event: 'memory.reclaimed', ...r }, 'memory reclaimed') });
  const pool = new WorkerPool({
    config: options.config,
    workers: options.workers,
    file,
    prepare: options.prepare,
    log,
    onConfig: (next) => admin?.applyConfig(next),
  });
  const killAll = () => pool.kill();
  // A second SIGINT/SIGTERM exits the primary at once (waitForStopSignal): take the workers along.
  process.on('exit', killAll);

  // Listen for SIGTERM/SIGINT before the workers start, so a signal during start-up stops them gracefully.
  const stopSignal = waitForStopSignal();
  // Each worker writes the log files too: it reopens its own.
  const stopReopening = reopenLogsOnSignal(log, () => {
    for (const worker of pool.workers) worker.signal('SIGUSR1');
  });
  // The admin API (with `inspector`) is the primary's, for every worker; it binds first, so a port in use stops
  // the start before any worker runs.
  let admin: PrimaryAdmin | undefined;
  try {
    // The admin API's modules (prom-client among them) load only when the config has one.
    if (options.config.inspector !== undefined) {
      const { startPrimaryAdmin } = await import('./primary-admin.ts');
      admin = await startPrimaryAdmin({
        config: options.config,
        pool,
        log,
        listeners: options.config.listeners.map((l) => l.name),
        reload: file === undefined ? undefined : async () => pool.restart(),
      });
    }
  } catch (err) {
    process.off('exit', killAll);
    io.err(`wsgate: ${(err as Error).message}`);
    return (err as { exitCode?: number }).exitCode ?? 1;
  }
  const ready = await pool.start();
  if (!ready.ok) {
    process.off('exit', killAll);
    await admin?.close();
    io.err(ready.text);
    return ready.exitCode;
  }

  let watcher: { close(): void } | undefined;
  if (file !== undefined) {
    watcher = watchConfig(file, {
      loadedText: options.loadedText,
      onReload: (next) => void pool.reload(next),
      onError: (err) =>
        log.error(
          { event: 'config.reload_failed', code: err.code, file, issues: err.details },
          `config reload failed; keeping the running config:\n${err.message}`,
        ),
    });
  }
  const onHangup = () => pool.restart();
  process.on('SIGHUP', onHangup);

  io.err(
    [
      ...ready.listeners.map(([name, a]) => `wsgate: ${name} listening on ${formatHostPort(a.host, a.port)}`),
      ...(ready.echo !== undefined ? [`wsgate: echo server on ${ready.echo}`] : []),
      `wsgate: ${pool.target} workers (pids ${pool.workers.map((m) => m.pid).join(', ')})`,
      ...(admin !== undefined ? [`wsgate: inspector on ${admin.inspector.admin.url}/ (every worker)`] : []),
    ].join('\n'),
  );
  log.info(
    {
      event: 'workers.ready',
      workers: pool.target,
      listeners: ready.listeners.map(([name, a]) => ({ name, address: formatHostPort(a.host, a.port) })),
    },
    `${pool.target} workers listening`,
  );

  const signal = await stopSignal;
  log.info({ event: 'signal', signal }, `received ${signal}; stopping ${pool.workers.length} workers`);
  watcher?.close();
  admin?.drain();
  await pool.stop(signal);
  await admin?.close();
  log.info({ event: 'shutdown.done' }, 'all workers stopped');
  log.flush();
  process.off('SIGHUP', onHangup);
  process.off('exit', killAll);
  stopReopening();
  return 0;
}
