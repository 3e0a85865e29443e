// One connection's rules: the rules that apply to it (their connection keys held when it opened, and their
// probability said yes), with the state that must not be shared between connections — nth/every counters per
// direction, each rule's seeded random sequence, dropEvery counters and reorder windows. onMessage() runs the
// rules in order over one message and returns the Verdict the relay carries out. Pure: no timers (a delay is a
// number in the verdict; a reorder window's deadline is a number too, on the clock of the `now` the relay passes,
// and releasing it on time is the relay's call: deadline() says when, expire() releases).

import type { Direction } from '../events.ts';
import { needsRelay, type Work } from './actions.ts';
import { type CompiledMatch, type MessageView, ordinal, viewOf } from './matchers.ts';
import { type Random, shuffledOrder } from './prng.ts';
import type { CompiledRule, RuleSet } from './rule-set.ts';
import type {
  ConnectionFaults,
  ConnectionRules,
  HandshakeFaults,
  Injection,
  OutMessage,
  RuleHit,
  RuleMessage,
  Verdict,
} from './types.ts';

/** A rule as it applies to one connection. */
export type AppliedRule = {
  rule: CompiledRule;
  /** The match alternatives whose connection keys held. */
  matches: CompiledMatch[];
  random: Random;
};

/** A reorder window: the messages held, and since when (the `now` onMessage was given; undefined: no deadline). */
type Window = { messages: OutMessage[]; since: number | undefined; maxWaitMs: number; rule: AppliedRule };

type DirectionState = { counters: Map<string, number>; windows: Map<string, Window> };

function isData(m: RuleMessage): boolean {
  return m.type === 'text' || m.type === 'binary';
}

/** A ConnectionRules that can take new definitions of its `live: true` rules on reload. */
export type LiveConnectionRules = ConnectionRules & { reload(next: RuleSet): string[] };

