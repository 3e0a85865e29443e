// The conversation between the primary and a worker over node:cluster's IPC channel, in one place so both sides
// read the same types. The channel uses serialization: 'advanced', so a Config travels as it is.
//
//   worker                       primary
//   hello            ─────────▶                 (the worker listens for messages from now on)
//                    ◀─────────  start {config}  (or stop, if it was told to stop before it said hello)
//   ready {…} | failed {…}  ───▶
//                    ◀─────────  reload {config} (any number, while it runs)
//                    ◀─────────  stop            (or SIGTERM, or the primary going away)
//   stopped          ─────────▶
//                    ◀─────────  bye             (every connection handed to it before it stopped is answered)

import type { Config } from '../config/schema.ts';

/** Set in a worker's environment by the primary. */
export const WORKER_ENV = 'WSGATE_WORKER';

export type ListenerAddress = { host: string; port: number };

export type ToWorker =
  | { wsgate: 'start'; config: Config }
  | { wsgate: 'reload'; config: Config }
  | { wsgate: 'stop' }
  | { wsgate: 'bye' };

export type FromWorker =
  | { wsgate: 'hello' }
  | { wsgate: 'stopped' }
  | { wsgate: 'ready'; listeners: [string, ListenerAddress][]; echo: string | undefined }
  | { wsgate: 'failed'; text: string; exitCode: number };

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
