// The inspector's state, outside preact: the connections (from the list call, then the live feed), the selected
// connection with its detail and all its messages (history paged in, then the feed's new ones), pause/resume, and
// the store's eviction counts. Components read it and re-render on `subscribe`; notifications are coalesced to one
// per animation frame, so a feed delivering thousands of messages a second costs one render per frame.
import { getJson } from './api.js';

/** The rule events of the hold action (relay-hold.ts). */
const HOLD_STEPS = new Set(['hold', 'forward', 'edit', 'drop', 'timeout']);

const PAGE = 1000;
/** Feed events kept while paused. */
const MAX_QUEUE = 200_000;

export class Model {
  /** id → connection summary, as the API shapes it (counters kept current from message events). */
  connections = new Map();
  selected = undefined;
  /** The selected connection's detail (handshake, rules, violations), once loaded. */
  detail = undefined;
  /** The selected connection's messages in order. */
  messages = [];
  loadingMessages = false;
  paused = false;
  feedState = 'connecting';
  stats = {};
  error = undefined;
  version = 0;
  /** Bumped when the feed reports a hold step (hold, forward, edit, drop, timeout): the Held panel reloads. */
  heldVersion = 0;

  #queue = [];
  #overflowed = false;
  #pending = [];
  /** Rule hits and violations of the selected connection that came while its detail loaded. */
  #pendingDetail = [];
  #lastSeq = 0;
  #listeners = new Set();
  #scheduled = false;
  #selectToken = 0;

