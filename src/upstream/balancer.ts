// Picks one server of an upstream with several (upstreams[].servers) for each new WebSocket and HTTP request:
// the one with the fewest open connections from wsgate (WebSockets live long, so counting them spreads them where
// round robin would not after a restart of one server), or each in turn. A server whose connection failed is
// skipped for the pool's failTimeout, as nginx's max_fails=1 fail_timeout; when every server is skipped, all are
// tried again rather than none (nginx does the same). ip-hash keeps a client on one server by rendezvous hashing.
// The balancer is pure (the clock is passed in; state lives across reloads, keyed by upstream name and server URL);
// dialFromPool (an upgrade's failover) and logServerFailed are what the reverse listener and the HTTP forwarder share.
import type { ServerPool } from '../config/resolve.ts';
import { formatDuration } from '../config/units.ts';
import type { Logger } from '../log/logger.ts';

type ServerState = { open: number; downUntil: number; failures: number; checkedDown: boolean };

/** One server of a pool as metrics show it. */
export type ServerSnapshot = { upstream: string; server: string; open: number; failures: number; skipped: boolean };

/** FNV-1a, 32 bits: spreads short keys well enough and costs nothing. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * Rendezvous hashing: each client goes to the server scoring highest for it. A server that is skipped or added moves
 * only the clients it had, or takes some from each, where `hash % servers` would move nearly all of them.
 */
function highestWeight(servers: readonly string[], client: string): string {
  let best = servers[0]!;
  let bestScore = -1;
  for (const server of servers) {
    const score = fnv1a(`${client}\n${server}`);
    if (score > bestScore) {
      best = server;
      bestScore = score;
    }
  }
  return best;
}

export class UpstreamBalancer {
  #servers = new Map<string, ServerState>();
  #turn = new Map<string, number>();

  #state(name: string, server: string): ServerState {
    const key = `${name}\n${server}`;
    let state = this.#servers.get(key);
    if (state === undefined) {
      state = { open: 0, downUntil: 0, failures: 0, checkedDown: false };
      this.#servers.set(key, state);
    }
    return state;
  }

  /**
   * The server for the next connection; `tried` are left out (an upgrade's failover), unless nothing else is left.
   * `client` (its address) is what ip-hash keeps on one server.
   */
  pick(
    name: string,
    pool: ServerPool,
    now: number,
    tried: ReadonlySet<string> = new Set(),
    client?: string | undefined,
  ): string {
    const untried = pool.servers.filter((s) => !tried.has(s));
    const candidates = untried.length > 0 ? untried : pool.servers;
    const up = candidates.filter((s) => {
      const state = this.#state(name, s);
      return state.downUntil <= now && !state.checkedDown;
    });
    const from = up.length > 0 ? up : candidates;
    if (pool.balance === 'ip-hash' && client !== undefined) return highestWeight(from, client);
    // Round robin among equals: the turn moves on every pick, so ties rotate.
    const turn = this.#turn.get(name) ?? 0;
    this.#turn.set(name, turn + 1);
    const rotated = from.map((_, i) => from[(turn + i) % from.length]!);
    if (pool.balance === 'round-robin') return rotated[0]!;
    let best = rotated[0]!;
    for (const server of rotated) if (this.#state(name, server).open < this.#state(name, best).open) best = server;
    return best;
  }

  /** A connection to `server` opened; call closed() once it ends. */
  opened(name: string, server: string): void {
    this.#state(name, server).open++;
  }

  closed(name: string, server: string): void {
    const state = this.#state(name, server);
    state.open = Math.max(0, state.open - 1);
  }

  /** A connection to `server` failed (refused, timed out, unreachable): skip it until `now + failTimeout`. */
  failed(name: string, pool: ServerPool, server: string, now: number): void {
    const state = this.#state(name, server);
    state.downUntil = now + pool.failTimeout;
    state.failures++;
  }

  /**
   * An active check's result (upstream/health-check.ts): a failed one takes the server out until one succeeds.
   * Returns the change, if any, for the log.
   */
  checked(name: string, server: string, ok: boolean): 'down' | 'up' | undefined {
    const state = this.#state(name, server);
    if (state.checkedDown === !ok) return undefined;
    state.checkedDown = !ok;
    return ok ? 'up' : 'down';
  }

  /** Forgets every active check's result (a reload starts the checks again, and drops those no longer configured). */
  clearChecks(): void {
    for (const state of this.#servers.values()) state.checkedDown = false;
  }

  /** Every server seen so far: open connections, failed connections since the start, skipped now. */
  snapshot(now: number): ServerSnapshot[] {
    return [...this.#servers].map(([key, state]) => {
      const [upstream, server] = key.split('\n') as [string, string];
      const skipped = state.downUntil > now || state.checkedDown;
      return { upstream, server, open: state.open, failures: state.failures, skipped };
    });
  }

  /** Whether `server` is being skipped now. */
  isDown(name: string, server: string, now: number): boolean {
    const state = this.#state(name, server);
    return state.downUntil > now || state.checkedDown;
  }
}

/** Connection failures that say the server is not there now; a proxy's or a certificate's error says nothing of it. */
const SERVER_DOWN = new Set([
  'WSG_UPSTREAM_REFUSED',
  'WSG_UPSTREAM_TIMEOUT',
  'WSG_UPSTREAM_UNREACHABLE',
  'WSG_UPSTREAM_RESET',
  'WSG_UPSTREAM_DNS',
]);

export function isServerDown(err: unknown): boolean {
  return SERVER_DOWN.has((err as { code?: string } | undefined)?.code ?? '');
}

/**
 * Dials one server of `pool` for a WebSocket upgrade: the balancer's pick, and on a connection failure the next
 * untried server (nothing was sent yet, so trying another is safe, as nginx's proxy_next_upstream error timeout).
 * Sets target.url to the server reached; counts the connection open until its socket closes. Throws the last
 * failure when every server failed.
 */
export async function dialFromPool<S extends { once(event: 'close', listener: () => void): unknown }>(
  balancer: UpstreamBalancer,
  pool: ServerPool,
  target: { name: string; url: URL },
  dial: () => Promise<S>,
  onFailed: (server: string, err: unknown, next: boolean) => void,
  client?: string | undefined,
): Promise<S> {
  const tried = new Set<string>();
  for (;;) {
    const server = balancer.pick(target.name, pool, Date.now(), tried, client);
    tried.add(server);
    target.url = new URL(server);
    try {
      const socket = await dial();
      balancer.opened(target.name, server);
      socket.once('close', () => balancer.closed(target.name, server));
      return socket;
    } catch (err) {
      if (!isServerDown(err)) throw err;
      balancer.failed(target.name, pool, server, Date.now());
      const next = tried.size < pool.servers.length;
      onFailed(server, err, next);
      if (!next) throw err;
    }
  }
}

/** One warn line per failed connection to a server of a pool: which, why, for how long it is skipped, what next. */
export function logServerFailed(
  log: Logger,
  upstream: string,
  server: string,
  pool: ServerPool,
  err: unknown,
  next: boolean,
): void {
  const code = (err as { code?: string } | undefined)?.code;
  log.warn(
    { event: 'upstream.server_failed', upstream, server, code, skippedMs: pool.failTimeout, next },
    `server ${server} of upstream ${upstream} failed (${code}): skipped for ${formatDuration(pool.failTimeout)}` +
      (next ? '; trying the next server' : ''),
  );
}
