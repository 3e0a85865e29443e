// The traffic store behind the admin API: every WebSocket connection and its messages, fed by the same WsEvents
// as the traffic log (app/ hands each event to both), kept in memory under one byte budget and, with tap
// "payload", written to a session file on disk (store-disk.ts) so that what memory evicts stays readable.
//
// Memory is bounded by inspector.store.maxBytes (an estimate: a fixed cost per record plus its strings) and by a
// per-connection message cap. Past the budget the oldest closed connection goes first, whole; when only open
// connections are left, the oldest messages of the oldest connection go. Nothing goes silently: the store counts
// evicted connections and messages, each connection counts its own evicted messages, and API answers say so.
//
// The live feed reads from here too: every record gets a sequence number (one counter per store), the most recent
// feed events are kept in a ring for resume (Last-Event-ID / ?since=), and subscribers are called synchronously;
// with no subscribers nothing is built for the feed.
import type { WsEndEvent, WsEvent, WsFailedEvent, WsMessageEvent, WsOpenEvent } from '../events.ts';
import { IdQueue } from './id-queue.ts';
import {
  attachStoredData,
  type ConnectionFilter,
  connectionText,
  dataCost,
  type FeedEvent,
  failedConnection,
  type HeaderPairs,
  type MessageQuery,
  messageMatches,
  openedConnection,
  ruleHit,
  type StoredConnection,
  type StoredMessage,
  summarize,
} from './records.ts';

export type {
  ConnectionFilter,
  ConnectionSummary,
  FeedEvent,
  MessageQuery,
  StoredConnection,
  StoredMessage,
} from './records.ts';
export { summarize } from './records.ts';

export type StoreStats = {
  connections: number;
  messages: number;
  bytes: number;
  maxBytes: number;
  evictedConnections: number;
  evictedMessages: number;
  truncatedMessages: number;
};

export type StoreOptions = {
  maxBytes: number;
  maxMessagesPerConnection: number;
  /** The listener a route belongs to (events name the route only). */
  listenerOf?: ((route: string) => string | undefined) | undefined;
  /** Called with each message record that has a payload preview (tap payload): the session file. */
  onPayload?: ((message: StoredMessage) => void) | undefined;
  /** Feed events kept for resume. */
  feedRing?: number | undefined;
  /**
   * Failed handshakes kept at most (default 1000), the oldest evicted first: a flood of refused handshakes (a
   * client retrying in a loop, a scan) cannot push the connections that opened out of the budget.
   */
  maxFailed?: number | undefined;
};

type Entry = {
  conn: StoredConnection;
  messages: StoredMessage[];
  head: number;
  bytes: number;
  /** The seq of the last message event per direction, which a rule event with `ofMessage` acted on. */
  last: { toUpstream: number | undefined; toClient: number | undefined };
};

const RECORD_COST = 160;
const CONNECTION_COST = 1024;

function messageCost(m: StoredMessage): number {
  return RECORD_COST + (m.preview?.length ?? 0) + (m.reason?.length ?? 0) + (m.note?.length ?? 0) + dataCost(m);
}

function headersCost(h: HeaderPairs): number {
  let n = 0;
  for (const [k, v] of h) n += k.length + v.length + 32;
  return n;
}

export class TrafficStore {
  #options: StoreOptions;
  /** Insertion order is age order: the first closed entry is the oldest closed connection. */
  #entries = new Map<string, Entry>();
  #bytes = 0;
  #seq = 0;
  #evictedConnections = 0;
  #evictedMessages = 0;
  #truncatedMessages = 0;
  #ring: { event: FeedEvent; cost: number }[] = [];
  #ringHead = 0;
  #ringBytes = 0;
  #ringSize: number;
  /** The ring's share of the budget; the records it holds are counted again even when the store still has them. */
  #ringMaxBytes: number;
  #storeMaxBytes: number;
  #failed = new IdQueue();
  #failedCount = 0;
  #subscribers = new Set<(event: FeedEvent) => void>();

  constructor(options: StoreOptions) {
    this.#options = options;
    this.#ringSize = options.feedRing ?? 10_000;
    this.#ringMaxBytes = Math.floor(options.maxBytes / 8);
    this.#storeMaxBytes = options.maxBytes - this.#ringMaxBytes;
  }

  /** The last sequence number given out (the feed's cursor). */
  get seq(): number {
    return this.#seq;
  }

