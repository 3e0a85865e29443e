// The primary's half of the admin API under `--workers N` (the worker's half is worker-bridge.ts): it takes every
// worker's WebSocket events for the primary's traffic store, merges every worker's metrics into one /metrics (the
// primary's own registry included) with prom-client's aggregation, and routes send and close to the worker that
// holds the connection. A connection id names its worker ("w2-1a" is worker 2's: front/conn-id.ts), so no table
// of connections is kept here. A worker that does not answer a scrape in time is left out of that scrape and
// counted, rather than failing it; a control order to a worker that is gone or silent is answered as not live.
import cluster, { type Worker } from 'node:cluster';
import type { WsEvent } from '../events.ts';
import { aggregateMetrics, type WsgateMetrics } from '../inspector/metrics.ts';
import type { ServerSnapshot } from '../upstream/balancer.ts';
import type { ControlAnswer, ControlOrder, FromWorker, ToWorker } from './worker-ipc.ts';
import { isFromWorker } from './worker-ipc.ts';

/** How long a scrape waits for the workers. */
export const SCRAPE_TIMEOUT_MS = 2000;
/** How long a send or close waits for the worker's answer. */
export const CONTROL_TIMEOUT_MS = 5000;

/** The cluster worker id in a connection id made by a worker ("w2-1a" → 2); undefined for a primary's own. */
export function workerOfConn(conn: string): number | undefined {
  const match = /^[a-z]+(\d+)-/.exec(conn);
  return match === null ? undefined : Number(match[1]);
}

export type WorkerHubOptions = {
  /** Where the workers' events go: the primary's traffic store. */
  ingest(event: WsEvent): void;
  /** The primary's own metrics (process metrics, the hub's counters); merged into every scrape. */
  metrics: WsgateMetrics;
  /** The workers to scrape: those that listen now. */
  workers(): Worker[];
};

type Waiting<T> = { resolve: (value: T) => void; timer: NodeJS.Timeout };

export class WorkerHub {
  #options: WorkerHubOptions;
  #next = 0;
  #scrapes = new Map<number, Waiting<unknown[]>>();
  #controls = new Map<number, Waiting<ControlAnswer>>();
  #servers = new Map<number, Waiting<ServerSnapshot[] | undefined>>();
  #closes = new Map<number, Waiting<number>>();
  /** Events each worker reported dropped (cumulative, per worker id). */
  #dropped = new Map<number, number>();
  #missedScrapes = 0;
  #onMessage = (worker: Worker, message: unknown) => this.#receive(worker, message);