export class RuleConnection implements LiveConnectionRules {
  readonly handshake: HandshakeFaults;
  readonly connection: ConnectionFaults;
  readonly injections: readonly Injection[];
  readonly needsRelay: boolean;
  readonly deflate: 'strip' | 'keep';
  #applied: AppliedRule[];
  #select: (rule: CompiledRule) => AppliedRule | undefined;
  #state: Record<Direction, DirectionState> = {
    toUpstream: { counters: new Map(), windows: new Map() },
    toClient: { counters: new Map(), windows: new Map() },
  };

  constructor(
    applied: AppliedRule[],
    deflate: 'strip' | 'keep',
    select: (rule: CompiledRule) => AppliedRule | undefined,
  ) {
    this.#applied = applied;
    this.#select = select;
    this.deflate = deflate;
    const handshake: HandshakeFaults = {};
    const connection: ConnectionFaults = {};
    const injections: Injection[] = [];
    // The first rule that sets a fault wins: rules are listed listener first, then route, as written.
    for (const { rule } of applied) {
      for (const [k, v] of Object.entries(rule.actions.handshake)) {
        (handshake as Record<string, unknown>)[k] ??= v;
      }
      for (const [k, v] of Object.entries(rule.actions.connection)) {
        (connection as Record<string, unknown>)[k] ??= v;
      }
      injections.push(...rule.actions.injections);
    }
    this.handshake = handshake;
    this.connection = connection;
    this.injections = injections;
    this.needsRelay = applied.some((a) => needsRelay(a.rule.actions));
  }

  get names(): readonly string[] {
    return this.#applied.map((a) => a.rule.name);
  }

  onMessage(message: RuleMessage, now?: number): Verdict {
    const state = this.#state[message.direction];
    const send: OutMessage[] = [];
    const hits: RuleHit[] = [];
    // A Close ends the direction: whatever a reorder window holds goes first, in the order it came.
    if (message.type === 'close') send.push(...this.flush(message.direction));
    const work: Work = { message: { ...message }, view: viewOf(message), extra: [] };
    let copies = 1;
    for (let r = 0; r < this.#applied.length && work.message !== undefined; r++) {
      const applied = this.#applied[r]!;
      const steps = applied.rule.actions.steps;
      if (steps.length === 0 || !this.#selects(applied, work.view, state)) continue;
      const names: string[] = [];
      const details: string[] = [];
      work.mark = undefined;
      for (let s = 0; s < steps.length && work.message !== undefined; s++) {
        const step = steps[s]!;
        const m: OutMessage = work.message;
        let detail: string | undefined;
        switch (step.kind) {
          case 'stateless':
            detail = step.apply(work);
            break;
          case 'dropEvery': {
            const key = `${applied.rule.name}#${s}`;
            const n = (state.counters.get(key) ?? 0) + 1;
            state.counters.set(key, n);
            if (n % step.n === 0) {
              work.message = undefined;
              detail = `dropped the ${ordinal(n)} matching message`;
            }
            break;
          }
          case 'duplicate':
            if (m.type !== 'close') {
              copies *= 2;
              detail = 'sent twice';
            }
            break;
          case 'refragment':
            if (isData(m)) {
              work.message = { ...m, fragments: step.n };
              detail = `split into ${step.n} frames`;
            }
            break;
          case 'swallowPings':
          case 'swallowPongs':
            if (m.type === (step.kind === 'swallowPings' ? 'ping' : 'pong')) {
              work.message = undefined;
              detail = `swallowed a ${m.type}`;
            }
            break;
          case 'reorder': {
            if (!isData(m)) break;
            const key = `${applied.rule.name}#${s}`;
            let held = state.windows.get(key);
            if (held === undefined) {
              held = { messages: [], since: now, maxWaitMs: step.maxWaitMs, rule: applied };
              state.windows.set(key, held);
            }
            const window = held.messages;
            // Copies made so far travel together; they are held as one more message each.
            for (let c = 0; c < copies; c++) window.push(m);
            copies = 1;
            work.message = undefined;
            if (window.length < step.window) {
              detail = `held (${window.length} of ${step.window})`;
            } else {
              const order = shuffledOrder(window.length, applied.random);
              send.push(...order.map((i) => window[i]!));
              state.windows.delete(key);
              detail = `released ${window.length} messages in the order ${order.map((i) => i + 1).join(',')}`;
            }
            break;
          }
        }
        if (detail !== undefined) {
          names.push(step.name);
          details.push(detail);
        }
      }
      if (names.length > 0) {
        const hit: RuleHit = { rule: applied.rule.name, action: names.join('+'), detail: details.join('; ') };
        if (work.mark !== undefined) hit.mark = work.mark;
        hits.push(hit);
      }
    }
    if (work.message !== undefined) for (let c = 0; c < copies; c++) send.push(work.message);
    send.push(...work.extra);
    return work.close === undefined ? { send, hits } : { send, hits, close: work.close };
  }

  flush(direction: Direction): OutMessage[] {
    const windows = this.#state[direction].windows;
    const out = [...windows.values()].flatMap((w) => w.messages);
    windows.clear();
    return out;
  }

  /** The earliest time a reorder window of this direction must be released (reorder maxWait), if one is held. */
  deadline(direction: Direction): number | undefined {
    let at: number | undefined;
    for (const w of this.#state[direction].windows.values()) {
      if (w.since === undefined) continue;
      const due = w.since + w.maxWaitMs;
      if (at === undefined || due < at) at = due;
    }
    return at;
  }

  /**
   * Releases the reorder windows of this direction that waited their maxWait by `now`: a quiet connection does not
   * hold messages until it closes. What a window holds goes out shuffled as a full window would (one message: as is).
   */
  expire(direction: Direction, now: number): Verdict {
    const send: OutMessage[] = [];
    const hits: RuleHit[] = [];
    const windows = this.#state[direction].windows;
    for (const [key, w] of windows) {
      if (w.since === undefined || w.since + w.maxWaitMs > now) continue;
      windows.delete(key);
      const order = w.messages.length > 1 ? shuffledOrder(w.messages.length, w.rule.random) : [0];
      send.push(...order.map((i) => w.messages[i]!));
      hits.push({
        rule: w.rule.rule.name,
        action: 'reorder',
        detail: `released ${w.messages.length} after ${w.maxWaitMs}ms (maxWait) in the order ${order.map((i) => i + 1).join(',')}`,
      });
    }
    return { send, hits };
  }

  /**
   * Takes the new definitions of this connection's rules that say `live: true` in `next` (counters and windows
   * kept, keyed by rule name); returns their names. Faults and injections stay as they were at the open, and a
   * passthrough connection stays one.
   */
  reload(next: RuleSet): string[] {
    const swapped: string[] = [];
    this.#applied = this.#applied.map((a) => {
      const fresh = next.rule(a.rule.name);
      if (fresh === undefined || !fresh.live) return a;
      const selected = this.#select(fresh);
      swapped.push(fresh.name);
      // A live rule whose connection keys no longer hold stops acting: no alternatives left.
      return selected === undefined ? { ...a, rule: fresh, matches: [] } : { ...selected, random: a.random };
    });
    return swapped;
  }

  /** Does one of the rule's alternatives select this message? Counters and randomness advance only as tested. */
  #selects(applied: AppliedRule, view: MessageView, state: DirectionState): boolean {
    for (let i = 0; i < applied.matches.length; i++) {
      const m = applied.matches[i]!;
      if (!m.message.every((t) => t.test(view))) continue;
      if (m.nth !== undefined || m.every !== undefined) {
        const key = `${applied.rule.name}@${i}`;
        const n = (state.counters.get(key) ?? 0) + 1;
        state.counters.set(key, n);
        if (m.nth !== undefined && n !== m.nth) continue;
        if (m.every !== undefined && n % m.every !== 0) continue;
      }
      if (m.probability !== undefined && !(applied.random() < m.probability)) continue;
      return true;
    }
    return false;
  }
}

/** The rules of a connection no rule applies to: shared, stateless, passthrough. */
export const NO_RULES: LiveConnectionRules = Object.freeze({
  names: Object.freeze([]) as readonly string[],
  needsRelay: false,
  deflate: 'strip',
  handshake: Object.freeze({}),
  connection: Object.freeze({}),
  injections: Object.freeze([]) as readonly Injection[],
  onMessage: (message: RuleMessage): Verdict => ({ send: [message], hits: [] }),
  flush: (): OutMessage[] => [],
  reload: (): string[] => [],
}) as LiveConnectionRules;
