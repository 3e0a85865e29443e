// The admin API's view of upstreams with several servers (upstreams[].servers), as HAProxy's `show servers state`
// and `set server … state drain|ready`, or nginx Plus's upstream API: each server's state and load, and a server
// drained before a deploy. A drained server takes no new WebSocket or request; those open stay until they end (GET
// shows `open` falling to 0), so a rolling deploy drains a server, waits for `open: 0` or a deadline, deploys, and
// sets it ready again; POST …/close closes what is still open with 1012 (Service Restart), so clients reconnect to
// the others, and a drain with `closeAfter` does that by itself at its deadline. The state is wsgate's memory: it
// holds across reloads while the server stays in the config, not across a restart. With --workers the primary
// answers: counts are summed over the workers.
import type { ServerPool } from '../config/resolve.ts';
import { formatDuration, parseDuration } from '../config/units.ts';
import type { Logger } from '../log/logger.ts';
import type { ServerSnapshot } from '../upstream/balancer.ts';
import { badRequest, closeCodeAndReason, notFound, readJson, sendJson } from './admin-http.ts';
import type { AdminHandler } from './admin-server.ts';

/** [upstream name, server URL]. */
export type PoolServerRef = readonly [string, string];

export type UpstreamControl = {
  /** The upstreams with several servers that the routes use, from the running config. */
  pools(): readonly { name: string; pool: ServerPool }[];
  /** Each process's servers: one list, or one per worker; `missing`: workers that did not answer in time. */
  snapshots(): Promise<{ lists: ServerSnapshot[][]; missing?: number }>;
  /** The drained servers now. */
  drained(): readonly PoolServerRef[];
  /** Drains exactly these, everywhere (every worker, and those started later). */
  setDrained(servers: PoolServerRef[]): void;
  /** Closes the open WebSockets to one server, everywhere; how many. */
  closeServer(upstream: string, server: string, code: number, reason: string): Promise<number>;
  log: Logger;
};

export type ServerView = {
  /** Its place in the config's servers list, as PUT …/servers/N takes it. */
  index: number;
  url: string;
  weight: number;
  backup: boolean;
  /** `drain`: takes no new connections (the admin API); `ready`: takes its share. */
  state: 'ready' | 'drain';
  /** What active checks say: `unchecked` without upstreams[].healthCheck. */
  health: 'up' | 'down' | 'unchecked';
  /** Passed over now after a failed connection or failed checks (it still counts as ready). */
  skipped: boolean;
  /** Milliseconds left of a failed connection's failTimeout. */
  skippedForMs: number;
  /** Connections open to it now: WebSockets, and plain requests' kept-alive connections are not counted. */
  open: number;
  /** Failed connections since the start. */
  failures: number;
  /** Connections held ahead for the next handshake (upstreams[].preconnect), not counted in `open`. */
  spares: number;
  /** A drain's deadline (`closeAfter`): when what is still open to it will be closed. */
  closeAt?: string | undefined;
};

export type UpstreamView = {
  name: string;
  balance: ServerPool['balance'];
  failTimeout: string;
  healthCheck?: { interval: string; path?: string | undefined; fails: number; passes: number } | undefined;
  /** upstreams[].proxyProtocol: the PROXY header its servers get. */
  proxyProtocol?: 'v1' | 'v2' | undefined;
  /** Servers that take new connections (not drained). */
  ready: number;
  servers: ServerView[];
};

const key = (upstream: string, server: string) => `${upstream}\n${server}`;

/** One process's counts, or every worker's summed: skipped where any worker skips it. */
export function mergeSnapshots(lists: readonly ServerSnapshot[][]): Map<string, ServerSnapshot> {
  const merged = new Map<string, ServerSnapshot>();
  for (const list of lists) {
    for (const s of list) {
      const k = key(s.upstream, s.server);
      const seen = merged.get(k);
      merged.set(
        k,
        seen === undefined
          ? { ...s }
          : {
              ...seen,
              open: seen.open + s.open,
              failures: seen.failures + s.failures,
              spares: (seen.spares ?? 0) + (s.spares ?? 0),
              skipped: seen.skipped || s.skipped,
              skippedForMs: Math.max(seen.skippedForMs, s.skippedForMs),
              checkedDown: seen.checkedDown || s.checkedDown,
            },
      );
    }
  }
  return merged;
}

