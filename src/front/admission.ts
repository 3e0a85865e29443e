// Counts connections per client address so one address cannot take every slot of a listener
// (limits.maxConnectionsPerClient). Pure bookkeeping; the listener does the I/O.

import { parseIp, unmapIp } from '../net/ip.ts';

/**
 * Loopback clients are exempt: on a developer machine every browser, CLI and test connects from 127.0.0.1. The
 * address is read, not its text matched: a PROXY header's client is written in canonical form, where the
 * "::ffff:127.0.0.1" Node reports for a dual-stack socket is "::ffff:7f00:1".
 */
export function isLoopbackAddress(address: string): boolean {
  const ip = parseIp(address);
  if (ip === undefined) return false;
  const { family, bytes } = unmapIp(ip);
  return family === 4 ? bytes[0] === 127 : bytes.every((b, i) => b === (i === 15 ? 1 : 0));
}

/** Whether the per-client limits count this address (limits.exemptLoopbackClients leaves loopback out). */
export function countsClient(address: string, exemptLoopback = true): boolean {
  return !(exemptLoopback && isLoopbackAddress(address));
}

export class ClientCounter {
  #counts = new Map<string, number>();

  /**
   * Counts a new connection; false when it is one over the limit (it must be refused, and released on close).
   * `exemptLoopback` (limits.exemptLoopbackClients) leaves loopback clients uncounted.
   */
  admit(address: string, limit: number, exemptLoopback = true): boolean {
    if (!countsClient(address, exemptLoopback)) return true;
    const count = (this.#counts.get(address) ?? 0) + 1;
    this.#counts.set(address, count);
    return count <= limit;
  }

  release(address: string): void {
    if (!this.#counts.has(address)) return;
    const left = (this.#counts.get(address) ?? 1) - 1;
    if (left <= 0) this.#counts.delete(address);
    else this.#counts.set(address, left);
  }

  /** Addresses currently counted (for tests and, later, metrics). */
  get size(): number {
    return this.#counts.size;
  }
}
