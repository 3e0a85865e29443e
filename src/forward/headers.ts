// Header rules of a forward proxy (RFC 9110 §7.6): hop-by-hop fields and whatever Connection names end here (so
// Proxy-Authorization never travels on), Via is appended in both directions, and a Via entry of this very wsgate
// on an incoming request means a loop. Pure.
import { headerTokens } from '../http/head.ts';
import { forwardedTe, HOP_BY_HOP } from '../http/hop-by-hop.ts';

export type HeaderObject = Record<string, string | string[] | undefined>;

/**
 * Request fields the forwarder sets itself: Host is the target's authority (RFC 9112 §3.2.2: a proxy replaces the
 * client's), and Expect is answered by Node's server before the body is read (undici refuses to send it).
 */
const UNDICI_MANAGED = new Set(['expect', 'host']);

/**
 * A copy without hop-by-hop fields, the fields Connection names, and (for requests) what undici manages itself; a
 * request's TE keeps its trailers member.
 */
export function endToEndHeaders(
  headers: HeaderObject,
  direction: 'request' | 'response',
): Record<string, string | string[]> {
  const named = new Set([...headerTokens(headers['connection']), ...headerTokens(headers['proxy-connection'])]);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    if (direction === 'request' && UNDICI_MANAGED.has(lower)) continue;
    out[lower] = value;
  }
  // TE's trailers member goes on, as on the reverse path (http/hop-by-hop.ts forwardedTe).
  const te = direction === 'request' ? forwardedTe(headers['te']) : undefined;
  if (te !== undefined) out['te'] = te;
  return out;
}

/** Appends this proxy's entry to a Via header (RFC 9110 §7.6.3). */
export function appendVia(existing: string | string[] | undefined, entry: string): string {
  const prior = Array.isArray(existing) ? existing.join(', ') : existing;
  return prior === undefined || prior.trim() === '' ? entry : `${prior}, ${entry}`;
}

/** Whether a Via header already names this wsgate (`pseudonym` as received-by): the request has looped. */
export function viaNames(via: string | string[] | undefined, pseudonym: string): boolean {
  if (via === undefined) return false;
  const text = Array.isArray(via) ? via.join(',') : via;
  return text
    .split(',')
    .map((entry) => entry.trim().split(/\s+/)[1]?.toLowerCase())
    .some((receivedBy) => receivedBy === pseudonym.toLowerCase());
}

/** The Via entry of one wsgate instance: "1.1 wsgate-3f9a1c". */
export function viaEntry(pseudonym: string): string {
  return `1.1 ${pseudonym}`;
}