  stats(): StoreStats {
    let messages = 0;
    for (const e of this.#entries.values()) messages += e.messages.length - e.head;
    return {
      connections: this.#entries.size,
      messages,
      bytes: this.#bytes + this.#ringBytes,
      maxBytes: this.#options.maxBytes,
      evictedConnections: this.#evictedConnections,
      evictedMessages: this.#evictedMessages,
      truncatedMessages: this.#truncatedMessages,
    };
  }

  /** Takes one event from the tap. */
  ingest(event: WsEvent): void {
    switch (event.type) {
      case 'open':
      case 'failed':
        this.#open(event);
        return;
      case 'message':
        this.#message(event);
        return;
      case 'end':
        this.#end(event);
        return;
      case 'violation': {
        const entry = this.#entries.get(event.conn);
        const v = { dir: event.dir, code: event.code, message: event.message, time: event.time };
        if (entry && entry.conn.violations.length < 100) entry.conn.violations.push(v);
        this.#publish(() => ({ seq: ++this.#seq, type: 'violation', conn: event.conn, detail: v }));
        return;
      }
      case 'frame':
        return;
      case 'rule': {
        // Rule hits (the rules engine's events): kept per connection, bounded.
        const entry = this.#entries.get(event.conn);
        const hit = ruleHit(event, event.ofMessage === true ? entry?.last[event.dir] : undefined);
        if (entry && entry.conn.rules.length < 1000) entry.conn.rules.push(hit);
        this.#publish(() => ({ seq: ++this.#seq, type: 'rule', conn: event.conn, detail: hit }));
        return;
      }
    }
  }

  #open(e: WsOpenEvent | WsFailedEvent): void {
    const listener = e.route === undefined ? undefined : this.#options.listenerOf?.(e.route);
    const conn = e.type === 'open' ? openedConnection(e, listener) : failedConnection(e, listener);
    const bytes = CONNECTION_COST + headersCost(e.request) + headersCost(e.forwarded) + headersCost(e.response);
    this.#entries.set(e.conn, {
      conn,
      messages: [],
      head: 0,
      bytes,
      last: { toUpstream: undefined, toClient: undefined },
    });
    this.#bytes += bytes;
    if (e.type === 'failed') this.#addFailed(e.conn);
    // A failed handshake arrives ended: the feed says so as it says of a connection that closed.
    this.#publish(() => ({ seq: ++this.#seq, type: e.type === 'open' ? 'open' : 'end', connection: summarize(conn) }));
    this.#enforceBudget();
  }

  #message(e: WsMessageEvent): void {
    const entry = this.#entries.get(e.conn);
    const m: StoredMessage = {
      seq: ++this.#seq,
      conn: e.conn,
      time: e.time,
      dir: e.dir,
      kind: e.kind,
      size: e.size,
      decodedSize: e.decodedSize,
      compressed: e.compressed,
      fragments: e.fragments,
      preview: e.preview,
      truncated: e.truncated,
      note: e.note,
      rttMs: e.rttMs,
      code: e.code,
      reason: e.reason,
    };
    if (e.origin !== undefined) m.origin = e.origin;
    if (e.data !== undefined) attachStoredData(m, e.data);
    if (e.truncated) this.#truncatedMessages++;
    if (m.preview !== undefined) this.#options.onPayload?.(m);
    if (entry === undefined) return;
    entry.last[e.dir] = m.seq;
    const counters = entry.conn[e.dir];
    counters.messages++;
    counters.frames += e.fragments;
    counters.bytes += e.size;
    if (e.truncated) entry.conn.truncatedMessages++;
    const cost = messageCost(m);
    entry.messages.push(m);
    entry.bytes += cost;
    this.#bytes += cost;
    if (entry.messages.length - entry.head > this.#options.maxMessagesPerConnection) this.#dropOldest(entry);
    this.#publish(() => ({ seq: m.seq, type: 'message', message: m }), cost);
    this.#enforceBudget();
  }

  #end(e: WsEndEvent): void {
    const entry = this.#entries.get(e.conn);
    if (entry === undefined) return;
    const { type: _t, conn: _c, route: _r, time, toUpstream, toClient, ...end } = e;
    const c = entry.conn;
    c.state = 'closed';
    c.closedAt = time;
    c.durationMs = e.durationMs;
    c.end = end;
    // The end event's counters are the tap's own (frames and bytes at every level): they win over what the store saw.
    c.toUpstream = { ...toUpstream };
    c.toClient = { ...toClient };
    this.#publish(() => ({ seq: ++this.#seq, type: 'end', connection: summarize(c) }));
    this.#enforceBudget();
  }

  #dropOldest(entry: Entry): void {
    const m = entry.messages[entry.head];
    if (m === undefined) return;
    entry.messages[entry.head] = undefined as unknown as StoredMessage;
    entry.head++;
    const cost = messageCost(m);
    entry.bytes -= cost;
    this.#bytes -= cost;
    entry.conn.evictedMessages++;
    this.#evictedMessages++;
    // Compact once the dead prefix is half the array: amortised O(1) per message.
    if (entry.head > 1024 && entry.head * 2 > entry.messages.length) {
      entry.messages = entry.messages.slice(entry.head);
      entry.head = 0;
    }
  }

  #addFailed(id: string): void {
    this.#failed.push(id);
    const max = this.#options.maxFailed ?? 1000;
    if (++this.#failedCount <= max) return;
    for (let oldest = this.#failed.shift(); oldest !== undefined; oldest = this.#failed.shift()) {
      const entry = this.#entries.get(oldest);
      if (entry?.conn.state === 'failed') this.#evict(oldest, entry);
      if (this.#failedCount <= max) return;
    }
  }

  #evict(id: string, entry: Entry): void {
    this.#entries.delete(id);
    this.#bytes -= entry.bytes;
    this.#evictedConnections++;
    this.#evictedMessages += entry.messages.length - entry.head;
    if (entry.conn.state === 'failed') this.#failedCount--;
  }

  #enforceBudget(): void {
    const max = this.#storeMaxBytes;
    if (this.#bytes <= max) return;
    // Oldest closed connections first, whole.
    for (const [id, entry] of this.#entries) {
      if (this.#bytes <= max) return;
      if (entry.conn.state === 'open') continue;
      this.#evict(id, entry);
    }
    // Then the oldest messages, oldest connection first.
    for (const entry of this.#entries.values()) {
      while (this.#bytes > max && entry.head < entry.messages.length) this.#dropOldest(entry);
      if (this.#bytes <= max) return;
    }
  }

  #publish(build: () => FeedEvent, cost = RECORD_COST): void {
    // The ring is kept even with no subscriber: a feed that dropped and reconnects resumes from it. It is bounded
    // in count and in bytes (an eighth of the budget).
    const event = build();
    this.#ring.push({ event, cost });
    this.#ringBytes += cost;
    while (
      this.#ringHead < this.#ring.length &&
      (this.#ring.length - this.#ringHead > this.#ringSize || this.#ringBytes > this.#ringMaxBytes)
    ) {
      this.#ringBytes -= this.#ring[this.#ringHead]!.cost;
      this.#ring[this.#ringHead] = undefined as unknown as { event: FeedEvent; cost: number };
      this.#ringHead++;
    }
    if (this.#ringHead > 1024 && this.#ringHead * 2 > this.#ring.length) {
      this.#ring = this.#ring.slice(this.#ringHead);
      this.#ringHead = 0;
    }
    for (const subscriber of this.#subscribers) subscriber(event);
  }

  /**
   * Feed events after `since`, from the ring, and whether some were lost (older than the ring holds).
   * A message event carries the message record itself, so replayed events read as they were sent.
   */
  replay(since: number): { events: FeedEvent[]; missed: number } {
    const ring = this.#ring;
    let i = ring.length;
    while (i > this.#ringHead && ring[i - 1]!.event.seq > since) i--;
    const events = ring.slice(i).map((r) => r.event);
    const oldest = ring[this.#ringHead]?.event.seq ?? this.#seq + 1;
    // Sequence numbers are dense: every one after `since` and before the ring's oldest was lost.
    const missed = Math.max(0, oldest - since - 1);
    return { events, missed };
  }

  subscribe(listener: (event: FeedEvent) => void): () => void {
    this.#subscribers.add(listener);
    return () => this.#subscribers.delete(listener);
  }

  get subscribers(): number {
    return this.#subscribers.size;
  }

  connection(id: string): StoredConnection | undefined {
    return this.#entries.get(id)?.conn;
  }

  /** Newest first. */
  connections(filter: ConnectionFilter = {}): StoredConnection[] {
    const text = filter.text?.toLowerCase();
    const out: StoredConnection[] = [];
    for (const { conn } of this.#entries.values()) {
      if (filter.state !== undefined && conn.state !== filter.state) continue;
      if (filter.host !== undefined && !(conn.host ?? '').toLowerCase().includes(filter.host.toLowerCase())) continue;
      if (filter.route !== undefined && !(conn.route ?? '').includes(filter.route)) continue;
      if (text !== undefined && !connectionText(conn).includes(text)) continue;
      out.push(conn);
    }
    return out.reverse();
  }

  /** One message of a connection still in memory, by its seq (binary search: seqs grow along the array). */
  message(id: string, seq: number): StoredMessage | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    let lo = entry.head;
    let hi = entry.messages.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = entry.messages[mid]!;
      if (m.seq === seq) return m;
      if (m.seq < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /**
   * Messages of one connection in memory, in order, after `after` (a seq), filtered, at most `limit`.
   * `oldestSeq` is the first seq still in memory, so a caller knows whether older ones must come from disk.
   */
  messages(
    id: string,
    query: MessageQuery,
  ): { messages: StoredMessage[]; oldestSeq: number | undefined; more: boolean } | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    const out: StoredMessage[] = [];
    let more = false;
    const oldest = entry.messages[entry.head]?.seq;
    for (let i = entry.head; i < entry.messages.length; i++) {
      const m = entry.messages[i]!;
      if (m.seq <= query.after) continue;
      if (!messageMatches(m, query)) continue;
      if (out.length >= query.limit) {
        more = true;
        break;
      }
      out.push(m);
    }
    return { messages: out, oldestSeq: oldest, more };
  }
}
