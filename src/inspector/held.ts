// The held messages (the hold action, docs/inspector.md) as the admin API lists them, kept from the relay's rule
// events: a `hold` event adds one, its forward, edit, drop or timeout event (or the connection's end) removes it.
// Built from events rather than by asking every live session, so that the primary of `--workers N`, which sees
// every worker's events, knows them too; the data itself stays in the relay and is read from the live session.
import type { Direction, WsEvent, WsHeldInfo } from '../events.ts';

export type HeldEntry = WsHeldInfo & { conn: string; route: string; direction: Direction; rule: string };

/** Bounds the list if a relay's events were ever lost: the relay's own queue is bounded by maxBufferedBytes. */
const MAX_HELD = 10_000;

export class HeldList {
  #held = new Map<string, HeldEntry>();

  ingest(event: WsEvent): void {
    if (event.type === 'end') {
      for (const [id, h] of this.#held) if (h.conn === event.conn) this.#held.delete(id);
      return;
    }
    if (event.type !== 'rule' || event.held === undefined) return;
    if (event.action !== 'hold') {
      this.#held.delete(event.held.id);
      return;
    }
    if (this.#held.size >= MAX_HELD) return;
    this.#held.set(event.held.id, {
      ...event.held,
      conn: event.conn,
      route: event.route,
      direction: event.dir,
      rule: event.rule,
    });
  }

  /** Oldest first; one connection's with `conn`. */
  list(conn?: string): HeldEntry[] {
    const all = [...this.#held.values()];
    return conn === undefined ? all : all.filter((h) => h.conn === conn);
  }

  get(id: string): HeldEntry | undefined {
    return this.#held.get(id);
  }
}
