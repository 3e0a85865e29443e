// Shared by the frame-tap tests: the traffic-log lines of one WebSocket connection, found by the request path the
// test gave it (every connection in a test gets its own path).
import type { LogCapture, LogLine } from '../../helpers/wsgate.ts';

export type ConnectionLog = {
  conn: string;
  open: LogLine;
  close: LogLine;
  /** Every traffic line of the connection, in order. */
  lines: LogLine[];
};

const TRAFFIC = new Set(['ws.open', 'ws.frame', 'ws.message', 'ws.violation', 'ws.close']);

async function poll<T>(find: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The ws.open line of the connection opened on `path`. */
export function openLine(logs: LogCapture, path: string, timeoutMs = 10_000): Promise<LogLine> {
  return poll(
    () => logs.lines.find((l) => l.event === 'ws.open' && l.path === path),
    `ws.open line for ${path}`,
    timeoutMs,
  );
}

/** Waits for the connection on `path` to be closed and returns its traffic lines. */
export async function connectionLog(logs: LogCapture, path: string, timeoutMs = 10_000): Promise<ConnectionLog> {
  const open = await openLine(logs, path, timeoutMs);
  const conn = String(open.conn);
  const close = await poll(
    () => logs.lines.find((l) => l.event === 'ws.close' && l.conn === conn),
    `ws.close line for ${path} (${conn})`,
    timeoutMs,
  );
  const lines = logs.lines.filter((l) => l.conn === conn && TRAFFIC.has(String(l.event)));
  return { conn, open, close, lines };
}

export function byEvent(lines: LogLine[], event: string): LogLine[] {
  return lines.filter((l) => l.event === event);
}

/** ws.message lines of one direction, optionally only some kinds. */
export function messages(lines: LogLine[], dir: 'toUpstream' | 'toClient', kinds?: string[]): LogLine[] {
  return lines.filter(
    (l) => l.event === 'ws.message' && l.dir === dir && (kinds === undefined || kinds.includes(String(l.kind))),
  );
}

export const DATA = ['text', 'binary'];

export type Counters = { frames: number; messages: number; bytes: number };
