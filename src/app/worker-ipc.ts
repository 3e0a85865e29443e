// The conversation between the primary and a worker over node:cluster's IPC channel, in one place so both sides
// read the same types. The channel uses serialization: 'advanced', so a Config travels as it is.
//
//   worker                       primary
//   hello            ─────────▶                 (the worker listens for messages from now on)
//                    ◀─────────  start {config, runtime} (or stop, if it was told to stop before it said hello)
//   ready {…} | failed {…}  ───▶
//                    ◀─────────  reload {config} (any number, while it runs)
//                    ◀─────────  log-level, drained (the admin API's changes; a later worker gets them in start)
//                    ◀─────────  health-role {run} (one worker runs the active health checks)
//   checked {…}      ─────────▶  checked {…} to every other worker (the checker's word on a server)
//                    ◀─────────  stop            (or SIGTERM, or the primary going away)
//   stopped          ─────────▶
//                    ◀─────────  bye             (every connection handed to it before it stopped is answered)
//
// With `inspector` in the config the admin API runs in the primary and sees every worker (worker-bridge.ts,
// worker-hub.ts):
//   events {batch}   ─────────▶                 (WebSocket events for the primary's traffic store, batched)
//                    ◀─────────  metrics {id}    (a scrape: the worker answers with its registry as JSON)
//   metrics {id, …}  ─────────▶
//                    ◀─────────  control {id, …} (send or close on a connection this worker holds)
//   controlled {id, …} ───────▶
//                    ◀─────────  upstreams {id}  (the pools' servers as this worker sees them: open, failures)
//   upstreams {id, …} ────────▶
//                    ◀─────────  close-server {id, …} (close the WebSockets to one server of a pool)
//   server-closed {id, closed} ▶

import type { Config } from '../config/schema.ts';
import type { WsEvent } from '../events.ts';
import type { PoolServerRef } from '../inspector/upstreams-api.ts';
import type { LogLevel } from '../log/logger.ts';
import type { ServerSnapshot } from '../upstream/balancer.ts';
import type { HoldDecision, RuntimeHold } from '../websocket/relay-hold.ts';

/** Set in a worker's environment by the primary. */
export const WORKER_ENV = 'WSGATE_WORKER';

export type ListenerAddress = { host: string; port: number };

/** Send or close on a live connection, as the admin API asks it (the worker runs it on its LiveSession). */
export type ControlOrder =
  | { op: 'send'; conn: string; to: 'client' | 'server'; message: { type: 'text' | 'binary'; data: Uint8Array } }
  | { op: 'close'; conn: string; code: number; reason: string; to: 'client' | 'server' | 'both' }
  /** The hold action: forward or drop a held message, or add a hold to the connection (websocket/relay-hold.ts). */
  | { op: 'release'; conn: string; id: string; decision: HoldDecision }
  | { op: 'holdRule'; conn: string; rule: RuntimeHold };

/** How a control order went: done, refused with the session's reason, or no such live connection here. */
export type ControlAnswer = { ok: true } | { ok: false; reason: string; missing?: boolean };

/**
 * What the admin API changed at run time and every worker must have, a worker started later too: the log level
 * (until the next reload) and the drained servers (while they are in the config).
 */
export type RuntimeState = {
  logLevel?: LogLevel | undefined;
  drained: readonly PoolServerRef[];
  /** Servers the checking worker has taken out (until the next reload). */
  checkedDown: readonly PoolServerRef[];
};

/** The checking worker's word on a server of a pool. */
export type CheckedServer = { upstream: string; server: string; down: boolean };

export type ToWorker =
  | { wsgate: 'start'; config: Config; runtime: RuntimeState }
  /** `id`: the primary waits for its `reloaded` answer before it adopts the config. */
  | { wsgate: 'reload'; config: Config; id: number }
  | { wsgate: 'log-level'; level: LogLevel }
  | { wsgate: 'drained'; servers: readonly PoolServerRef[] }
  | { wsgate: 'health-role'; run: boolean }
  | ({ wsgate: 'checked' } & CheckedServer)
  | { wsgate: 'upstreams'; id: number }
  | { wsgate: 'close-server'; id: number; upstream: string; server: string; code: number; reason: string }
  | { wsgate: 'stop' }
  | { wsgate: 'bye' }
  | { wsgate: 'metrics'; id: number }
  | { wsgate: 'control'; id: number; order: ControlOrder };

export type FromWorker =
  | { wsgate: 'hello' }
  | { wsgate: 'stopped' }
  | { wsgate: 'reloaded'; id: number; ok: boolean }
  | { wsgate: 'ready'; listeners: [string, ListenerAddress][]; echo: string | undefined }
  | { wsgate: 'failed'; text: string; exitCode: number }
  /** `dropped`: events this worker dropped since it started because the primary fell behind (cumulative). */
  | { wsgate: 'events'; events: WsEvent[]; dropped: number }
  /** A registry as prom-client's getMetricsAsJSON() gives it. */
  | { wsgate: 'metrics'; id: number; metrics: unknown[] }
  | { wsgate: 'controlled'; id: number; answer: ControlAnswer }
  | { wsgate: 'upstreams'; id: number; servers: ServerSnapshot[] }
  | { wsgate: 'server-closed'; id: number; closed: number }
  | ({ wsgate: 'checked' } & CheckedServer);

/**
 * Whether an IPC message is one of ours. node:cluster uses the same channel for its own messages, and the shape is
 * all the check there is: both ends are the same wsgate build.
 */
function isWsgateMessage(m: unknown): boolean {
  return typeof m === 'object' && m !== null && typeof (m as { wsgate?: unknown }).wsgate === 'string';
}

export function isToWorker(m: unknown): m is ToWorker {
  return isWsgateMessage(m);
}

export function isFromWorker(m: unknown): m is FromWorker {
  return isWsgateMessage(m);
}
