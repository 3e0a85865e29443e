// The soak's settings and arithmetic: reading SOAK_* variables, splitting the connections over client processes and
// wsgate workers so that no process needs more descriptors than it may open, and the send schedule that spreads each
// client's messages evenly over every second. Pure, unit-tested; scripts/soak.ts does the I/O.

export type SoakSettings = {
  /** Concurrent WebSocket connections through wsgate. */
  conns: number;
  /** Seconds of sending after every connection is open. */
  seconds: number;
  /** Bytes per message (text). */
  size: number;
  /** Handshakes each client process starts at once while ramping up. */
  batch: number;
  /** Seconds to wait after all connections closed before the last RSS reading. */
  settle: number;
  /** Client processes; null: chosen by the plan. */
  clients: number | null;
  /** wsgate workers; null: 1 unless the descriptor limit forces more. */
  workers: number | null;
  /** Where wsgate writes its log (and so the traffic lines): a path, or null for a file in the run's temp dir. */
  logFile: string | null;
  /** Keep the temp dir (config, logs) instead of removing it. */
  keep: boolean;
  /** wsgate's tap level (frames by default, as the issue asks). */
  tap: string;
  /** Extra environment for wsgate only ("K=V K2=V2"), e.g. to try another allocator or MALLOC_* settings. */
  wsgateEnv: Record<string, string>;
};

const TAPS = ['off', 'meta', 'frames', 'payload'];

function envPairs(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (raw ?? '').split(/\s+/).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`SOAK_WSGATE_ENV: "${pair}" is not NAME=value`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

function int(env: Record<string, string | undefined>, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}`);
  return n;
}

function tapLevel(raw: string | undefined): string {
  if (!raw) return 'frames';
  if (!TAPS.includes(raw)) throw new Error(`SOAK_TAP must be one of ${TAPS.join(', ')}`);
  return raw;
}

export function settingsFromEnv(env: Record<string, string | undefined>): SoakSettings {
  const optional = (name: string, max: number) => (env[name] ? int(env, name, 1, 1, max) : null);
  return {
    conns: int(env, 'SOAK_CONNS', 10_000, 1, 100_000),
    seconds: int(env, 'SOAK_SECONDS', 60, 1, 3600),
    size: int(env, 'SOAK_SIZE', 64, 16, 65_536),
    batch: int(env, 'SOAK_BATCH', 100, 1, 5000),
    settle: int(env, 'SOAK_SETTLE', 15, 0, 600),
    clients: optional('SOAK_CLIENTS', 64),
    workers: optional('SOAK_WORKERS', 16),
    logFile: env['SOAK_LOG'] === 'null' ? '/dev/null' : env['SOAK_LOG'] || null,
    keep: env['SOAK_KEEP'] === '1',
    tap: tapLevel(env['SOAK_TAP']),
    wsgateEnv: envPairs(env['SOAK_WSGATE_ENV']),
  };
}

/** Descriptors a process needs besides its sockets (stdio, epoll, IPC, log files, libuv's own). */
export const FD_RESERVE = 64;

/** How far above an even share one wsgate worker's connections may go (see planProcesses). */
export const WORKER_SKEW = 1.25;

export type ProcessPlan = {
  workers: number;
  clients: number;
  /** Descriptors each process kind needs at most. */
  fds: { wsgatePerWorker: number; clientPerProcess: number; echo: number };
  /** Why the plan differs from one wsgate process, for the report. */
  notes: string[];
};

/**
 * Splits conns over wsgate workers (two sockets per connection: client side and upstream side) and client processes
 * (one each) so every process fits in fdLimit, the limit its children get (every child gets all of it: the needs
 * computed here only decide how many processes). Clients default to two: one event
 * loop sending 10,000 messages a second and checking their echoes would be a good part of a core on its own.
 * Throws when even the most workers allowed cannot fit.
 */
export function planProcesses(
  conns: number,
  fdLimit: number,
  want: { workers: number | null; clients: number | null },
): ProcessPlan {
  const notes: string[] = [];
  // node:cluster hands each connection to the next worker that has taken the previous one, not strictly in turn, so
  // a busier worker gets fewer: several workers are planned with a quarter more than an even share each.
  const wsgateFds = (w: number) => 2 * Math.ceil((conns / w) * (w > 1 ? WORKER_SKEW : 1)) + FD_RESERVE;
  let workers = want.workers ?? 1;
  if (want.workers === null) {
    while (wsgateFds(workers) > fdLimit && workers < 8) workers++;
    if (workers > 1) {
      notes.push(
        `wsgate ran with ${workers} workers: one process would need ${wsgateFds(1)} descriptors and the limit is ${fdLimit}`,
      );
    }
  }
  if (wsgateFds(workers) > fdLimit) {
    throw new Error(
      `each wsgate worker would need ${wsgateFds(workers)} descriptors, over the limit of ${fdLimit}: lower SOAK_CONNS or raise SOAK_WORKERS`,
    );
  }
  const clientFds = (c: number) => Math.ceil(conns / c) + FD_RESERVE;
  // The echo server holds every connection in one process, so where it fits, any number of clients fits too.
  const echo = conns + FD_RESERVE;
  if (echo > fdLimit) throw new Error(`the echo server would need ${echo} descriptors, over the limit of ${fdLimit}`);
  const clients = Math.min(want.clients ?? 2, conns);
  return {
    workers,
    clients,
    fds: { wsgatePerWorker: wsgateFds(workers), clientPerProcess: clientFds(clients), echo },
    notes,
  };
}

/** Connection counts per client: as even as possible, the first ones taking the remainder. */
export function splitConnections(conns: number, clients: number): number[] {
  const base = Math.floor(conns / clients);
  return Array.from({ length: clients }, (_, i) => base + (i < conns % clients ? 1 : 0));
}

/**
 * The schedule of one client with perConn connections: send number k (k = 0, 1, …) goes to connection k % perConn,
 * is that connection's message number floor(k / perConn) and is due at k × 1000 / perConn ms after the start, so each
 * connection sends once a second and the client's sends are spread evenly over the second.
 */
export function dueAt(k: number, perConn: number): number {
  return (k * 1000) / perConn;
}

/** How many sends are due after elapsedMs (never more than the run's total). */
export function sendsDue(elapsedMs: number, perConn: number, seconds: number): number {
  if (elapsedMs < 0) return 0;
  // The epsilon: at exactly dueAt(k) the division can land a hair below k (25000 / 37 × 37 / 1000 = 24.999…).
  return Math.min(perConn * seconds, Math.floor((elapsedMs * perConn) / 1000 + 1e-9) + 1);
}
