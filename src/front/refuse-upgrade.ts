// An upgrade answered with wsgate's own error before any upstream was asked: by the front's checks (request line,
// target, the handshake gate and rates) or by the entry (no route, a denied Origin, proxy auth, the forward
// policy). The answer goes out first; then the entry records it as a failed handshake (FrontHandler.upgradeRefused).
import type net from 'node:net';
import type { WsgateError } from '../errors.ts';
import type { HeaderPairs } from '../http/head.ts';
import { reportInternal } from '../log/internal.ts';
import type { Logger } from '../log/logger.ts';
import { writeErrorToSocket } from './error-response.ts';

/** What an entry knows of a refused upgrade: a 407's challenge to send, the route and upstream it had chosen. */
export type RefusalFacts = { headers?: HeaderPairs; route?: string; upstream?: string };

/** `started`: performance.now() when the request head was read. */
export type UpgradeRefusal = RefusalFacts & { err: WsgateError; started: number };

export type RefuseUpgrade = (err: WsgateError, facts?: RefusalFacts) => void;

/** The rates' refusals, which come in storms (a reconnect loop, a restart's herd). */
const STORM_CODES: ReadonlySet<string> = new Set(['WSG_HANDSHAKE_RATE', 'WSG_HANDSHAKE_CLIENT_RATE']);

/**
 * One record a second per storm code, as handshake-rate.ts writes one line a second: a storm must not cost a record
 * (and a traffic-file line) per refusal, nor push every other failed record out of the store.
 */
export class StormSampler {
  #last = new Map<string, number>();

  records(code: string, now: number): boolean {
    if (!STORM_CODES.has(code)) return true;
    const last = this.#last.get(code);
    if (last !== undefined && now - last < 1000) return false;
    this.#last.set(code, now);
    return true;
  }
}

export function refuserOf(
  socket: net.Socket,
  started: number,
  log: Logger,
  record: ((refusal: UpgradeRefusal) => void) | undefined,
  storms: StormSampler,
): RefuseUpgrade {
  return (err, facts = {}) => {
    writeErrorToSocket(socket, err, facts.headers);
    if (record === undefined || !storms.records(err.code, performance.now())) return;
    try {
      record({ ...facts, err, started });
    } catch (error) {
      // A bug in the record must not leave the answer half done or throw into the caller.
      reportInternal(log, error);
    }
  };
}
