// Counts connections per client so one client cannot take every slot of a listener (limits.maxConnectionsPerClient).
// An IPv6 client counts as its network (limits.clientIpv6Prefix, net/ip.ts clientKey). Pure bookkeeping; the
// socket side (the refusal written) is admit-socket.ts.

import { clientKey, parseIp, unmapIp } from '../net/ip.ts';

/** The prefix an IPv6 client is counted by when limits.clientIpv6Prefix is not given. */
export const DEFAULT_CLIENT_IPV6_PREFIX = 64;

/** What the per-client limits read of limits.*. */
export type ClientLimits = {
  /** Loopback clients are not counted (default true). */
  exemptLoopbackClients?: boolean | undefined;
  /** IPv6 clients are counted by their network of this many bits (default 64; 128: each address). */
  clientIpv6Prefix?: number | undefined;
};

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

/**
 * The key the per-client limits count `address` under, or undefined when they leave it out (loopback). An IPv6
 * client is its network: a client that rotates addresses inside its /64 is still one client.
 */
export function clientKeyOf(address: string, limits: ClientLimits): string | undefined {
  if (!countsClient(address, limits.exemptLoopbackClients ?? true)) return undefined;
  return clientKey(address, limits.clientIpv6Prefix ?? DEFAULT_CLIENT_IPV6_PREFIX);
}

/** Log fields naming a refused client: its address, and the network it was counted as when that is not itself. */
export function clientFieldsOf(address: string, key: string): { client: string; clientNetwork?: string } {
  return key.includes('/') ? { client: address, clientNetwork: key } : { client: address };
}

export class ClientCounter {
  #counts = new Map<string, number>();

  /**
   * Counts a new connection under `key` (clientKeyOf); false when it is one over the limit (it must be refused,
   * and released on close like the others).
   */
  admit(key: string, limit: number): boolean {
    const count = (this.#counts.get(key) ?? 0) + 1;
    this.#counts.set(key, count);
    return count <= limit;
  }

  release(key: string): void {
    if (!this.#counts.has(key)) return;
    const left = (this.#counts.get(key) ?? 1) - 1;
    if (left <= 0) this.#counts.delete(key);
    else this.#counts.set(key, left);
  }

  /** Clients currently counted (for tests and, later, metrics). */
  get size(): number {
    return this.#counts.size;
  }
}