export function upstreamViews(
  pools: readonly { name: string; pool: ServerPool; proxyProtocol?: 'v1' | 'v2' }[],
  counts: ReadonlyMap<string, ServerSnapshot>,
  drained: readonly PoolServerRef[],
  closeAt: (upstream: string, server: string) => number | undefined = () => undefined,
): UpstreamView[] {
  const isDrained = new Set(drained.map(([u, s]) => key(u, s)));
  return pools.map(({ name, pool, proxyProtocol }) => {
    const servers = pool.servers.map((url, index): ServerView => {
      const seen = counts.get(key(name, url));
      const deadline = closeAt(name, url);
      return {
        index,
        url,
        weight: pool.weights?.[url] ?? 1,
        backup: pool.backups?.includes(url) ?? false,
        state: isDrained.has(key(name, url)) ? 'drain' : 'ready',
        health: pool.healthCheck === undefined ? 'unchecked' : seen?.checkedDown ? 'down' : 'up',
        skipped: seen?.skipped ?? false,
        skippedForMs: seen?.skippedForMs ?? 0,
        open: seen?.open ?? 0,
        failures: seen?.failures ?? 0,
        spares: seen?.spares ?? 0,
        ...(deadline === undefined ? {} : { closeAt: new Date(deadline).toISOString() }),
      };
    });
    const check = pool.healthCheck;
    return {
      name,
      balance: pool.balance,
      failTimeout: formatDuration(pool.failTimeout),
      ...(check === undefined
        ? {}
        : {
            healthCheck: {
              interval: formatDuration(check.interval),
              ...(check.path === undefined ? {} : { path: check.path }),
              fails: check.fails,
              passes: check.passes,
            },
          }),
      ...(proxyProtocol === undefined ? {} : { proxyProtocol }),
      ready: servers.filter((s) => s.state === 'ready').length,
      servers,
    };
  });
}

/** A server named by its index in the config's list, or by its URL (percent-encoded in the path). */
function findServer(pool: ServerPool, ref: string): string | undefined {
  if (/^\d+$/.test(ref)) return pool.servers[Number(ref)];
  if (pool.servers.includes(ref)) return ref;
  try {
    const href = new URL(ref).href;
    return pool.servers.find((s) => new URL(s).href === href);
  } catch {
    return undefined;
  }
}

export function upstreamHandlers(control: UpstreamControl): AdminHandler[] {
  const deadlines = new DrainDeadlines(control);
  // Counts from a worker that did not answer are missing from the sums: the answer says so.
  const views = async () => {
    const { lists, missing = 0 } = await control.snapshots();
    const upstreams = upstreamViews(control.pools(), mergeSnapshots(lists), control.drained(), (u, server) =>
      deadlines.at(u, server),
    );
    return { upstreams, ...(missing > 0 ? { missingWorkers: missing } : {}) };
  };
  const poolNamed = (name: string) => {
    const found = control.pools().find((p) => p.name === name);
    if (found === undefined) {
      const names = control.pools().map((p) => p.name);
      throw notFound(
        `no upstream ${name} with several servers (upstreams[].servers) that a route uses` +
          (names.length > 0 ? `; there are: ${names.join(', ')}` : ''),
      );
    }
    return found;
  };
  const serverNamed = (params: Record<string, string>) => {
    const { name, pool } = poolNamed(params['name']!);
    const server = findServer(pool, params['server']!);
    if (server === undefined) {
      throw notFound(
        `upstream ${name} has no server ${params['server']}: give its index (0–${pool.servers.length - 1}) or its URL`,
      );
    }
    return { name, server };
  };
  return [
    {
      method: 'GET',
      path: '/api/upstreams',
      async handle(req, res) {
        req.resume();
        sendJson(res, 200, await views());
      },
    },
    {
      method: 'GET',
      path: '/api/upstreams/:name',
      async handle(req, res, { params }) {
        req.resume();
        const { name } = poolNamed(params['name']!);
        const { upstreams, ...rest } = await views();
        sendJson(res, 200, { upstream: upstreams.find((v) => v.name === name), ...rest });
      },
    },
    {
      method: 'PUT',
      path: '/api/upstreams/:name/servers/:server',
      async handle(req, res, { params }) {
        const body = await readJson(req);
        const { name, server } = serverNamed(params);
        const state = body['state'];
        if (state !== 'ready' && state !== 'drain') throw badRequest('state must be "ready" or "drain"');
        const unknown = Object.keys(body).filter((k) => k !== 'state' && k !== 'closeAfter');
        if (unknown.length > 0) {
          throw badRequest(`only state (and closeAfter with a drain) can be changed here, not ${unknown.join(', ')}`);
        }
        const closeAfter = closeAfterOf(body['closeAfter'], state);
        const others = control.drained().filter(([u, s]) => u !== name || s !== server);
        const wasDrained = others.length !== control.drained().length;
        const changed = wasDrained !== (state === 'drain');
        if (changed) control.setDrained(state === 'drain' ? [...others, [name, server]] : others);
        // Every PUT replaces the deadline: a drain without closeAfter, or ready, leaves none.
        deadlines.set(name, server, closeAfter);
        const { upstreams, ...rest } = await views();
        const view = upstreams.find((v) => v.name === name)!;
        if (changed || closeAfter !== undefined) logChange(control.log, view, server, state, closeAfter);
        sendJson(res, 200, { changed, upstream: view, ...rest });
      },
    },
    {
      method: 'POST',
      path: '/api/upstreams/:name/servers/:server/close',
      async handle(req, res, { params }) {
        const body = await readJson(req);
        const { name, server } = serverNamed(params);
        const { code, reason } = closeCodeAndReason(body, 1012, 'server taken out of service');
        const unknown = Object.keys(body).filter((k) => k !== 'code' && k !== 'reason');
        if (unknown.length > 0) throw badRequest(`only code and reason can be given, not ${unknown.join(', ')}`);
        const closed = await control.closeServer(name, server, code, reason);
        logClosed(control.log, name, server, closed, code, 'admin API');
        sendJson(res, 200, { closed, code, reason });
      },
    },
  ];
}

