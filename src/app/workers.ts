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

import cluster, { type Worker } from 'node:cluster';
import { writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import { type Output, reportError } from '../cli/args.ts';
import { waitForStopSignal } from '../cli/signals.ts';
import { loadConfigFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { watchConfig } from '../config/watch.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { formatAddress } from '../reverse/listener.ts';
import { loadConfigTls } from '../tls/config-tls.ts';
import { type RunningWsgate, startWsgate } from './app.ts';

/** Set in a worker's environment by the primary. */
export const WORKER_ENV = 'WSGATE_WORKER';

/** A new worker that does not listen within this long is killed; a start failure otherwise reports itself. */
const READY_TIMEOUT_MS = 60_000;
/** A stopping worker gets its grace period plus this much before SIGKILL. */
const KILL_MARGIN_MS = 5_000;
/** Restarts after a crash wait 100 ms, 200 ms, … up to 30 s; a worker that ran 10 s resets the sequence. */
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 30_000;
const STABLE_MS = 10_000;
/** A worker's output without a newline is held up to this much, then written as it is. */
const MAX_PARTIAL_LINE = 1024 * 1024;

type Address = { host: string; port: number };

type ToWorker =
  | { wsgate: 'start'; config: Config }
  | { wsgate: 'reload'; config: Config }
  | { wsgate: 'stop' }
  | { wsgate: 'bye' };

type FromWorker =
  | { wsgate: 'hello' }
  | { wsgate: 'stopped' }
  | { wsgate: 'ready'; listeners: [string, Address][]; echo: string | undefined }
  | { wsgate: 'failed'; text: string; exitCode: number };

type Started =
  | { ok: true; listeners: [string, Address][]; echo: string | undefined }
  | { ok: false; text: string; exitCode: number };

function isMessage<T extends { wsgate: string }>(m: unknown): m is T {
  return typeof m === 'object' && m !== null && typeof (m as { wsgate?: unknown }).wsgate === 'string';
}

/** `workers: auto` is one per core (os.availableParallelism, which honours CPU affinity). */
export function resolveWorkers(value: number | 'auto'): number {
  return value === 'auto' ? availableParallelism() : value;
}

/** Whether this process is a worker started by a wsgate primary. */
export function isWorkerProcess(): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] === '1';
}

// ---------------------------------------------------------------------------------------------------------------
// Worker

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
      if (isMessage<ToWorker>(m) && m.wsgate === 'bye') done();
    };
    const timer = setTimeout(done, 2000);
    process.on('message', onMessage);
    process.once('disconnect', done);
    tell({ wsgate: 'stopped' });
  });
}

/**
 * A worker: waits for its config from the primary, runs wsgate, applies reloads, and shuts down gracefully on the
 * primary's word, on SIGTERM, or when the primary is gone. Returns the exit code.
 */
