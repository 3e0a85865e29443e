// Proxy-originated keepalive (`keepalive: 25s` or `{ interval, to }`): when a connection has been silent for the
// interval, wsgate pings the side(s) itself, so middleboxes with idle timeouts (load balancers, corporate proxies)
// see traffic. Owns the silence timer, the ping payloads (so the matching pongs can be recognised and consumed
// rather than forwarded) and the counts; the session or the relay writes the frames where a frame may go.
import type { Direction } from '../events.ts';

export type KeepaliveSide = 'client' | 'server' | 'both';

/** The resolved setting (config/shape-relay.ts): ping after `intervalMs` of silence, toward `to`. */
export type KeepaliveSettings = { intervalMs: number; to: KeepaliveSide };

export type KeepaliveCounts = { pings: number; pongs: number };

/** The direction a frame to `side` travels in. */
export function directionTo(side: 'client' | 'server'): Direction {
  return side === 'client' ? 'toClient' : 'toUpstream';
}

// Recognisable in a capture, and unique per ping so a late pong is matched to its own ping.
const PREFIX = 'wsgate-keepalive-';

/**
 * The silence timer of one connection. `activity()` is called on every chunk read (cheap: a timestamp); the timer
 * only looks at it when it fires. Pings that are never answered are not resent faster: one per interval.
 */
export class Keepalive {
  readonly counts: KeepaliveCounts = { pings: 0, pongs: 0 };
  #settings: KeepaliveSettings;
  #ping: (side: 'client' | 'server', payload: Buffer) => void;
  #last = performance.now();
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  #outstanding = new Set<string>();
  #stopped = false;

  constructor(settings: KeepaliveSettings, ping: (side: 'client' | 'server', payload: Buffer) => void) {
    this.#settings = settings;
    this.#ping = ping;
    this.#arm(settings.intervalMs);
  }

  activity(): void {
    this.#last = performance.now();
  }

  /** True (and counted) when `payload` answers one of wsgate's pings: the pong is wsgate's, not the peer's. */
  consumePong(payload: Uint8Array): boolean {
    if (this.#outstanding.size === 0 || payload.length < PREFIX.length) return false;
    const key = Buffer.from(payload).toString('latin1');
    if (!this.#outstanding.delete(key)) return false;
    this.counts.pongs += 1;
    return true;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.#fire(), Math.max(1, ms));
    this.#timer.unref();
  }

  #fire(): void {
    const silent = performance.now() - this.#last;
    const interval = this.#settings.intervalMs;
    if (silent < interval) {
      this.#arm(interval - silent);
      return;
    }
    const to = this.#settings.to;
    for (const side of ['client', 'server'] as const) {
      if (to !== 'both' && to !== side) continue;
      this.#seq += 1;
      const key = `${PREFIX}${this.#seq}`;
      // A peer that never answers must not grow this: keep the last few.
      if (this.#outstanding.size >= 8) this.#outstanding.delete(this.#outstanding.values().next().value as string);
      this.#outstanding.add(key);
      this.counts.pings += 1;
      this.#ping(side, Buffer.from(key, 'latin1'));
    }
    this.#arm(interval);
  }
}
