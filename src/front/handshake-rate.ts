// limits.maxHandshakesPerSecond: a token bucket per listener for WebSocket handshakes. When a server restarts, every
// client it had reconnects at once; the bucket lets them through at a pace the upstreams can take and refuses the
// rest with 503 (Retry-After: 1) before anything is dialed, so the clients' own reconnect backoff spreads them out.
// The bucket holds one second's worth, so a listener that is quiet can take that many at once. One warn line when
// refusals start, then one line a second with how many were refused, never one per refusal during a storm.
import { WsgateError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';

const REPORT_MS = 1000;

export class HandshakeRate {
  readonly #listener: string;
  readonly #log: Logger;
  #tokens = -1;
  #last = 0;
  #refused = 0;
  #report: NodeJS.Timeout | undefined;

  constructor(listener: string, log: Logger) {
    this.#listener = listener;
    this.#log = log;
  }

  /** Takes a token for one handshake; the error to refuse it with (logged as above) when none is left. */
  admit(now: number, perSecond: number): WsgateError | undefined {
    if (perSecond <= 0) return undefined;
    this.#tokens =
      this.#tokens < 0 ? perSecond : Math.min(perSecond, this.#tokens + ((now - this.#last) * perSecond) / 1000);
    this.#last = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return undefined;
    }
    const err = new WsgateError('WSG_HANDSHAKE_RATE', { listener: this.#listener, rate: perSecond });
    if (this.#report === undefined) {
      this.#log.warn({ event: 'upgrade.rate_limited', code: err.code, limit: perSecond }, err.message);
      this.#report = setTimeout(() => this.#flush(perSecond, err), REPORT_MS);
      this.#report.unref();
    } else this.#refused++;
    return err;
  }

  #flush(perSecond: number, err: WsgateError): void {
    this.#report = undefined;
    if (this.#refused === 0) return;
    const refused = this.#refused;
    this.#refused = 0;
    this.#log.warn(
      { event: 'upgrade.rate_limited', code: err.code, limit: perSecond, refused },
      `${refused} more WebSocket handshakes refused in the last second (limits.maxHandshakesPerSecond ${perSecond})`,
    );
    this.#report = setTimeout(() => this.#flush(perSecond, err), REPORT_MS);
    this.#report.unref();
  }
}
