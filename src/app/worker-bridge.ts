// A worker's half of the admin API under `--workers N`, where the admin listener runs in the primary: it sends the
// worker's WebSocket events to the primary's traffic store, answers the primary's metrics scrapes with its own
// registry (and its pools' servers), and carries out send and close on the connections it holds. The primary's half
// is worker-hub.ts.
//
// Events go in batches (one IPC message per BATCH_EVENTS events or per FLUSH_MS), with at most MAX_INFLIGHT
// batches handed to the channel and not yet written. When the primary falls behind, events wait here up to
// MAX_PENDING; past that, message, frame, violation and rule events are dropped and counted (the count travels with
// every batch, and as wsgate_ipc_events_dropped_total in the worker's metrics), while a connection's open and end
// events are kept up to twice that, so the primary's list of connections stays whole: the same rule as the traffic
// log's, which sheds frame lines and keeps open and close lines.
import type { WsEvent } from '../events.ts';
import type { WsgateMetrics } from '../inspector/metrics.ts';
import type { ServerSnapshot } from '../upstream/balancer.ts';
import type { HoldDecision } from '../websocket/relay-hold.ts';
import type { LiveSession } from '../websocket/session.ts';
import type { ControlAnswer, ControlOrder, FromWorker, ToWorker } from './worker-ipc.ts';

export const BATCH_EVENTS = 256;
export const FLUSH_MS = 20;
export const MAX_INFLIGHT = 4;
export const MAX_PENDING = 8192;

/** How the bridge talks to the primary: process.send in a worker; tests pass their own. */
export type SendToPrimary = (message: FromWorker, done: (err: Error | null) => void) => void;

/** What the bridge needs from the running instance, known once it has started. */
export type BridgeTarget = {
  session(conn: string): LiveSession | undefined;
  readonly metrics: WsgateMetrics | undefined;
  /** The pools' servers as this worker sees them (GET /api/upstreams). */
  servers(): ServerSnapshot[];
  closeServer(upstream: string, server: string, code: number, reason: string): number;
};

function kept(event: WsEvent): boolean {
  return event.type === 'open' || event.type === 'end' || event.type === 'failed';
}

/** IPC turns a Buffer into a Uint8Array: new data for a held message becomes a Buffer again. */
function withBuffer(d: HoldDecision): HoldDecision {
  return d.op === 'forward' && d.data !== undefined
    ? { op: 'forward', data: { type: d.data.type, data: Buffer.from(d.data.data) } }
    : d;
}

/** Carries out one control order on a session of this worker. */
export function runControl(session: LiveSession | undefined, order: ControlOrder): ControlAnswer {
  if (session === undefined) return { ok: false, reason: `connection ${order.conn} is not live`, missing: true };
  const passthrough = { ok: false as const, reason: `connection ${order.conn} is passed through and holds nothing` };
  const result =
    order.op === 'send'
      ? session.send(order.to, { type: order.message.type, data: Buffer.from(order.message.data) })
      : order.op === 'close'
        ? session.close(order.code, order.reason, order.to)
        : order.op === 'release'
          ? (session.release?.(order.id, withBuffer(order.decision)) ?? passthrough)
          : (session.holdRule?.(order.rule) ?? passthrough);
  return result.ok ? { ok: true } : { ok: false, reason: result.reason };
}

export class WorkerBridge {
  #send: SendToPrimary;
  #target: BridgeTarget | undefined;
  #pending: WsEvent[] = [];
  #inflight = 0;
  #dropped = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(send: SendToPrimary) {
    this.#send = send;
  }

  /** Events dropped because the primary fell behind, since the start. */
  get dropped(): number {
    return this.#dropped;
  }

  /** The running instance, once startWsgate has returned (events arrive from its first connection on). */
  attach(target: BridgeTarget): void {
    this.#target = target;
    target.metrics?.addCounter('ipc_events_dropped_total', {
      help: 'WebSocket events a worker dropped because the primary (the admin API) fell behind: its store misses their messages.',
      read: () => this.#dropped,
    });
  }

  /** The traffic store's shape: app/ hands every WebSocket event here. */
  ingest(event: WsEvent): void {
    if (this.#closed) return;
    const pending = this.#pending.length;
    if (pending >= MAX_PENDING && (!kept(event) || pending >= 2 * MAX_PENDING)) {
      this.#dropped++;
      return;
    }
    this.#pending.push(event);
    if (this.#pending.length >= BATCH_EVENTS && this.#inflight < MAX_INFLIGHT) this.#flush();
    else if (this.#timer === undefined) this.#schedule(FLUSH_MS);
  }

  /** Handles the primary's messages that are the bridge's; returns false for the others. */
  handle(message: ToWorker): boolean {
    if (message.wsgate === 'metrics') {
      const { id } = message;
      const metrics = this.#target?.metrics;
      void (metrics === undefined ? Promise.resolve([]) : metrics.json()).then(
        (json) => this.#send({ wsgate: 'metrics', id, metrics: json }, () => {}),
        () => this.#send({ wsgate: 'metrics', id, metrics: [] }, () => {}),
      );
      return true;
    }
    if (message.wsgate === 'upstreams') {
      this.#send({ wsgate: 'upstreams', id: message.id, servers: this.#target?.servers() ?? [] }, () => {});
      return true;
    }
    if (message.wsgate === 'close-server') {
      const { id, upstream, server, code, reason } = message;
      const closed = this.#target?.closeServer(upstream, server, code, reason) ?? 0;
      this.#send({ wsgate: 'server-closed', id, closed }, () => {});
      return true;
    }
    if (message.wsgate === 'control') {
      const answer = runControl(this.#target?.session(message.order.conn), message.order);
      this.#send({ wsgate: 'controlled', id: message.id, answer }, () => {});
      return true;
    }
    return false;
  }

  /** Sends what is pending (a worker about to stop); events after this are ignored. */
  close(): void {
    this.#flush(true);
    this.#closed = true;
  }

  #flush(force = false): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#pending.length > 0 && (force || this.#inflight < MAX_INFLIGHT)) {
      const events = this.#pending.splice(0, BATCH_EVENTS);
      this.#inflight++;
      this.#send({ wsgate: 'events', events, dropped: this.#dropped }, () => {
        this.#inflight--;
        // The channel took a batch: what waited goes now.
        if (this.#pending.length > 0 && !this.#closed) {
          clearTimeout(this.#timer);
          this.#schedule(0);
        }
      });
    }
    if (this.#pending.length > 0 && this.#timer === undefined && !force) this.#schedule(FLUSH_MS);
  }

  /** The flush timer never keeps a worker alive on its own. */
  #schedule(ms: number): void {
    this.#timer = setTimeout(() => this.#flush(), ms);
    this.#timer.unref();
  }
}
