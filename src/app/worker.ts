// One worker process of `wsgate run --workers N`: it waits for its config from the primary, runs wsgate, applies
// reloads, and shuts down gracefully on the primary's word, on SIGTERM, or when the primary is gone. The primary
// side is primary.ts; what they say to each other is worker-ipc.ts.

import cluster from 'node:cluster';
import type { Config } from '../config/schema.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { type RunningWsgate, startWsgate } from './app.ts';
import { startMemoryReclaimer } from './memory-reclaimer.ts';
import { reopenLogsOnSignal } from './signals.ts';
import { setLogLevel } from './start-up.ts';
import { WorkerBridge } from './worker-bridge.ts';
import { type FromWorker, isToWorker, type RuntimeState, WORKER_ENV } from './worker-ipc.ts';

/** Where a report for a person is written: the CLI's own stdout/stderr pair has this shape. */
export type TextOutput = { out: (text: string) => void; err: (text: string) => void };

export type WorkerOptions = {
  /**
   * Writes a start failure for a person and returns its exit code. The CLI's, passed in so the primary prints the
   * failure exactly as `wsgate run` without workers would, and so app/ does not reach up into cli/.
   */
  reportError: (err: unknown, io: TextOutput) => number;
};

/** Whether this process is a worker started by a wsgate primary. */
export function isWorkerProcess(): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] === '1';
}

function tell(message: FromWorker): void {
  if (process.connected) process.send?.(message, undefined, {}, () => {});
}

/**
 * The last exchange before a worker leaves. The primary may have handed this worker connections before it learned
 * that its listeners closed; node:cluster sends those back to the primary, but only while the worker is connected
 * (a worker that disconnects first strands them: the client waits forever). The primary handles this worker's
 * "listener closed" messages before its "stopped", so by the time its "bye" arrives every such hand-off has been
 * answered.
 */
async function farewell(): Promise<void> {
  if (!process.connected) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      process.off('message', onMessage);
      process.off('disconnect', done);
      resolve();
    };
    const onMessage = (m: unknown) => {
      if (isToWorker(m) && m.wsgate === 'bye') done();
    };
    const timer = setTimeout(done, 2000);
    process.on('message', onMessage);
    process.once('disconnect', done);
    tell({ wsgate: 'stopped' });
  });
}

/** Runs this process as a worker until it is told to stop. Returns the exit code. */
export async function runWorker(options: WorkerOptions): Promise<number> {
  const id = cluster.worker?.id ?? 0;
  // The primary decides: Ctrl-C reaches the whole process group, and SIGHUP means a rolling restart run by it.
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  // Until its log exists (below), a SIGUSR1 has nothing to reopen; a listener keeps Node's debugger from starting.
  process.on('SIGUSR1', () => {});
  // node:cluster makes a worker exit at once when the primary goes away; shut down gracefully instead.
  if (cluster.worker) cluster.worker.exitedAfterDisconnect = true;

  let running: RunningWsgate | undefined;
  let pending: Config | undefined;
  // What the admin API changed (log level, drained servers): given with the config, or arriving before the app runs;
  // applied as it starts.
  let runtime: RuntimeState = { drained: [], checkedDown: [] };
  // The health checks' role, given once the worker is ready (one worker checks; the others follow its word).
  let checker = false;
  let log: Logger | undefined;
  // With `inspector`, the admin API runs in the primary: events, scrapes and send/close go through the bridge.
  let bridge: WorkerBridge | undefined;
  let onStart!: (config: Config | undefined) => void;
  let onStop!: (reason: string) => void;
  const started = new Promise<Config | undefined>((resolve) => {
    onStart = resolve;
  });
  const stop = new Promise<string>((resolve) => {
    onStop = resolve;
  });
  process.on('message', (m: unknown) => {
    if (!isToWorker(m)) return;
    if (bridge?.handle(m)) return;
    if (m.wsgate === 'start') {
      runtime = m.runtime;
      onStart(m.config);
    } else if (m.wsgate === 'reload') {
      // Not running yet: it applies the config once it listens (a failure then is its own reload_failed line).
      if (running) void running.reload(m.config).then((ok) => tell({ wsgate: 'reloaded', id: m.id, ok }));
      else {
        pending = m.config;
        tell({ wsgate: 'reloaded', id: m.id, ok: true });
      }
    } else if (m.wsgate === 'log-level') {
      if (log !== undefined) setLogLevel(log, m.level);
      else runtime = { ...runtime, logLevel: m.level };
    } else if (m.wsgate === 'drained') {
      if (running) running.setDrained(m.servers);
      else runtime = { ...runtime, drained: m.servers };
    } else if (m.wsgate === 'health-role') {
      checker = m.run;
      running?.setHealthChecks(m.run);
    } else if (m.wsgate === 'checked') {
      if (running) running.setCheckedDown(m.upstream, m.server, m.down);
      else {
        const others = runtime.checkedDown.filter(([u, s]) => u !== m.upstream || s !== m.server);
        runtime = { ...runtime, checkedDown: m.down ? [...others, [m.upstream, m.server]] : others };
      }
    } else if (m.wsgate === 'stop') onStop('stop');
  });
  process.once('SIGTERM', () => onStop('SIGTERM'));
  process.once('disconnect', () => onStop('primary gone'));
  void stop.then(() => onStart(undefined));
  tell({ wsgate: 'hello' });

  const config = await started;
  if (config === undefined) return 0;
  log = createLogger({ ...config.log, worker: id });
  if (runtime.logLevel !== undefined) setLogLevel(log, runtime.logLevel);
  // From the primary, or from a `kill -USR1` sent to every wsgate process: each reopens its own files.
  reopenLogsOnSignal(log);
  if (config.inspector !== undefined) {
    bridge = new WorkerBridge((message, done) => {
      if (process.connected) process.send?.(message, undefined, {}, (err) => done(err));
      else done(null);
    });
  }
  try {
    running = await startWsgate(config, log, {
      admin: false,
      events: bridge,
      drained: runtime.drained,
      healthChecks: {
        run: checker,
        onChange: (upstream, server, down) => tell({ wsgate: 'checked', upstream, server, down }),
        down: runtime.checkedDown,
      },
    });
  } catch (err) {
    // Printed once by the primary, not by every worker.
    const lines: string[] = [];
    const collect = (text: string) => void lines.push(text.replace(/\n$/, ''));
    const exitCode = options.reportError(err, { out: collect, err: collect });
    tell({ wsgate: 'failed', text: lines.join('\n'), exitCode });
    log.flush();
    await farewell();
    if (process.connected) process.disconnect();
    return exitCode;
  }
  bridge?.attach(running);
  // Changes that arrived while it was starting.
  running.setDrained(runtime.drained);
  running.setHealthChecks(checker);
  startMemoryReclaimer({ onReclaim: (r) => log.debug({ event: 'memory.reclaimed', ...r }, 'memory reclaimed') });
  if (pending) void running.reload(pending);
  pending = undefined;
  tell({ wsgate: 'ready', listeners: [...running.listeners], echo: running.echo?.url });

  const reason = await stop;
  log.info({ event: 'worker.stop', reason }, `worker ${id} stopping (${reason})`);
  await running.shutdown();
  bridge?.close();
  log.flush();
  await farewell();
  if (process.connected) process.disconnect();
  // Nothing should be left, but a worker that has shut down must not linger on a forgotten handle.
  setTimeout(() => process.exit(0), 1000).unref();
  return 0;
}
