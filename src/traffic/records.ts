// The records of the traffic store, as the admin API, the live feed, the session file and the HAR export read
// them: a connection (its handshake, counters, end), a message (with the tap's preview), a feed event, and the
// filters the API applies to them. Pure: types and small functions over values.
import type { MessageData, WsEndEvent, WsFailedEvent, WsOpenEvent, WsRuleEvent } from '../events.ts';
import type { ValueRedactor } from '../log/redact.ts';

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
  /** "wsgate" for a message wsgate itself sent (admin send, rule inject, keepalive ping). */
  origin?: 'wsgate' | undefined;
  /** Bytes of the whole payload the store keeps (tap payload; inspector.store.maxMessageBytes at most). */
  dataBytes?: number | undefined;
  /**
   * The whole payload (non-enumerable: JSON, the feed and lists never carry it; GET …/messages/:seq and HAR do,
   * through messageData()).
   */
  readonly data?: MessageData | undefined;
};

/** A rule event as its connection keeps it: linked to the message it acted on and, for a hold's steps, the held one. */
export function ruleHit(e: WsRuleEvent, messageSeq: number | undefined): StoredConnection['rules'][number] {
  const { dir, rule, action, detail, mark, time } = e;
  const hit: StoredConnection['rules'][number] = { dir, rule, action, detail, mark, time };
  if (messageSeq !== undefined) hit.messageSeq = messageSeq;
  if (e.held !== undefined) hit.held = e.held.id;
  return hit;
}

/** Gives a stored message its whole payload without making it part of what lists and the feed serialise. */
export function attachStoredData(m: StoredMessage, data: MessageData): void {
  Object.defineProperty(m, 'data', { value: data, enumerable: false });
  m.dataBytes = typeof data.bytes === 'string' ? Buffer.byteLength(data.bytes) : data.bytes.length;
}

/** Bytes the whole payload costs in memory (strings counted as UTF-16). */
export function dataCost(m: StoredMessage): number {
  const d = m.data;
  if (d === undefined) return 0;
  return typeof d.bytes === 'string' ? d.bytes.length * 2 : d.bytes.length;
}

/**
 * A message's payload for an API answer or a HAR: the whole kept payload when there is one, else what the preview
 * holds (whole when it was not cut). Text as text; everything else base64.
 */
export function messageData(m: StoredMessage): { data: string; encoding: 'text' | 'base64'; truncated: boolean } {
  const text = m.kind === 'text';
  const d = m.data;
  if (d !== undefined) {
    const data =
      typeof d.bytes === 'string'
        ? d.bytes
        : Buffer.from(d.bytes.buffer, d.bytes.byteOffset, d.bytes.length).toString(text ? 'utf8' : 'base64');
    return { data, encoding: text || typeof d.bytes === 'string' ? 'text' : 'base64', truncated: d.truncated };
  }
  if (m.preview === undefined) return { data: '', encoding: text ? 'text' : 'base64', truncated: m.size > 0 };
  if (text) return { data: m.preview, encoding: 'text', truncated: m.truncated === true };
  return {
    data: Buffer.from(m.preview, 'hex').toString('base64'),
    encoding: 'base64',
    truncated: m.truncated === true,
  };
}

