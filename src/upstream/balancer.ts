// Picks one server of an upstream with several (upstreams[].servers) for each new WebSocket and HTTP request:
// the one with the fewest open connections from wsgate per unit of weight (WebSockets live long, so counting them
// spreads them where round robin would not after a restart of one server), or in turn by weight (nginx's smooth
// weighted round robin). A server whose connection failed is skipped for the pool's failTimeout, as nginx's
// max_fails=1 fail_timeout; backup servers take connections only while every other is skipped; when every server is
// skipped, all are tried again rather than none (nginx does the same). A server drained through the admin API
// (HAProxy's `set server state drain`) takes no new connection at all, skipped or not; its open ones stay. ip-hash
// keeps a client on one server by weighted rendezvous hashing. The balancer is pure (the clock is passed in; state lives across reloads, keyed by
// upstream name and server URL); dialFromPool (an upgrade's failover) and logServerFailed are what the reverse
// listener and the HTTP forwarder share.
import type { ServerPool } from '../config/resolve.ts';
import { formatDuration } from '../config/units.ts';
import { WsgateError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';

type ServerState = {
  open: number;
  downUntil: number;
  failures: number;
  checkedDown: boolean;
  /** Active checks in a row that disagree with checkedDown (fails while up, passes while down). */
  checkStreak: number;
  /** Smooth weighted round robin's running weight. */
  current: number;
  /** Set through the admin API: no new connections, open ones stay. */
  drained: boolean;
};

/** How many check results in a row change a server's state (healthCheck fails / passes). */
export type CheckThresholds = { fails: number; passes: number };

/** One server of a pool as metrics and the admin API show it. */
export type ServerSnapshot = {
  upstream: string;
  server: string;
  open: number;
  failures: number;
  /** Passed over for now: a failed connection (for failTimeout) or failed active checks. */
  skipped: boolean;
  /** Milliseconds left of a failed connection's failTimeout (0 when none runs). */
  skippedForMs: number;
  /** Active checks took it out. */
  checkedDown: boolean;
  drained: boolean;
  /** Connections dialed ahead (upstreams[].preconnect) and held unused now; the listeners add them (withSpares). */
  spares?: number;
};

/** FNV-1a, 32 bits, with murmur3's finalizer: keys that differ in their last characters land far apart. */
function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/**
 * Weighted rendezvous hashing: each client goes to the server scoring highest for it. A server that is skipped or
 * added moves only the clients it had, or takes some from each (in proportion to its weight), where
 * `hash % servers` would move nearly all of them. With equal weights the order is the hash's own.
 */
function highestWeight(servers: readonly string[], client: string, weights: ServerPool['weights']): string {
  let best = servers[0]!;
  let bestScore = -1;
  for (const server of servers) {
    // A uniform (0, 1) from the hash; -weight / ln(u) is the score whose winner follows the weights.
    const u = (hash32(`${client}\n${server}`) + 0.5) / 2 ** 32;
    const score = (weights?.[server] ?? 1) / -Math.log(u);
    if (score > bestScore) {
      best = server;
      bestScore = score;
    }
  }
  return best;
}

/** Backups only when no other server is in the list. */
function withoutBackups(servers: readonly string[], backups: ServerPool['backups']): readonly string[] {
  if (backups === undefined) return servers;
  const primaries = servers.filter((s) => !backups.includes(s));
  return primaries.length > 0 ? primaries : servers;
}

export class UpstreamBalancer {
  #servers = new Map<string, ServerState>();
  #turn = new Map<string, number>();

  #state(name: string, server: string): ServerState {
    const key = `${name}\n${server}`;
    let state = this.#servers.get(key);
    if (state === undefined) {
      state = { open: 0, downUntil: 0, failures: 0, checkedDown: false, checkStreak: 0, current: 0, drained: false };
      this.#servers.set(key, state);
    }
    return state;
  }

  /**
   * The server for the next connection; `tried` are left out (an upgrade's failover), unless nothing else is left.
   * `client` (its address) is what ip-hash keeps on one server; `balance` overrides the pool's (requests go in turn
   * in a least-connections pool). Throws WSG_UPSTREAM_DRAINED when every server is drained.
   */
  pick(
    name: string,
    pool: ServerPool,
    now: number,
    tried: ReadonlySet<string> = new Set(),
    client?: string | undefined,
    balance: ServerPool['balance'] = pool.balance,
  ): string {
    const open = this.#undrained(name, pool);
    if (open.length === 0) throw new WsgateError('WSG_UPSTREAM_DRAINED', { upstream: name });
    const untried = open.filter((s) => !tried.has(s));
    const candidates = untried.length > 0 ? untried : open;
    const up = candidates.filter((s) => !this.isDown(name, s, now));
    const from = withoutBackups(up.length > 0 ? up : candidates, pool.backups);
    const weight = (server: string) => pool.weights?.[server] ?? 1;
    if (balance === 'ip-hash' && client !== undefined) return highestWeight(from, client, pool.weights);
    if (balance !== 'least-connections') return this.#weightedTurn(name, from, weight);
    // Fewest open per unit of weight; among equals, the turn moves on every pick, so ties rotate.
    const turn = this.#turn.get(name) ?? 0;
    this.#turn.set(name, turn + 1);
    let best = from[turn % from.length]!;
    let bestLoad = this.#state(name, best).open / weight(best);
    for (let i = 1; i < from.length; i++) {
      const server = from[(turn + i) % from.length]!;
      const load = this.#state(name, server).open / weight(server);
      if (load < bestLoad) {
        best = server;
        bestLoad = load;
      }
    }
    return best;
  }

  /** The servers that take new connections. */
  #undrained(name: string, pool: ServerPool): string[] {
    return pool.servers.filter((s) => !this.#state(name, s).drained);
  }

  /** How many servers a failover could still go to: neither tried nor drained. */
  untried(name: string, pool: ServerPool, tried: ReadonlySet<string>): number {
    return this.#undrained(name, pool).filter((s) => !tried.has(s)).length;
  }

  /** Drains a server (no new connections) or makes it ready again; true when that changed its state. */
  setDrained(name: string, server: string, drained: boolean): boolean {
    const state = this.#state(name, server);
    if (state.drained === drained) return false;
    state.drained = drained;
    return true;
  }

  /** Every drained server, as [upstream, server]: what a worker is told at start and on each change. */
  drainedServers(): [string, string][] {
    return [...this.#servers].filter(([, state]) => state.drained).map(([key]) => key.split('\n') as [string, string]);
  }

  /** Drains exactly the servers listed and makes every other ready (a worker taking the primary's list). */
  syncDrained(servers: readonly (readonly [string, string])[]): void {
    const keys = new Set(servers.map(([upstream, server]) => `${upstream}\n${server}`));
    for (const [key, state] of this.#servers) state.drained = keys.has(key);
    for (const [upstream, server] of servers) this.#state(upstream, server).drained = true;
  }

  /**
   * nginx's smooth weighted round robin: every pick adds each server's weight to its running weight and takes the
   * highest, which then gives back the total. Weights 5, 1, 1 pick a a b a c a a, not a a a a a b c.
   */
  #weightedTurn(name: string, from: readonly string[], weight: (server: string) => number): string {
    let best: ServerState | undefined;
    let bestServer = from[0]!;
    let total = 0;
    for (const server of from) {
      const state = this.#state(name, server);
      state.current += weight(server);
      total += weight(server);
      if (best === undefined || state.current > best.current) {
        best = state;
        bestServer = server;
      }
    }
    best!.current -= total;
    return bestServer;
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
   * An active check's result (upstream/health-check.ts): `fails` failed ones in a row take the server out until
   * `passes` in a row succeed. Returns the change, if any, for the log.
   */
  checked(
    name: string,
    server: string,
    ok: boolean,
    thresholds: CheckThresholds = { fails: 1, passes: 1 },
  ): 'down' | 'up' | undefined {
    const state = this.#state(name, server);
    if (state.checkedDown === !ok) {
      state.checkStreak = 0;
      return undefined;
    }
    state.checkStreak++;
    if (state.checkStreak < (ok ? thresholds.passes : thresholds.fails)) return undefined;
    state.checkStreak = 0;
    state.checkedDown = !ok;
    return ok ? 'up' : 'down';
  }

  /** Takes the checking worker's word for a server's state (with --workers, only one worker runs the checks). */
  setCheckedDown(name: string, server: string, down: boolean): void {
    const state = this.#state(name, server);
    state.checkedDown = down;
    state.checkStreak = 0;
  }

  /** Forgets every active check's result (a reload starts the checks again, and drops those no longer configured). */
  clearChecks(): void {
    for (const state of this.#servers.values()) {
      state.checkedDown = false;
      state.checkStreak = 0;
    }
  }

  /** Every server seen so far: open connections, failed connections since the start, skipped or drained now. */
  snapshot(now: number): ServerSnapshot[] {
    return [...this.#servers].map(([key, state]) => {
      const [upstream, server] = key.split('\n') as [string, string];
      return {
        upstream,
        server,
        open: state.open,
        failures: state.failures,
        skipped: state.downUntil > now || state.checkedDown,
        skippedForMs: Math.max(0, state.downUntil - now),
        checkedDown: state.checkedDown,
        drained: state.drained,
      };
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
      const next = balancer.untried(target.name, pool, tried) > 0;
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