/** `closeAfter` of a PUT: a duration ("30s") that only a drain takes; undefined when absent. */
function closeAfterOf(input: unknown, state: 'ready' | 'drain'): number | undefined {
  if (input === undefined) return undefined;
  if (state !== 'drain') throw badRequest('closeAfter goes with state "drain"');
  const parsed = parseDuration(input);
  if (!parsed.ok) throw badRequest(`closeAfter: ${parsed.message}`);
  return parsed.value;
}

const DEADLINE_REASON = 'server taken out of service';

/**
 * Drains with a deadline (`closeAfter`): what is still open to the server then is closed with 1012, as POST …/close
 * does, unless a later PUT replaced the deadline or made the server ready. Timers do not hold the process open.
 */
class DrainDeadlines {
  #control: UpstreamControl;
  #pending = new Map<string, { at: number; timer: NodeJS.Timeout }>();

  constructor(control: UpstreamControl) {
    this.#control = control;
  }

  at(upstream: string, server: string): number | undefined {
    return this.#pending.get(key(upstream, server))?.at;
  }

  set(upstream: string, server: string, afterMs: number | undefined): void {
    const k = key(upstream, server);
    clearTimeout(this.#pending.get(k)?.timer);
    this.#pending.delete(k);
    if (afterMs === undefined) return;
    const timer = setTimeout(() => {
      this.#pending.delete(k);
      void this.#fire(upstream, server);
    }, afterMs);
    timer.unref();
    this.#pending.set(k, { at: Date.now() + afterMs, timer });
  }

  async #fire(upstream: string, server: string): Promise<void> {
    const control = this.#control;
    // A reload that dropped the server forgot its drain: nothing to close for it then.
    if (!control.drained().some(([u, s]) => u === upstream && s === server)) return;
    try {
      const closed = await control.closeServer(upstream, server, 1012, DEADLINE_REASON);
      logClosed(control.log, upstream, server, closed, 1012, 'drain deadline');
    } catch (err) {
      control.log.error(
        { event: 'upstream.server_close_failed', upstream, server, err },
        `closing the WebSockets to server ${server} of upstream ${upstream} at its drain deadline failed: ${(err as Error).message}`,
      );
    }
  }
}

function logClosed(log: Logger, upstream: string, server: string, closed: number, code: number, by: string): void {
  log.info(
    { event: 'upstream.server_closed', upstream, server, closed, code, by },
    `closing ${closed} open WebSocket${closed === 1 ? '' : 's'} to server ${server} of upstream ${upstream} (${code}; ${by})`,
  );
}

function logChange(
  log: Logger,
  view: UpstreamView,
  server: string,
  state: 'ready' | 'drain',
  closeAfter: number | undefined,
): void {
  const open = view.servers.find((s) => s.url === server)?.open ?? 0;
  const fields = {
    event: 'upstream.server_state',
    upstream: view.name,
    server,
    state,
    open,
    ...(closeAfter === undefined ? {} : { closeAfterMs: closeAfter }),
    by: 'admin API',
  };
  if (state === 'ready') {
    log.info(fields, `server ${server} of upstream ${view.name} is ready again (admin API)`);
    return;
  }
  const deadline = closeAfter === undefined ? 'stay' : `are closed in ${formatDuration(closeAfter)} if still open`;
  log.info(
    fields,
    `server ${server} of upstream ${view.name} drained through the admin API: no new connections; ${open} open ${deadline}`,
  );
  if (view.ready === 0) {
    log.warn(
      { event: 'upstream.all_drained', upstream: view.name },
      `every server of upstream ${view.name} is drained: new connections get 503 WSG_UPSTREAM_DRAINED`,
    );
  }
}
