// The hold action's queue for one direction of a relayed connection (breakpoints, docs/inspector.md): a held
// message waits here until someone forwards it (edited or not), drops it, or its timeout applies its onTimeout;
// every message of the same direction that comes after it waits behind it, so a direction never reorders. The
// bytes waiting here count toward limits.maxBufferedBytes through `onBytes` (the relay adds them to the writer
// toward the receiving peer, which pauses the reader). What the relay does with a message once it may go is its
// `send`; each decision is reported through `onDecision` as a rule event.
import type { Direction } from '../events.ts';
import type { HoldOrder, OutMessage } from '../rules/types.ts';

/** A held message as the admin API shows it. */
export type HeldMessage = {
  id: string;
  conn: string;
  direction: Direction;
  type: OutMessage['type'];
  data: Buffer;
  rule: string;
  /** Epoch milliseconds. */
  since: number;
  deadline: number;
  onTimeout: 'forward' | 'drop';
};

/** What to do with a held message: forward it (with new data when given) or drop it. */
export type HoldDecision = { op: 'forward'; data?: { type: 'text' | 'binary'; data: Buffer } } | { op: 'drop' };

/** A hold added at run time for one connection (POST /api/rules/hold): a direction, optionally a text pattern. */
export type RuntimeHold = {
  direction: Direction;
  /** Only text messages this regular expression finds something in; undefined: every data message. */
  text?: RegExp | undefined;
  timeoutMs: number;
  onTimeout: 'forward' | 'drop';
  /** false removes the direction's runtime hold. */
  on: boolean;
};

/** How a held message left the queue: the rule event's action. */
export type HoldOutcome = 'forward' | 'edit' | 'drop' | 'timeout';

type Held = { kind: 'held'; held: HeldMessage; message: OutMessage; timer: NodeJS.Timeout | undefined };
type Slot = Held | { kind: 'waiting'; message: OutMessage };

export type HoldLaneOptions = {
  conn: string;
  direction: Direction;
  /** A fresh id for a held message. */
  nextId(): string;
  /** Sends a message that may go now (through the writer toward its peer). */
  send(message: OutMessage): void;
  /** Bytes waiting here changed by `delta`. */
  onBytes(delta: number): void;
  onHold(held: HeldMessage): void;
  onDecision(held: HeldMessage, outcome: HoldOutcome, detail: string): void;
};

function sizeOf(m: OutMessage): number {
  return m.data.length + 16;
}

export class HoldLane {
  #options: HoldLaneOptions;
  #slots: Slot[] = [];
  #bytes = 0;

  constructor(options: HoldLaneOptions) {
    this.#options = options;
  }

  /** Something waits: a later message of this direction must queue behind it. */
  get busy(): boolean {
    return this.#slots.length > 0;
  }

  /** The held messages, oldest first. */
  list(): HeldMessage[] {
    const out: HeldMessage[] = [];
    for (const s of this.#slots) if (s.kind === 'held') out.push(s.held);
    return out;
  }

  /** Holds a message (its `hold` says for how long and what then). */
  hold(message: OutMessage, order: HoldOrder): void {
    const since = Date.now();
    const held: HeldMessage = {
      id: this.#options.nextId(),
      conn: this.#options.conn,
      direction: this.#options.direction,
      type: message.type,
      data: message.data,
      rule: order.rule,
      since,
      deadline: since + order.timeoutMs,
      onTimeout: order.onTimeout,
    };
    const { hold: _hold, ...rest } = message;
    const slot: Held = { kind: 'held', held, message: rest, timer: undefined };
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      this.#decide(slot, order.onTimeout === 'forward' ? undefined : null, 'timeout');
    }, order.timeoutMs);
    this.#push(slot);
    this.#options.onHold(held);
  }

  /** Queues a message behind what is held. */
  wait(message: OutMessage): void {
    this.#push({ kind: 'waiting', message });
  }

  /** Carries out a decision on the held message `id`; false when no such message waits here. */
  decide(id: string, decision: HoldDecision): boolean {
    const slot = this.#slots.find((s): s is Held => s.kind === 'held' && s.held.id === id);
    if (slot === undefined) return false;
    if (decision.op === 'drop') this.#decide(slot, null, 'drop');
    else this.#decide(slot, decision.data, decision.data === undefined ? 'forward' : 'edit');
    return true;
  }

  /**
   * The direction ends (its sender's Close, or the connection is closing): every held message gets its
   * onTimeout now, and everything goes out in order ahead of the Close.
   */
  settle(why: string): void {
    for (const s of [...this.#slots]) {
      if (s.kind === 'held') this.#decide(s, s.held.onTimeout === 'forward' ? undefined : null, 'timeout', why);
    }
  }

  /** The connection is over: timers cleared, nothing sent. */
  stop(): void {
    for (const s of this.#slots) if (s.kind === 'held' && s.timer !== undefined) clearTimeout(s.timer);
    this.#slots = [];
    if (this.#bytes !== 0) this.#options.onBytes(-this.#bytes);
    this.#bytes = 0;
  }

  #push(slot: Slot): void {
    this.#slots.push(slot);
    const n = sizeOf(slot.message);
    this.#bytes += n;
    this.#options.onBytes(n);
  }

  /** `data`: undefined forwards unchanged, null drops, a value forwards it instead. */
  #decide(
    slot: Held,
    data: { type: 'text' | 'binary'; data: Buffer } | undefined | null,
    outcome: HoldOutcome,
    why?: string,
  ): void {
    if (slot.timer !== undefined) clearTimeout(slot.timer);
    slot.timer = undefined;
    const held = slot.held;
    if (data === null) {
      const i = this.#slots.indexOf(slot);
      if (i >= 0) this.#slots.splice(i, 1);
      this.#release(sizeOf(slot.message));
    } else {
      // Still in its place: it goes when everything ahead of it has gone.
      const replaced: Slot = {
        kind: 'waiting',
        message: data === undefined ? slot.message : { ...slot.message, ...data },
      };
      const i = this.#slots.indexOf(slot);
      if (i >= 0) this.#slots[i] = replaced;
      const delta = sizeOf(replaced.message) - sizeOf(slot.message);
      this.#bytes += delta;
      if (delta !== 0) this.#options.onBytes(delta);
    }
    const detail =
      outcome === 'timeout'
        ? `${why ?? 'timed out'}: ${data === null ? 'dropped' : 'forwarded unchanged'}`
        : outcome === 'edit'
          ? `forwarded with new data (${data?.type ?? held.type}, ${data?.data.length ?? 0} B)`
          : outcome === 'drop'
            ? 'dropped'
            : 'forwarded unchanged';
    this.#options.onDecision(held, outcome, detail);
    this.#drain();
  }

  /** Sends from the head until the next message that is still held. */
  #drain(): void {
    let freed = 0;
    while (this.#slots.length > 0 && this.#slots[0]!.kind === 'waiting') {
      const slot = this.#slots.shift()!;
      freed += sizeOf(slot.message);
      this.#options.send(slot.message);
    }
    if (freed > 0) this.#release(freed);
  }

  #release(n: number): void {
    this.#bytes -= n;
    this.#options.onBytes(-n);
  }
}
