// One connection's rules: the rules that apply to it (their connection keys held when it opened, and their
// probability said yes), with the state that must not be shared between connections — nth/every counters per
// direction, each rule's seeded random sequence, dropEvery counters and reorder windows. onMessage() runs the
// rules in order over one message and returns the Verdict the relay carries out. Pure: no timers (a delay is a
// number in the verdict; flushing a reorder window on a timeout is the relay's call).

import type { Direction } from '../events.ts';
import type { Work } from './actions.ts';
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

type DirectionState = { counters: Map<string, number>; windows: Map<string, OutMessage[]> };

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
    this.needsRelay = applied.some((a) => a.rule.actions.steps.length > 0);
  }

  get names(): readonly string[] {
    return this.#applied.map((a) => a.rule.name);
  }

  onMessage(message: RuleMessage): Verdict {
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
            const window = state.windows.get(key) ?? [];
            state.windows.set(key, window);
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
    const out = [...windows.values()].flat();
    windows.clear();
    return out;
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