export type StoredConnection = {
  id: string;
  listener: string | undefined;
  /** Undefined for a handshake refused before a route was chosen (state 'failed'). */
  route: string | undefined;
  host: string | undefined;
  path: string;
  client: string | undefined;
  /** The proxy between the client and wsgate (a trustForwarded peer, a PROXY protocol balancer), when there is one. */
  peer?: string | undefined;
  upstream: string | undefined;
  /** Which server of an upstream with several took it (upstreams[].servers). */
  server?: string | undefined;
  subprotocol: string | undefined;
  extensions: string | undefined;
  tap: string | undefined;
  /** 'failed': a handshake that did not open (`failure` says how); it has no messages. */
  state: 'open' | 'closed' | 'failed';
  failure?: { status: number; code?: string; reason: string } | undefined;
  openedAt: string;
  closedAt: string | undefined;
  handshakeMs: number;
  /** events.ts WsOpenEvent.dialMs: until the upstream connection was made; the rest is the upstream's answer. */
  dialMs?: number | undefined;
  /** events.ts WsOpenEvent.tlsMs: the upstream connection's TLS handshake, part of dialMs. */
  tlsMs?: number | undefined;
  /** events.ts WsFailedEvent.endedInDial: the handshake failed while its upstream connection was being made. */
  endedInDial?: true | undefined;
  /** events.ts WsOpenEvent.spare: the upstream connection was opened before the handshake (upstreams[].preconnect). */
  spare?: true | undefined;
  durationMs: number | undefined;
  request: HeaderPairs;
  forwarded: HeaderPairs;
  response: HeaderPairs;
  toUpstream: Counters;
  toClient: Counters;
  end: Omit<WsEndEvent, 'type' | 'conn' | 'route' | 'time' | 'toUpstream' | 'toClient'> | undefined;
  violations: { dir: string; code: string; message: string; time: string }[];
  rules: {
    dir: string;
    rule: string;
    action: string;
    detail: string;
    mark?: string | undefined;
    time: string;
    /** The seq of the message the hit acted on, when it acted on one. */
    messageSeq?: number | undefined;
    /** A hold action's step (hold, forward, edit, drop, timeout): the held message's id, as GET /api/held has it. */
    held?: string | undefined;
  }[];
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
  state?: 'open' | 'closed' | 'failed' | undefined;
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

/**
 * What `GET /api/connections?text=` searches, lower-case: the same fields, in the same order, as the inspector's
 * filter box (ui/format.js connectionSearchText; test/unit/inspector/search-text.test.ts keeps them equal), so a
 * script finds what a person finds: a failed handshake by its status, code or reason, a connection by close code.
 */
export function connectionText(c: StoredConnection): string {
  return [
    c.id,
    c.state,
    c.listener,
    c.route,
    c.host,
    c.path,
    c.client,
    c.peer,
    c.upstream,
    c.server,
    c.subprotocol,
    c.extensions,
    c.end?.termination,
    c.end?.closeCode,
    c.failure?.status,
    c.failure?.code,
    c.failure?.reason,
  ]
    .filter((v) => v !== undefined && v !== null)
    .join(' ')
    .toLowerCase();
}

export function messageMatches(m: StoredMessage, q: Omit<MessageQuery, 'after' | 'limit'>): boolean {
  if (q.direction !== undefined && m.dir !== q.direction) return false;
  if (q.type !== undefined && m.kind !== q.type) return false;
  if (q.text !== undefined && !(m.preview ?? '').toLowerCase().includes(q.text.toLowerCase())) return false;
  return true;
}

function hostOf(request: HeaderPairs): string | undefined {
  for (const [name, value] of request) if (name.toLowerCase() === 'host') return value;
  return undefined;
}

/** What an opened and a failed record share: who, where to, the handshake's headers, and no messages yet. */
function handshakeRecord(e: WsOpenEvent | WsFailedEvent, listener: string | undefined) {
  return {
    id: e.conn,
    listener,
    route: e.route,
    host: hostOf(e.request),
    path: e.path,
    client: e.client,
    ...(e.peer === undefined ? {} : { peer: e.peer }),
    upstream: e.upstream,
    ...(e.server === undefined ? {} : { server: e.server }),
    tap: e.tap,
    openedAt: e.time,
    handshakeMs: e.handshakeMs,
    ...(e.dialMs === undefined ? {} : { dialMs: e.dialMs }),
    ...(e.tlsMs === undefined ? {} : { tlsMs: e.tlsMs }),
    ...(e.endedInDial === true ? { endedInDial: true as const } : {}),
    ...(e.spare === true ? { spare: true as const } : {}),
    request: e.request,
    forwarded: e.forwarded,
    response: e.response,
    toUpstream: { frames: 0, messages: 0, bytes: 0 },
    toClient: { frames: 0, messages: 0, bytes: 0 },
    end: undefined,
    violations: [],
    rules: [],
    evictedMessages: 0,
    truncatedMessages: 0,
  };
}

/** A connection's record as its ws.open event describes it, before any message. */
export function openedConnection(e: WsOpenEvent, listener: string | undefined): StoredConnection {
  return {
    ...handshakeRecord(e, listener),
    subprotocol: e.protocol,
    extensions: e.extensions,
    state: 'open',
    closedAt: undefined,
    durationMs: undefined,
  };
}

/**
 * A handshake event with what the logs hide hidden too (log.showSecrets off): URL credentials and token query
 * values in its path, upstream, server, failure reason and header values, and token subprotocols. The store keeps
 * events so redacted, so a secret the logs keep out does not come back through the admin API, the feed or HAR.
 */
export function redactHandshake<E extends WsOpenEvent | WsFailedEvent>(e: E, redact: ValueRedactor): E {
  const pairs = (list: HeaderPairs): HeaderPairs =>
    list.map(([name, value]) => [
      name,
      name.toLowerCase() === 'sec-websocket-protocol' ? redact.subprotocols(value) : redact.text(value),
    ]);
  const hidden: E = {
    ...e,
    path: redact.text(e.path),
    request: pairs(e.request),
    forwarded: pairs(e.forwarded),
    response: pairs(e.response),
  };
  if (e.upstream !== undefined) hidden.upstream = redact.text(e.upstream);
  if (e.server !== undefined) hidden.server = redact.text(e.server);
  if (hidden.type === 'open' && hidden.protocol !== undefined) hidden.protocol = redact.subprotocols(hidden.protocol);
  if (hidden.type === 'failed') hidden.reason = redact.text(hidden.reason);
  return hidden;
}

/** A handshake that did not open, as a record the connection list shows beside the others (no messages). */
export function failedConnection(e: WsFailedEvent, listener: string | undefined): StoredConnection {
  const { status, code, reason } = e;
  return {
    ...handshakeRecord(e, e.listener ?? listener),
    subprotocol: undefined,
    extensions: undefined,
    state: 'failed',
    failure: { status, ...(code === undefined ? {} : { code }), reason },
    closedAt: e.time,
    durationMs: e.handshakeMs,
  };
}