  subscribe(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  changed() {
    if (this.#scheduled) return;
    this.#scheduled = true;
    requestAnimationFrame(() => {
      this.#scheduled = false;
      this.version++;
      for (const l of this.#listeners) l(this.version);
    });
  }

  /** The connections list and the store's counts; called at start and every few seconds. */
  async loadConnections() {
    const body = await getJson('/api/connections');
    const list = Array.isArray(body) ? body : (body.connections ?? []);
    for (const c of list) {
      const known = this.connections.get(c.id);
      // The feed may be ahead of the list (it started first): keep the fresher record.
      if (!known || (known.state === 'open' && c.state !== 'open') || counted(c) >= counted(known)) {
        this.connections.set(c.id, { ...c });
      }
    }
    this.setStats(body);
    this.changed();
  }

  setStats(body) {
    if (Array.isArray(body)) return;
    const s = body.stats ?? body.store ?? body;
    const evicted = body.evicted;
    this.stats = {
      evictedConnections: evicted?.connections ?? s.evictedConnections ?? this.stats.evictedConnections,
      evictedMessages: evicted?.messages ?? s.evictedMessages ?? this.stats.evictedMessages,
      truncatedMessages: s.truncatedMessages ?? this.stats.truncatedMessages,
      bytes: s.bytes ?? this.stats.bytes,
      maxBytes: s.maxBytes ?? this.stats.maxBytes,
    };
  }

  /** One live feed event. While paused, events wait in a queue and are applied on resume, in order. */
  onFeed(event) {
    if (this.paused) {
      // Past the cap the queue stops growing; Resume then reloads from the API instead of replaying it.
      if (this.#queue.length < MAX_QUEUE) this.#queue.push(event);
      else this.#overflowed = true;
      this.changed(); // the queued count in the header; the data shown stays as it was
      return;
    }
    this.#apply(event);
    this.changed();
  }

  setPaused(paused) {
    this.paused = paused;
    if (!paused) {
      const queue = this.#queue;
      this.#queue = [];
      if (this.#overflowed) {
        this.#overflowed = false;
        void this.loadConnections().catch(() => {});
        void this.select(this.selected);
      } else for (const e of queue) this.#apply(e);
    }
    this.changed();
  }

  get queued() {
    return this.#queue.length;
  }

  #apply(event) {
    switch (event.type) {
      case 'open':
      case 'end': {
        const c = event.connection;
        if (c) this.connections.set(c.id, { ...c });
        if (c && c.id === this.selected && this.detail) this.detail = { ...this.detail, ...c };
        return;
      }
      case 'message': {
        const m = event.message;
        if (!m) return;
        const c = this.connections.get(m.conn);
        if (c && c.state === 'open' && c[m.dir]) {
          c[m.dir] = { ...c[m.dir], messages: c[m.dir].messages + 1, bytes: c[m.dir].bytes + m.size };
        }
        if (m.conn !== this.selected) return;
        if (this.loadingMessages) this.#pending.push(m);
        else this.#append(m);
        return;
      }
      case 'rule':
      case 'violation': {
        if (event.type === 'rule' && event.conn === this.selected && HOLD_STEPS.has(event.detail?.action)) {
          this.heldVersion++;
        }
        if (event.conn !== this.selected) return;
        // While the detail loads, its answer may or may not hold this hit yet: it waits, and is added once after.
        if (!this.detail) this.#pendingDetail.push(event);
        else this.#addToDetail(event);
        return;
      }
      case 'gap':
        if (event.reset) {
          // wsgate restarted: what is shown is another run's (its ids come again, for other connections). Forget
          // it; the feed replays this run's events next, and the list and the selection load again.
          this.connections.clear();
          void this.loadConnections().catch(() => {});
          void this.select(this.selected);
          return;
        }
        // The feed's resume window no longer held some events: page the selected connection's messages in again
        // from the last one shown, and refresh the list.
        void this.#catchUp();
        void this.loadConnections().catch(() => {});
        return;
      default:
    }
  }

  /** A rule hit or violation of the selected connection, once: the detail's answer may have had it already. */
  #addToDetail(event) {
    const key = event.type === 'rule' ? 'rules' : 'violations';
    const list = this.detail[key] ?? [];
    const text = JSON.stringify(event.detail);
    if (list.some((known) => JSON.stringify(known) === text)) return;
    this.detail = { ...this.detail, [key]: [...list, event.detail] };
  }

  async #catchUp() {
    if (this.selected === undefined || this.loadingMessages) return;
    this.loadingMessages = true;
    await this.#pageIn(this.selected, this.#selectToken);
  }

  /** Selects a connection: loads its detail and every message in memory or on disk, page by page. */
  async select(id) {
    const token = ++this.#selectToken;
    this.selected = id;
    this.detail = undefined;
    this.messages = [];
    this.#pending = [];
    this.#pendingDetail = [];
    this.#lastSeq = 0;
    this.loadingMessages = id !== undefined;
    this.changed();
    if (id === undefined) return;
    try {
      const detail = await getJson(`/api/connections/${encodeURIComponent(id)}`);
      if (token !== this.#selectToken) return;
      this.detail = detail.connection ?? detail;
      for (const event of this.#pendingDetail) this.#addToDetail(event);
      this.#pendingDetail = [];
      this.changed();
    } catch (err) {
      if (token === this.#selectToken) this.error = err.message;
    }
    await this.#pageIn(id, token);
  }

  /**
   * Pages in the messages after the last one shown, while live ones wait in #pending (loadingMessages is set by
   * the caller), then appends those the pages did not cover: the order stays the store's, nothing twice.
   */
  async #pageIn(id, token) {
    try {
      for (;;) {
        const page = await getJson(
          `/api/connections/${encodeURIComponent(id)}/messages?after=${this.#lastSeq}&limit=${PAGE}`,
        );
        if (token !== this.#selectToken) return;
        const list = Array.isArray(page) ? page : (page.messages ?? []);
        for (const m of list) this.#append(m);
        this.changed();
        if (list.length === 0 || page.more === false || (page.more === undefined && list.length < PAGE)) break;
      }
    } catch (err) {
      if (token === this.#selectToken) this.error = err.message;
    } finally {
      if (token === this.#selectToken) {
        this.loadingMessages = false;
        for (const m of this.#pending) this.#append(m);
        this.#pending = [];
        this.changed();
      }
    }
  }

  #append(m) {
    if (m.seq <= this.#lastSeq) return;
    this.messages.push(m);
    this.#lastSeq = m.seq;
  }
}

function counted(c) {
  return (c.toUpstream?.messages ?? 0) + (c.toClient?.messages ?? 0) + (c.state !== 'open' ? 1e12 : 0);
}