  constructor(options: WorkerHubOptions) {
    this.#options = options;
    cluster.on('message', this.#onMessage);
    options.metrics.addCounter('workers_scrape_missed_total', {
      help: 'Worker registries left out of a /metrics answer because the worker did not answer within 2 s.',
      read: () => this.#missedScrapes,
    });
  }

  /** Events the workers dropped because this process fell behind (as they last reported). */
  get droppedEvents(): number {
    let sum = 0;
    for (const n of this.#dropped.values()) sum += n;
    return sum;
  }

  close(): void {
    cluster.off('message', this.#onMessage);
    for (const w of this.#scrapes.values()) {
      clearTimeout(w.timer);
      w.resolve([]);
    }
    for (const w of this.#controls.values()) {
      clearTimeout(w.timer);
      w.resolve({ ok: false, reason: 'wsgate is stopping' });
    }
    for (const w of this.#servers.values()) {
      clearTimeout(w.timer);
      w.resolve(undefined);
    }
    for (const w of this.#closes.values()) {
      clearTimeout(w.timer);
      w.resolve(0);
    }
    this.#closes.clear();
    this.#scrapes.clear();
    this.#controls.clear();
    this.#servers.clear();
  }

  /** One exposition for every worker that answers in time, plus the primary's own registry. */
  async metricsText(): Promise<string> {
    const parts = await Promise.all(this.#options.workers().map((w) => this.#scrape(w)));
    const own = await this.#options.metrics.json();
    return aggregateMetrics([own, ...(parts.filter((p) => p !== undefined) as (typeof own)[])]);
  }

  /** Every listening worker's pool servers (open connections, failures); one that does not answer is counted missing. */
  async upstreamSnapshots(): Promise<{ lists: ServerSnapshot[][]; missing: number }> {
    const workers = this.#options.workers().filter((w) => w.isConnected());
    const answers = await Promise.all(
      workers.map((w) =>
        this.#ask<ServerSnapshot[] | undefined>(
          this.#servers,
          w,
          (n) => ({ wsgate: 'upstreams', id: n }),
          SCRAPE_TIMEOUT_MS,
          undefined,
        ),
      ),
    );
    const lists = answers.filter((a): a is ServerSnapshot[] => a !== undefined);
    return { lists, missing: workers.length - lists.length };
  }

  /** Every listening worker closes its WebSockets to one server of a pool; how many in all (a silent one: 0). */
  async closeServer(upstream: string, server: string, code: number, reason: string): Promise<number> {
    const counts = await Promise.all(
      this.#options
        .workers()
        .filter((w) => w.isConnected())
        .map((w) =>
          this.#ask<number>(
            this.#closes,
            w,
            (n) => ({ wsgate: 'close-server', id: n, upstream, server, code, reason }),
            CONTROL_TIMEOUT_MS,
            0,
          ),
        ),
    );
    return counts.reduce((sum, n) => sum + n, 0);
  }

  /** Sends a control order to the worker that holds the connection. */
  control(order: ControlOrder): Promise<ControlAnswer> {
    const id = workerOfConn(order.conn);
    const worker = id === undefined ? undefined : cluster.workers?.[id];
    if (worker === undefined || !worker.isConnected()) {
      return Promise.resolve({ ok: false, reason: `connection ${order.conn} is not live`, missing: true });
    }
    return this.#ask(this.#controls, worker, (n) => ({ wsgate: 'control', id: n, order }), CONTROL_TIMEOUT_MS, {
      ok: false,
      reason: `worker ${id} did not answer within ${CONTROL_TIMEOUT_MS / 1000} s`,
    });
  }

  async #scrape(worker: Worker): Promise<unknown[] | undefined> {
    if (!worker.isConnected()) return undefined;
    const MISSED = Symbol('missed');
    const answer = await this.#ask<unknown[] | typeof MISSED>(
      this.#scrapes as Map<number, Waiting<unknown[] | typeof MISSED>>,
      worker,
      (n) => ({ wsgate: 'metrics', id: n }),
      SCRAPE_TIMEOUT_MS,
      MISSED,
    );
    if (answer === MISSED) {
      this.#missedScrapes++;
      return undefined;
    }
    return answer;
  }

  #ask<T>(
    waiting: Map<number, Waiting<T>>,
    worker: Worker,
    message: (id: number) => ToWorker,
    timeoutMs: number,
    onTimeout: T,
  ): Promise<T> {
    const id = ++this.#next;
    return new Promise<T>((resolve) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        resolve(onTimeout);
      }, timeoutMs);
      waiting.set(id, { resolve, timer });
      worker.send(message(id), () => {});
    });
  }

  #receive(worker: Worker, message: unknown): void {
    if (!isFromWorker(message)) return;
    const m = message as FromWorker;
    switch (m.wsgate) {
      case 'events':
        this.#dropped.set(worker.id, m.dropped);
        for (const event of m.events) this.#options.ingest(event);
        return;
      case 'metrics':
        this.#settle(this.#scrapes, m.id, m.metrics);
        return;
      case 'controlled':
        this.#settle(this.#controls, m.id, m.answer);
        return;
      case 'upstreams':
        this.#settle(this.#servers, m.id, m.servers);
        return;
      case 'server-closed':
        this.#settle(this.#closes, m.id, m.closed);
        return;
    }
  }

  #settle<T>(waiting: Map<number, Waiting<T>>, id: number, value: T): void {
    const w = waiting.get(id);
    if (w === undefined) return;
    waiting.delete(id);
    clearTimeout(w.timer);
    w.resolve(value);
  }
}
