// Token buckets for WebSocket handshakes, per listener and per client address.
// - limits.maxHandshakesPerSecond (the listener): when a server restarts, every client it had reconnects at once; the
//   bucket lets them through at a pace the upstreams can take and refuses the rest with 503 (Retry-After: 1) before
//   anything is dialed, so the clients' own reconnect backoff spreads them out.
// - limits.maxHandshakesPerClientPerSecond (each client address): one client in a reconnect loop without backoff (a
//   common bug) gets 429 (Retry-After: 1) and cannot use up the listener's rate or the upstreams. Loopback is exempt
//   as for maxConnectionsPerClient. A client's bucket is forgotten once it is full again (a second without
//   handshakes), so memory follows the clients of the last second.
// A bucket holds one second's worth, so a quiet listener or client can take that many at once. For each kind, one
// warn line when refusals start, then one line a second with how many were refused (and from how many clients),
// never one per refusal during a storm.
import { WsgateError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { type ClientLimits, clientFieldsOf, clientKeyOf } from './admission.ts';

const REPORT_MS = 1000;

type Bucket = { tokens: number; last: number };

/** Takes a token from `bucket` (refilled at `perSecond`, holding at most that many); false when none is left. */
function take(bucket: Bucket, now: number, perSecond: number): boolean {
  bucket.tokens = Math.min(perSecond, bucket.tokens + ((now - bucket.last) * perSecond) / 1000);
  bucket.last = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

/** One line when refusals start, then a count a second while they go on. */
class RefusalReport {
  #log: Logger;
  readonly #event: string;
  #refused = 0;
  #clients = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(log: Logger, event: string) {
    this.#log = log;
    this.#event = event;
  }

  /** Lines from now on go to `log` (the listener was renamed by a reload). */
  set log(log: Logger) {
    this.#log = log;
  }

  refused(err: WsgateError, fields: Record<string, unknown>, summary: (refused: number, clients: number) => string) {
    if (this.#timer === undefined) {
      this.#log.warn({ event: this.#event, code: err.code, ...fields }, err.message);
      this.#schedule(err, fields, summary);
      return;
    }
    this.#refused++;
    // Clients as the limit counts them: an IPv6 client's network is one client.
    const who = fields['clientNetwork'] ?? fields['client'];
    if (typeof who === 'string') this.#clients.add(who);
  }

  #schedule(
    err: WsgateError,
    fields: Record<string, unknown>,
    summary: (refused: number, clients: number) => string,
  ): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#refused === 0) return;
      const refused = this.#refused;
      const clients = this.#clients.size;
      this.#refused = 0;
      this.#clients.clear();
      const { client: _, clientNetwork: _network, ...rest } = fields;
      this.#log.warn(
        { event: this.#event, code: err.code, ...rest, refused, ...(clients > 0 ? { clients } : {}) },
        summary(refused, clients),
      );
      this.#schedule(err, fields, summary);
    }, REPORT_MS);
    this.#timer.unref();
  }
}

export type HandshakeLimits = ClientLimits & {
  maxHandshakesPerSecond?: number | undefined;
  maxHandshakesPerClientPerSecond?: number | undefined;
};

export class HandshakeRate {
  #listener: string;
  #bucket: Bucket | undefined;
  #clients = new Map<string, Bucket>();
  #swept = 0;
  readonly #listenerReport: RefusalReport;
  readonly #clientReport: RefusalReport;

  constructor(listener: string, log: Logger) {
    this.#listener = listener;
    this.#listenerReport = new RefusalReport(log, 'upgrade.rate_limited');
    this.#clientReport = new RefusalReport(log, 'upgrade.client_rate_limited');
  }

  /** A reload renamed the listener: refusals from now on name the new one (its buckets carry on). */
  rename(listener: string, log: Logger): void {
    this.#listener = listener;
    this.#listenerReport.log = log;
    this.#clientReport.log = log;
  }

  /** Client addresses with a bucket now (for tests: the map does not outgrow the last second's clients). */
  get trackedClients(): number {
    return this.#clients.size;
  }

  /**
   * Takes a token for one handshake from `client` (its address): the client's bucket first, so that a client over
   * its own limit does not use up the listener's. The error to refuse it with (logged as above) when none is left.
   */
  admit(now: number, limits: HandshakeLimits, client: string | undefined): WsgateError | undefined {
    const perClient = limits.maxHandshakesPerClientPerSecond ?? 0;
    const key = perClient > 0 && client !== undefined ? clientKeyOf(client, limits) : undefined;
    if (key !== undefined) {
      const refusal = this.#admitClient(now, perClient, client!, key);
      if (refusal !== undefined) return refusal;
    }
    const perSecond = limits.maxHandshakesPerSecond ?? 0;
    if (perSecond <= 0) return undefined;
    this.#bucket ??= { tokens: perSecond, last: now };
    if (take(this.#bucket, now, perSecond)) return undefined;
    const err = new WsgateError('WSG_HANDSHAKE_RATE', { listener: this.#listener, rate: perSecond });
    this.#listenerReport.refused(
      err,
      { limit: perSecond },
      (refused) =>
        `${refused} more WebSocket handshakes refused in the last second (limits.maxHandshakesPerSecond ${perSecond})`,
    );
    return err;
  }

  /** `key`: what the client is counted as (its address, or an IPv6 client's network). */
  #admitClient(now: number, perSecond: number, client: string, key: string): WsgateError | undefined {
    this.#sweep(now, perSecond);
    let bucket = this.#clients.get(key);
    if (bucket === undefined) {
      bucket = { tokens: perSecond, last: now };
      this.#clients.set(key, bucket);
    }
    if (take(bucket, now, perSecond)) return undefined;
    const fields = clientFieldsOf(client, key);
    const who = fields.clientNetwork === undefined ? client : `${client} (counted as its network ${key})`;
    const err = new WsgateError('WSG_HANDSHAKE_CLIENT_RATE', { client: who, rate: perSecond });
    this.#clientReport.refused(
      err,
      { ...fields, limit: perSecond },
      (refused, clients) =>
        `${refused} more WebSocket handshakes refused in the last second from ${clients} client${clients === 1 ? '' : 's'} (limits.maxHandshakesPerClientPerSecond ${perSecond})`,
    );
    return err;
  }

  /** Once a second: a bucket that has had a second to refill is full, the same as no bucket. */
  #sweep(now: number, perSecond: number): void {
    if (now - this.#swept < REPORT_MS) return;
    this.#swept = now;
    for (const [client, bucket] of this.#clients) {
      if (bucket.tokens + ((now - bucket.last) * perSecond) / 1000 >= perSecond) this.#clients.delete(client);
    }
  }
}
