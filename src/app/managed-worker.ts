// One worker process as the primary sees it, from fork to exit: its state, the readiness timeout, the SIGKILL for a
// worker that outlives its grace period once told to stop, and the primary's half of the IPC conversation
// (worker-ipc.ts). What to do when a worker exits, and how many should run, is the pool's (worker-pool.ts).

import type { Worker } from 'node:cluster';
import type { Config } from '../config/schema.ts';
import type { PoolServerRef } from '../inspector/upstreams-api.ts';
import type { Logger, LogLevel } from '../log/logger.ts';
import {
  type CheckedServer,
  isFromWorker,
  type ListenerAddress,
  type RuntimeState,
  type ToWorker,
} from './worker-ipc.ts';

/** A new worker that does not listen within this long is killed; a start failure otherwise reports itself. */
const READY_TIMEOUT_MS = 60_000;
/** A reload reads certificates and PAC scripts (fetched ones have their own timeout) and binds; longer is lost. */
const RELOAD_TIMEOUT_MS = 60_000;
/** A stopping worker gets its grace period plus this much before SIGKILL. */
const KILL_MARGIN_MS = 5_000;

/**
 * - `forked`: has not said hello, so a message sent now could be missed; it gets its config (or its stop) at hello.
 * - `starting`: has its config and gets reloads; not listening yet.
 * - `ready`: listening. Only a ready worker's exit is a crash that the pool replaces.
 * - `stopping`: told to stop, failed to start, or did not listen in time; no longer counted toward the target.
 * - `exited`: the process is gone.
 */
export type WorkerState = 'forked' | 'starting' | 'ready' | 'stopping' | 'exited';

/** How a worker's start ended: its listeners, or why it did not listen (printed as it is). */
export type Started =
  | { ok: true; listeners: [string, ListenerAddress][]; echo: string | undefined }
  | { ok: false; text: string; exitCode: number };

export type ManagedWorkerOptions = {
  log: Logger;
  /** The config of the moment: what the worker is given when it says hello. */
  config: () => Config;
  /** The admin API's changes of the moment (log level, drained servers): given with the config. */
  runtime: () => RuntimeState;
  /** The checking worker's word on a server, for the pool to pass on. */
  onChecked: (worker: ManagedWorker, checked: CheckedServer) => void;
  /** Once the process has exited; `wasReady` tells a crash from an exit that was asked for or a failed start. */
  onExit: (worker: ManagedWorker, wasReady: boolean, uptimeMs: number) => void;
};

function describeExit(code: number | null, signal: string | null): string {
  return signal !== null ? `signal ${signal}` : `code ${code}`;
}

export class ManagedWorker {
  readonly id: number;
  readonly pid: number;
  readonly startedAt = Date.now();
  /** Settles once, when it listens or cannot. */
  readonly started: Promise<Started>;
  readonly exited: Promise<void>;
  #worker: Worker;
  #log: Logger;
  #options: ManagedWorkerOptions;
  #state: WorkerState = 'forked';
  /** The grace period of the config it runs, which bounds its shutdown. */
  #grace: number;
  #readyTimer: NodeJS.Timeout;
  #lastReload = 0;
  /** Reloads sent and not answered yet, by id. */
  readonly #reloads = new Map<number, (ok: boolean) => void>();
  #killTimer: NodeJS.Timeout | undefined;
  #settle!: (started: Started) => void;
  #onExited!: () => void;

