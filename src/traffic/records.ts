// The records of the traffic store, as the admin API, the live feed, the session file and the HAR export read
// them: a connection (its handshake, counters, end), a message (with the tap's preview), a feed event, and the
// filters the API applies to them. Pure: types and small functions over values.
import type { WsEndEvent } from '../events.ts';

export type HeaderPairs = [name: string, value: string][];
type Counters = { frames: number; messages: number; bytes: number };

export type StoredMessage = {
  seq: number;
  conn: string;
  time: string;
  dir: 'toUpstream' | 'toClient';
  kind: string;
  size: number;
  decodedSize?: number | undefined;
  compressed: boolean;
  fragments: number;
  /** text: UTF-8; binary: hex (as the tap reports it); absent below tap level payload. */
  preview?: string | undefined;
  /** The preview is shorter than the message (tap.previewBytes). */
  truncated?: boolean | undefined;
  note?: string | undefined;
  rttMs?: number | undefined;
  code?: number | undefined;
  reason?: string | undefined;
};

export type StoredConnection = {
  id: string;
  listener: string | undefined;
  route: string;
  host: string | undefined;
  path: string;
  client: string | undefined;
  upstream: string;
  subprotocol: string | undefined;
  extensions: string | undefined;
  tap: string;
  state: 'open' | 'closed';
  openedAt: string;
  closedAt: string | undefined;
  handshakeMs: number;
  durationMs: number | undefined;
  request: HeaderPairs;
  forwarded: HeaderPairs;
  response: HeaderPairs;
  toUpstream: Counters;
  toClient: Counters;
  end: Omit<WsEndEvent, 'type' | 'conn' | 'route' | 'time' | 'toUpstream' | 'toClient'> | undefined;
  violations: { dir: string; code: string; message: string; time: string }[];
  rules: { dir: string; rule: string; action: string; detail: string; mark?: string | undefined; time: string }[];
  /** Messages of this connection dropped from memory (budget or per-connection cap). */
  evictedMessages: number;
  /** Messages seen whose preview was cut to tap.previewBytes. */
  truncatedMessages: number;
};

/** One event of the live feed: what the API would answer for that record. */
export type FeedEvent =
  | { seq: number; type: 'open'; connection: ConnectionSummary }
  | { seq: number; type: 'message'; message: StoredMessage }
  | { seq: number; type: 'end'; connection: ConnectionSummary }
  | { seq: number; type: 'violation' | 'rule'; conn: string; detail: Record<string, unknown> };

export type ConnectionSummary = Omit<StoredConnection, 'request' | 'forwarded' | 'response' | 'violations' | 'rules'>;

export function summarize(c: StoredConnection): ConnectionSummary {
  const { request: _r, forwarded: _f, response: _s, violations: _v, rules: _u, ...rest } = c;
  return rest;
}

export type ConnectionFilter = {
  state?: 'open' | 'closed' | undefined;
  host?: string | undefined;
  route?: string | undefined;
  text?: string | undefined;
};

export type MessageQuery = {
  after: number;
  limit: number;
  direction?: 'toUpstream' | 'toClient' | undefined;
  type?: string | undefined;
  text?: string | undefined;
};

export function connectionText(c: StoredConnection): string {
  return [c.id, c.route, c.listener, c.host, c.path, c.client, c.upstream, c.subprotocol, c.end?.termination]
    .filter((s) => s !== undefined)
    .join(' ')
    .toLowerCase();
}

export function messageMatches(m: StoredMessage, q: Omit<MessageQuery, 'after' | 'limit'>): boolean {
  if (q.direction !== undefined && m.dir !== q.direction) return false;
  if (q.type !== undefined && m.kind !== q.type) return false;
  if (q.text !== undefined && !(m.preview ?? '').toLowerCase().includes(q.text.toLowerCase())) return false;
  return true;
}
