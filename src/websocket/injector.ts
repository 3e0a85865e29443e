// The rules' injections of one connection (`inject` with `on: open` or `every:`), on the relay and the passthrough
// alike: those at open go out at once, the periodic ones on their timers until stop(). A periodic tick that cannot
// go now (its receiver is not reading, or on the passthrough the previous one still waits for a message boundary)
// is skipped and said so, so a peer that never reads does not grow wsgate's buffer one injection at a time. A tick
// that can never go again (on the passthrough, once a violation lost its direction's framing) is said once and its
// timer stops: a line at every tick would repeat the first for the rest of the connection. One
// module for both, so that a connection's rule events say the same whether it is relayed or not; how a message is
// written and when it is reported is the caller's (relay.ts, passthrough-control.ts).
import type { Injection, RuleHit } from '../rules/types.ts';

export type InjectionPort = {
  /** Why a periodic tick cannot go now, as its hit's detail (`skipped: …`), or undefined when it can. */
  blocked(injection: Injection): string | undefined;
  /** Why no tick of this injection can go for the rest of the connection (`skipped: …`), or undefined. */
  ended?(injection: Injection): string | undefined;
  /** Sends the injection's message as wsgate's; `hit` is its rule event, to report with (or after) the message. */
  send(injection: Injection, hit: RuleHit): void;
  /** A tick that did not go: `hit` says why. */
  skipped(injection: Injection, hit: RuleHit): void;
};

/** The hit of an injection that went out: the rule, `inject`, and what it sent. */
export function injectionHit(injection: Injection): RuleHit {
  const m = injection.message;
  return { rule: injection.rule, action: 'inject', detail: `${m.type} ${m.data.length} B` };
}

const NOTHING = (): void => {};

/** Sends the injections at open and arms the periodic ones; the function returned clears their timers. */
export function startInjections(injections: readonly Injection[], port: InjectionPort): () => void {
  if (injections.length === 0) return NOTHING;
  const timers: NodeJS.Timeout[] = [];
  for (const injection of injections) {
    if (injection.everyMs === undefined) {
      port.send(injection, injectionHit(injection));
      continue;
    }
    const tick = () => {
      const ended = port.ended?.(injection);
      if (ended !== undefined) {
        clearInterval(timer);
        const detail = `${ended}; no more ticks of this rule on this connection`;
        port.skipped(injection, { rule: injection.rule, action: 'inject', detail });
        return;
      }
      const why = port.blocked(injection);
      if (why === undefined) port.send(injection, injectionHit(injection));
      else port.skipped(injection, { rule: injection.rule, action: 'inject', detail: why });
    };
    const timer = setInterval(tick, Math.max(1, injection.everyMs));
    timer.unref();
    timers.push(timer);
  }
  return () => {
    for (const timer of timers) clearInterval(timer);
    timers.length = 0;
  };
}