  constructor(worker: Worker, options: ManagedWorkerOptions) {
    this.#worker = worker;
    this.#options = options;
    this.#log = options.log;
    this.id = worker.id;
    this.pid = worker.process.pid ?? 0;
    this.#grace = options.config().shutdown.grace;
    this.started = new Promise<Started>((resolve) => {
      this.#settle = resolve;
    });
    this.exited = new Promise<void>((resolve) => {
      this.#onExited = resolve;
    });
    this.#log.info(
      { event: 'worker.start', worker: this.id, workerPid: this.pid },
      `starting worker ${this.id} (pid ${this.pid})`,
    );
    this.#readyTimer = setTimeout(() => this.#notReadyInTime(), READY_TIMEOUT_MS);
    worker.on('error', (err) => this.#log.warn({ event: 'worker.ipc_error', worker: this.id, err }, err.message));
    worker.on('message', (message: unknown) => this.#onMessage(message));
    worker.on('exit', (code: number | null, signal: string | null) => this.#onProcessExit(code, signal));
  }

  get state(): WorkerState {
    return this.#state;
  }

  /** Counted toward the number of workers that should run: neither on its way out nor gone. */
  get active(): boolean {
    return this.#state !== 'stopping' && this.#state !== 'exited';
  }

  /**
   * Applies a config in place: true once the worker runs it, false when it refused it (its log says why) or did not
   * answer in time. One that has not said hello is skipped (true): it gets the config of the moment then; so is one
   * that exits meanwhile.
   */
  reload(config: Config): Promise<boolean> {
    if (this.#state !== 'starting' && this.#state !== 'ready') return Promise.resolve(true);
    // Its connections may still run under the old grace period, so the longer one bounds its shutdown.
    this.#grace = Math.max(this.#grace, config.shutdown.grace);
    const id = ++this.#lastReload;
    this.#send({ wsgate: 'reload', config, id });
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => this.#answerReload(id, false), RELOAD_TIMEOUT_MS);
      this.#reloads.set(id, (ok) => {
        clearTimeout(timer);
        resolve(ok);
      });
    });
  }

  #answerReload(id: number, ok: boolean): void {
    const answer = this.#reloads.get(id);
    this.#reloads.delete(id);
    answer?.(ok);
  }

  /** The admin API's PUT /api/log. One that has not said hello gets it with its config (runtime). */
  setLogLevel(level: LogLevel): void {
    if (this.#state === 'starting' || this.#state === 'ready') this.#send({ wsgate: 'log-level', level });
  }

  /** The admin API's drained servers, the whole list. One that has not said hello gets it with its config. */
  setDrained(servers: readonly PoolServerRef[]): void {
    if (this.#state === 'starting' || this.#state === 'ready') this.#send({ wsgate: 'drained', servers });
  }

  /** Gives it the active health checks to run, or takes them away. */
  setHealthRole(run: boolean): void {
    if (this.#state === 'starting' || this.#state === 'ready') this.#send({ wsgate: 'health-role', run });
  }

  /** Passes on the checking worker's word on a server. */
  sendChecked(checked: CheckedServer): void {
    if (this.#state === 'starting' || this.#state === 'ready') this.#send({ wsgate: 'checked', ...checked });
  }

  /** Asks it to shut down gracefully, with a SIGKILL once its grace period (plus a margin) is over. */
  stop(reason: string): Promise<void> {
    if (this.#state === 'exited') return this.exited;
    if (this.#state !== 'stopping') {
      const listening = this.#state !== 'forked';
      this.#state = 'stopping';
      this.#log.info(
        { event: 'worker.stopping', worker: this.id, workerPid: this.pid, reason },
        `stopping worker ${this.id} (${reason})`,
      );
      if (listening) this.#send({ wsgate: 'stop' });
    }
    this.#killTimer ??= setTimeout(() => {
      this.#log.warn(
        { event: 'worker.kill', worker: this.id, workerPid: this.pid },
        `worker ${this.id} did not stop within its grace period; killing it`,
      );
      this.#worker.process.kill('SIGKILL');
    }, this.#grace + KILL_MARGIN_MS);
    return this.exited;
  }

  /** Passes a signal on (SIGUSR1: reopen the log files), unless it has exited. */
  signal(signal: NodeJS.Signals): void {
    const child = this.#worker.process;
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  }

  /** SIGKILL at once, for a primary that is exiting itself. */
  kill(): void {
    const child = this.#worker.process;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  #send(message: ToWorker): void {
    if (this.#worker.isConnected()) this.#worker.send(message, () => {});
  }

  #onMessage(message: unknown): void {
    if (!isFromWorker(message)) return;
    switch (message.wsgate) {
      case 'hello': {
        // The config of the moment: a reload sent while it was loading would have been missed.
        const config = this.#options.config();
        this.#grace = config.shutdown.grace;
        if (this.#state === 'forked') {
          this.#state = 'starting';
          this.#send({ wsgate: 'start', config, runtime: this.#options.runtime() });
        } else if (this.#state === 'stopping') {
          this.#send({ wsgate: 'stop' });
        }
        break;
      }
      case 'ready':
        clearTimeout(this.#readyTimer);
        if (this.#state === 'starting') this.#state = 'ready';
        this.#log.info(
          { event: 'worker.ready', worker: this.id, workerPid: this.pid, startMs: Date.now() - this.startedAt },
          `worker ${this.id} (pid ${this.pid}) is listening`,
        );
        this.#settle({ ok: true, listeners: message.listeners, echo: message.echo });
        break;
      case 'stopped':
        this.#send({ wsgate: 'bye' });
        break;
      case 'reloaded':
        this.#answerReload(message.id, message.ok);
        break;
      case 'checked':
        this.#options.onChecked(this, { upstream: message.upstream, server: message.server, down: message.down });
        break;
      case 'failed':
        clearTimeout(this.#readyTimer);
        // It exits by itself; whoever started it decides what to do.
        this.#state = 'stopping';
        this.#settle({ ok: false, text: message.text, exitCode: message.exitCode });
        break;
    }
  }

  #notReadyInTime(): void {
    this.#state = 'stopping';
    this.#settle({
      ok: false,
      text: `wsgate: worker ${this.id} did not listen within ${READY_TIMEOUT_MS / 1000} s`,
      exitCode: 1,
    });
    this.#worker.process.kill('SIGKILL');
  }

  #onProcessExit(code: number | null, signal: string | null): void {
    clearTimeout(this.#readyTimer);
    // A worker that is gone runs no config: it holds no reload back.
    for (const id of [...this.#reloads.keys()]) this.#answerReload(id, true);
    clearTimeout(this.#killTimer);
    const wasReady = this.#state === 'ready';
    this.#state = 'exited';
    const uptimeMs = Date.now() - this.startedAt;
    // A no-op for a worker that started; the answer for one that died on the way.
    this.#settle({
      ok: false,
      text: `wsgate: worker ${this.id} exited (${describeExit(code, signal)}) before it was listening`,
      exitCode: 1,
    });
    const fields = { event: 'worker.exit', worker: this.id, workerPid: this.pid, code, signal, uptimeMs };
    if (wasReady) {
      this.#log.error(
        { ...fields, unexpected: true },
        `worker ${this.id} (pid ${this.pid}) exited unexpectedly (${describeExit(code, signal)})`,
      );
    } else {
      this.#log.info(fields, `worker ${this.id} (pid ${this.pid}) exited (${describeExit(code, signal)})`);
    }
    this.#options.onExit(this, wasReady, uptimeMs);
    this.#onExited();
  }
}