export async function runWorker(): Promise<number> {
  const id = cluster.worker?.id ?? 0;
  // The primary decides: Ctrl-C reaches the whole process group, and SIGHUP means a rolling restart run by it.
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  // node:cluster makes a worker exit at once when the primary goes away; shut down gracefully instead.
  if (cluster.worker) cluster.worker.exitedAfterDisconnect = true;

  let running: RunningWsgate | undefined;
  let pending: Config | undefined;
  let onStart!: (config: Config | undefined) => void;
  let onStop!: (reason: string) => void;
  const started = new Promise<Config | undefined>((resolve) => {
    onStart = resolve;
  });
  const stop = new Promise<string>((resolve) => {
    onStop = resolve;
  });
  process.on('message', (m: unknown) => {
    if (!isMessage<ToWorker>(m)) return;
    if (m.wsgate === 'start') onStart(m.config);
    else if (m.wsgate === 'reload') {
      if (running) void running.reload(m.config);
      else pending = m.config;
    } else if (m.wsgate === 'stop') onStop('stop');
  });
  process.once('SIGTERM', () => onStop('SIGTERM'));
  process.once('disconnect', () => onStop('primary gone'));
  void stop.then(() => onStart(undefined));
  tell({ wsgate: 'hello' });

  const config = await started;
  if (config === undefined) return 0;
  const log = createLogger({ ...config.log, worker: id });
  try {
    running = await startWsgate(config, log);
  } catch (err) {
    // Printed once by the primary, not by every worker.
    const lines: string[] = [];
    const collect = (text: string) => void lines.push(text.replace(/\n$/, ''));
    const exitCode = reportError(err, { out: collect, err: collect });
    tell({ wsgate: 'failed', text: lines.join('\n'), exitCode });
    log.flush();
    await farewell();
    if (process.connected) process.disconnect();
    return exitCode;
  }
  if (pending) void running.reload(pending);
  pending = undefined;
  tell({ wsgate: 'ready', listeners: [...running.listeners], echo: running.echo?.url });

  const reason = await stop;
  log.info({ event: 'worker.stop', reason }, `worker ${id} stopping (${reason})`);
  await running.shutdown();
  log.flush();
  await farewell();
  if (process.connected) process.disconnect();
  // Nothing should be left, but a worker that has shut down must not linger on a forgotten handle.
  setTimeout(() => process.exit(0), 1000).unref();
  return 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Primary

export type PrimaryOptions = {
  /** The loaded config, command-line overrides applied. */
  config: Config;
  /** `--workers`, resolved; it wins over the config's `workers` on start and on every reload. */
  workers: number | undefined;
  /** The config file, re-read on SIGHUP and watched; undefined for --listen/--upstream/--forward. */
  file: string | undefined;
  /** Applies the command-line overrides to a re-read config. */
  prepare: (config: Config) => Config;
  io: Output;
};

type Managed = {
  readonly worker: Worker;
  readonly id: number;
  readonly pid: number;
  readonly startedAt: number;
  /** starting until it listens; stopping once it was told to stop (or failed to start). */
  state: 'starting' | 'ready' | 'stopping';
  /** Whether it has asked for its config: messages sent before could be missed. */
  hello: boolean;
  /** The grace period of the config it runs, which bounds its shutdown. */
  grace: number;
  /** SIGKILL for a worker that outlives its grace period once told to stop. */
  killTimer: NodeJS.Timeout | undefined;
  readonly started: Promise<Started>;
  readonly exited: Promise<void>;
};

/** Writes all of `data` to a file descriptor, synchronously like wsgate's own log lines; a closed stdout drops it. */
function writeAll(fd: number, data: Buffer): void {
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += writeSync(fd, data, offset);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

/** Copies a worker's stdout to ours in whole lines, so lines of different workers never interleave. */
export function forwardLines(from: Readable, write: (data: Buffer) => void): void {
  let rest: Buffer | undefined;
  from.on('data', (chunk: Buffer) => {
    const data = rest === undefined ? chunk : Buffer.concat([rest, chunk]);
    const end = data.lastIndexOf(0x0a);
    if (end === -1 && data.length < MAX_PARTIAL_LINE) {
      rest = data;
      return;
    }
    const cut = end === -1 ? data.length : end + 1;
    write(data.subarray(0, cut));
    rest = cut < data.length ? data.subarray(cut) : undefined;
  });
  from.on('end', () => {
    if (rest !== undefined) write(Buffer.concat([rest, Buffer.from('\n')]));
    rest = undefined;
  });
  from.on('error', () => {});
}

function describeExit(code: number | null, signal: string | null): string {
  return signal !== null ? `signal ${signal}` : `code ${code}`;
}

/**
 * The primary: starts the workers, announces the listeners, restarts crashed workers, runs rolling restarts on
 * SIGHUP and in-place reloads on file changes, and stops everything on SIGTERM/SIGINT. Returns the exit code.
 */
export async function runPrimary(options: PrimaryOptions): Promise<number> {
  const { io, file } = options;
  let config = options.config;
  const log: Logger = createLogger(config.log);
  const countOf = (c: Config) => options.workers ?? resolveWorkers(c.workers);
  let target = countOf(config);
  const workers = new Map<number, Managed>();
  /** Set once the first workers listen: from then on a crashed worker is replaced. */
  let up = false;
  let stopping = false;
  let rolling = false;
  let streak = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  // Rolling restarts, reloads and top-ups run one at a time, in order.
  let queue: Promise<void> = Promise.resolve();
  const serialize = (task: () => Promise<void>): Promise<void> => {
    const next = queue.then(task);
    queue = next.catch((err: unknown) => log.error({ event: 'workers.error', err }, String(err)));
    return queue;
  };

  // Must be set before the first fork; NODE_CLUSTER_SCHED_POLICY=none would leave the spread to the kernel.
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const pipeStdout = process.stdout.isTTY !== true;
  cluster.setupPrimary({
    serialization: 'advanced',
    stdio: ['ignore', pipeStdout ? 'pipe' : 'inherit', 'inherit', 'ipc'],
  });
  const killAll = () => {
    for (const m of workers.values()) {
      if (m.worker.process.exitCode === null && m.worker.process.signalCode === null) m.worker.process.kill('SIGKILL');
    }
  };
  // A second SIGINT/SIGTERM exits the primary at once (waitForStopSignal): take the workers along.
  process.on('exit', killAll);

  const send = (m: Managed, message: ToWorker) => {
    if (m.worker.isConnected()) m.worker.send(message, () => {});
  };
  const active = () => [...workers.values()].filter((m) => m.state !== 'stopping');

  function fork(): Managed {
    const worker = cluster.fork({ [WORKER_ENV]: '1' });
    const stdout = worker.process.stdout;
    if (pipeStdout && stdout) forwardLines(stdout, (data) => writeAll(1, data));
    let settle!: (s: Started) => void;
    const started = new Promise<Started>((resolve) => {
      settle = resolve;
    });
    let onExited!: () => void;
    const exited = new Promise<void>((resolve) => {
      onExited = resolve;
    });
    const m: Managed = {
      worker,
      id: worker.id,
      pid: worker.process.pid ?? 0,
      startedAt: Date.now(),
      state: 'starting',
      hello: false,
      grace: config.shutdown.grace,
      killTimer: undefined,
      started,
      exited,
    };
    workers.set(m.id, m);
    log.info({ event: 'worker.start', worker: m.id, workerPid: m.pid }, `starting worker ${m.id} (pid ${m.pid})`);
    const timer = setTimeout(() => {
      m.state = 'stopping';
      settle({
        ok: false,
        text: `wsgate: worker ${m.id} did not listen within ${READY_TIMEOUT_MS / 1000} s`,
        exitCode: 1,
      });
      worker.process.kill('SIGKILL');
    }, READY_TIMEOUT_MS);
    worker.on('error', (err) => log.warn({ event: 'worker.ipc_error', worker: m.id, err }, err.message));
    worker.on('message', (msg: unknown) => {
      if (!isMessage<FromWorker>(msg)) return;
      if (msg.wsgate === 'hello') {
        m.hello = true;
        // The config of the moment: a reload sent while it was loading would have been missed.
        m.grace = config.shutdown.grace;
        send(m, m.state === 'stopping' ? { wsgate: 'stop' } : { wsgate: 'start', config });
      } else if (msg.wsgate === 'ready') {
        clearTimeout(timer);
        if (m.state === 'starting') m.state = 'ready';
        log.info(
          { event: 'worker.ready', worker: m.id, workerPid: m.pid, startMs: Date.now() - m.startedAt },
          `worker ${m.id} (pid ${m.pid}) is listening`,
        );
        settle({ ok: true, listeners: msg.listeners, echo: msg.echo });
      } else if (msg.wsgate === 'stopped') {
        send(m, { wsgate: 'bye' });
      } else if (msg.wsgate === 'failed') {
        clearTimeout(timer);
        // It exits by itself; whoever started it decides what to do.
        m.state = 'stopping';
        settle({ ok: false, text: msg.text, exitCode: msg.exitCode });
      }
    });
    worker.on('exit', (code: number | null, signal: string | null) => {
      clearTimeout(timer);
      clearTimeout(m.killTimer);
      const wasReady = m.state === 'ready';
      const uptimeMs = Date.now() - m.startedAt;
      workers.delete(m.id);
      settle({
        ok: false,
        text: `wsgate: worker ${m.id} exited (${describeExit(code, signal)}) before it was listening`,
        exitCode: 1,
      });
      if (!wasReady) {
        log.info(
          { event: 'worker.exit', worker: m.id, workerPid: m.pid, code, signal, uptimeMs },
          `worker ${m.id} (pid ${m.pid}) exited (${describeExit(code, signal)})`,
        );
      } else {
        log.error(
          { event: 'worker.exit', worker: m.id, workerPid: m.pid, code, signal, uptimeMs, unexpected: true },
          `worker ${m.id} (pid ${m.pid}) exited unexpectedly (${describeExit(code, signal)})`,
        );
        if (up && !stopping) scheduleTopUp(uptimeMs);
      }
      onExited();
    });
    return m;
  }

  function stopWorker(m: Managed, reason: string): Promise<void> {
    if (m.state !== 'stopping') {
      m.state = 'stopping';
      log.info(
        { event: 'worker.stopping', worker: m.id, workerPid: m.pid, reason },
        `stopping worker ${m.id} (${reason})`,
      );
      if (m.hello) send(m, { wsgate: 'stop' });
    }
    m.killTimer ??= setTimeout(() => {
      log.warn(
        { event: 'worker.kill', worker: m.id, workerPid: m.pid },
        `worker ${m.id} did not stop within its grace period; killing it`,
      );
      m.worker.process.kill('SIGKILL');
    }, m.grace + KILL_MARGIN_MS);
    return m.exited;
  }

  function scheduleTopUp(uptimeMs: number): void {
    if (uptimeMs >= STABLE_MS) streak = 0;
    const delayMs = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** streak);
    streak += 1;
    log.warn({ event: 'worker.restart', delayMs, attempt: streak }, `starting a replacement worker in ${delayMs} ms`);
    if (restartTimer !== undefined) return;
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      void serialize(topUp);
    }, delayMs);
  }

  /** Starts workers until `target` run; a start failure is retried with the backoff. */
  async function topUp(): Promise<void> {
    if (stopping || rolling) return;
    const forks: Managed[] = [];
    for (let n = active().length; n < target; n++) forks.push(fork());
    for (const m of forks) {
      const s = await m.started;
      if (!s.ok && !stopping) {
        log.error({ event: 'worker.start_failed', worker: m.id, error: s.text }, s.text);
        scheduleTopUp(0);
      }
    }
  }

  /** SIGHUP: a new worker, then the old one stops; one at a time. The first failure stops the restart. */
  async function rollingRestart(next: Config): Promise<void> {
    const before = { config, target };
    config = next;
    target = countOf(next);
    const old = active();
    rolling = true;
    log.info(
      { event: 'workers.restart', from: old.length, to: target },
      `rolling restart: replacing ${old.length} workers one at a time`,
    );
    try {
      for (let i = 0; i < Math.max(old.length, target); i++) {
        if (stopping) return;
        if (i < target) {
          const m = fork();
          const s = await m.started;
          if (stopping) return;
          if (!s.ok) {
            // Replacements for crashed workers start from the config that is known to start.
            ({ config, target } = before);
            const left = old.filter((o) => workers.has(o.id) && o.state !== 'stopping').length;
            log.error(
              { event: 'workers.restart_failed', worker: m.id, error: s.text },
              `rolling restart stopped: new worker ${m.id} did not start; ${left} old workers keep running\n${s.text}`,
            );
            return;
          }
        }
        const previous = old[i];
        if (previous !== undefined && workers.has(previous.id)) void stopWorker(previous, 'rolling restart');
      }
      log.info({ event: 'workers.restarted', workers: target }, `rolling restart done: ${target} new workers`);
    } finally {
      rolling = false;
    }
    await topUp();
  }

  /**
   * Certificates and keys are read here too, as a worker would on start or reload: a config whose files are missing
   * or wrong is refused before any worker sees it, and later workers never start from it.
   */
  async function startable(next: Config): Promise<boolean> {
    try {
      await loadConfigTls(next);
      return true;
    } catch (err) {
      const e = err as { code?: string; message: string };
      log.error(
        { event: 'config.reload_failed', code: e.code, file },
        `config reload failed; keeping the running config and workers: ${e.message}`,
      );
      return false;
    }
  }

  /** A changed file: every worker reloads in place (connections stay); a changed count starts or stops workers. */
  async function reloadInPlace(next: Config): Promise<void> {
    if (!(await startable(next))) return;
    config = next;
    for (const m of workers.values()) {
      if (m.hello && m.state !== 'stopping') {
        m.grace = Math.max(m.grace, next.shutdown.grace);
        send(m, { wsgate: 'reload', config: next });
      }
    }
    const want = countOf(next);
    if (want === target) return;
    log.info({ event: 'workers.scale', from: target, to: want }, `workers: ${target} → ${want}`);
    target = want;
    for (const m of active().slice(want)) void stopWorker(m, 'fewer workers');
    await topUp();
  }

  // Start: every worker must listen, or none stays. The first starts alone, so what is created on first use (wsgate's
  // CA for TLS interception) is created once, and a config that cannot start fails in one process, not N.
  log.info({ event: 'workers.start', workers: target }, `starting ${target} workers`);
  const leader = await fork().started;
  const first = leader.ok
    ? [leader, ...(await Promise.all(Array.from({ length: target - 1 }, () => fork().started)))]
    : [leader];
  const failed = first.find((s) => !s.ok);
  if (failed !== undefined && !failed.ok) {
    stopping = true;
    await Promise.all([...workers.values()].map((m) => stopWorker(m, 'start failed')));
    process.off('exit', killAll);
    io.err(failed.text);
    return failed.exitCode;
  }
  up = true;

  let watcher: { close(): void } | undefined;
  if (file !== undefined) {
    watcher = watchConfig(file, {
      onReload: (next) => void serialize(() => reloadInPlace(options.prepare(next))),
      onError: (err) =>
        log.error(
          { event: 'config.reload_failed', code: err.code, file, issues: err.details },
          `config reload failed; keeping the running config:\n${err.message}`,
        ),
    });
  }
  let hangupQueued = false;
  const onHangup = () => {
    if (stopping || hangupQueued) return;
    hangupQueued = true;
    void serialize(async () => {
      hangupQueued = false;
      let next = config;
      if (file !== undefined) {
        try {
          next = options.prepare(await loadConfigFile(file));
        } catch (err) {
          const e = err as { code?: string; details?: unknown; message: string };
          log.error(
            { event: 'config.reload_failed', code: e.code, file, issues: e.details },
            `config reload failed; keeping the running config and workers:\n${e.message}`,
          );
          return;
        }
      }
      if (await startable(next)) await rollingRestart(next);
    });
  };
  process.on('SIGHUP', onHangup);

  const ready = first[0];
  if (ready?.ok) {
    io.err(
      [
        ...ready.listeners.map(([name, a]) => `wsgate: ${name} listening on ${a.host}:${a.port}`),
        ...(ready.echo !== undefined ? [`wsgate: echo server on ${ready.echo}`] : []),
        `wsgate: ${target} workers (pids ${[...workers.values()].map((m) => m.pid).join(', ')})`,
      ].join('\n'),
    );
    log.info(
      {
        event: 'workers.ready',
        workers: target,
        listeners: ready.listeners.map(([name, a]) => ({ name, address: formatAddress(a) })),
      },
      `${target} workers listening`,
    );
  }

  const signal = await waitForStopSignal();
  stopping = true;
  log.info({ event: 'signal', signal }, `received ${signal}; stopping ${workers.size} workers`);
  watcher?.close();
  clearTimeout(restartTimer);
  await Promise.all([...workers.values()].map((m) => stopWorker(m, signal)));
  log.info({ event: 'shutdown.done' }, 'all workers stopped');
  log.flush();
  process.off('SIGHUP', onHangup);
  process.off('exit', killAll);
  return 0;
}
