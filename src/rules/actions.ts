// A rule's actions compiled once: message actions (replace, setJson, deleteJson, drop, delay, inject on match,
// close, mark, hold) and per-message faults (dropEvery, duplicate, reorder, refragment, swallowPings, swallowPongs) become
// steps applied to each message the rule selects; handshake and connection faults and injections at open become
// the plain values of types.ts. Every step explains itself. Stateless steps act here; the stateful ones (dropEvery's
// counter, reorder's window) are data for rules/connection.ts, which owns a connection's state. Pure.

import { parseJsonPointer } from '../config/json-pointer.ts';
import { type ActionConfig, DEFAULT_HOLD_TIMEOUT_MS, DEFAULT_REORDER_MAX_WAIT_MS } from '../config/shape-actions.ts';
import { parseTextPattern } from '../config/text-pattern.ts';
import { formatDuration, formatSize } from '../config/units.ts';
import type { Direction } from '../events.ts';
import { deleteAt, type JsonValue, setAt } from './json-path.ts';
import { type MessageView, ordinal, viewOf } from './matchers.ts';
import type {
  CloseOrder,
  ConnectionFaults,
  HandshakeFaults,
  HoldOrder,
  Injection,
  OutMessage,
  RuleMessage,
} from './types.ts';

/** The message a rule is working on, and what its actions have decided so far. */
export type Work = {
  /** undefined once dropped. */
  message: OutMessage | undefined;
  view: MessageView;
  /** Messages injected on match, sent after the message. */
  extra: OutMessage[];
  close?: CloseOrder | undefined;
  mark?: string | undefined;
};

/** A stateless step: changes `work` and says what it did. */
export type StatelessStep = { kind: 'stateless'; name: string; explain(): string; apply(work: Work): string };

export type Step =
  | StatelessStep
  | { kind: 'dropEvery'; name: 'dropEvery'; n: number; explain(): string }
  | { kind: 'reorder'; name: 'reorder'; window: number; maxWaitMs: number; explain(): string }
  | { kind: 'duplicate' | 'refragment' | 'swallowPings' | 'swallowPongs'; name: string; n: number; explain(): string };

export type CompiledActions = {
  steps: Step[];
  handshake: HandshakeFaults;
  connection: ConnectionFaults;
  injections: Injection[];
  /** Every action in words, in order. */
  explain: string[];
};

const q = JSON.stringify;

function toDirection(to: 'client' | 'server'): Direction {
  return to === 'server' ? 'toUpstream' : 'toClient';
}

function setData(work: Work, data: Buffer): void {
  if (work.message === undefined) return;
  work.message = { ...work.message, data };
  work.view = viewOf(work.message);
}

function replaceStep(pattern: string, replacement: string): StatelessStep {
  const p = parseTextPattern(pattern, { allowGlobal: true });
  if (!p.ok) throw new Error(`unreachable: the config lets the bad pattern ${q(pattern)} through`);
  const shown = p.kind === 'regex' ? `/${p.source}/${p.flags}` : q(p.text);
  const re = p.kind === 'regex' ? new RegExp(p.source, p.flags) : undefined;
  const count = (text: string): number => {
    if (re === undefined) return p.kind === 'substring' ? text.split(p.text).length - 1 : 0;
    if (re.global) return text.match(re)?.length ?? 0;
    return re.test(text) ? 1 : 0;
  };
  return {
    kind: 'stateless',
    name: 'replace',
    explain: () => `replace ${shown} with ${q(replacement)}`,
    apply(work) {
      if (work.message?.type !== 'text') return `${work.message?.type ?? 'dropped'} message, unchanged`;
      const text = work.view.text;
      const n = count(text);
      if (n === 0) return `no match of ${shown}, unchanged`;
      const out =
        re === undefined && p.kind === 'substring'
          ? text.replaceAll(p.text, replacement)
          : text.replace(re!, replacement);
      setData(work, Buffer.from(out, 'utf8'));
      return `replaced ${n} match${n === 1 ? '' : 'es'} of ${shown}`;
    },
  };
}

function jsonStep(kind: 'setJson' | 'deleteJson', pointer: string, value?: unknown): StatelessStep {
  const r = parseJsonPointer(pointer);
  if (!r.ok) throw new Error(`unreachable: the config lets the bad pointer ${q(pointer)} through`);
  const tokens = r.tokens;
  const valueText = JSON.stringify(value);
  return {
    kind: 'stateless',
    name: kind,
    explain: () => (kind === 'setJson' ? `set JSON ${q(pointer)} to ${valueText}` : `delete JSON ${q(pointer)}`),
    apply(work) {
      if (work.message?.type !== 'text') return `${work.message?.type ?? 'dropped'} message, unchanged`;
      const json = work.view.json;
      if (json === undefined) return 'not JSON, unchanged';
      // Work on a copy: the view's parse may be shared with matchers of later rules.
      const doc = structuredClone(json.value);
      if (kind === 'deleteJson') {
        if (!deleteAt(doc, tokens)) return `no value at ${q(pointer)}, unchanged`;
        setData(work, Buffer.from(JSON.stringify(doc), 'utf8'));
        return `deleted ${q(pointer)}`;
      }
      const set = setAt(doc, tokens, structuredClone(value) as JsonValue);
      if (!set.ok) return `cannot set ${q(pointer)} (${set.why}), unchanged`;
      setData(work, Buffer.from(JSON.stringify(set.doc), 'utf8'));
      return `set ${q(pointer)} to ${valueText}`;
    },
  };
}

function injected(i: NonNullable<ActionConfig['inject']>): Injection['message'] {
  return i.text !== undefined
    ? { direction: toDirection(i.to), type: 'text', data: Buffer.from(i.text, 'utf8') }
    : { direction: toDirection(i.to), type: 'binary', data: Buffer.from(i.binary ?? '', 'base64') };
}

function describeInjected(m: RuleMessage): string {
  const side = m.direction === 'toUpstream' ? 'server' : 'client';
  const what = m.type === 'text' ? q(m.data.toString('utf8')) : `${m.data.length} binary bytes`;
  return `${what} to the ${side}`;
}

/** Compiles the action list of rule `rule` (validated by the config: exactly one key per item). */
export function compileActions(rule: string, actions: readonly ActionConfig[]): CompiledActions {
  const out: CompiledActions = { steps: [], handshake: {}, connection: {}, injections: [], explain: [] };
  const step = (s: Step) => {
    out.steps.push(s);
    out.explain.push(s.explain());
  };
  const fault = (text: string) => out.explain.push(text);
  for (const a of actions) {
    if (a.replace !== undefined) step(replaceStep(a.replace.pattern, a.replace.with));
    else if (a.setJson !== undefined) step(jsonStep('setJson', a.setJson.pointer, a.setJson.value));
    else if (a.deleteJson !== undefined) step(jsonStep('deleteJson', a.deleteJson));
    else if (a.drop !== undefined) {
      step({
        kind: 'stateless',
        name: 'drop',
        explain: () => 'drop the message',
        apply(work) {
          work.message = undefined;
          return 'dropped';
        },
      });
    } else if (a.delay !== undefined) {
      const ms = a.delay;
      step({
        kind: 'stateless',
        name: 'delay',
        explain: () => `delay it ${formatDuration(ms)}`,
        apply(work) {
          if (work.message === undefined) return 'dropped, nothing to delay';
          work.message = { ...work.message, delayMs: (work.message.delayMs ?? 0) + ms };
          return `delayed ${formatDuration(ms)}`;
        },
      });
    } else if (a.inject !== undefined) {
      const message = injected(a.inject);
      const words = describeInjected(message);
      const everyMs = a.inject.every;
      if (a.inject.on === 'open' || everyMs !== undefined) {
        out.injections.push(everyMs === undefined ? { rule, message } : { rule, message, everyMs });
        fault(everyMs === undefined ? `inject ${words} at open` : `inject ${words} every ${formatDuration(everyMs)}`);
      } else {
        step({
          kind: 'stateless',
          name: 'inject',
          explain: () => `inject ${words}`,
          apply(work) {
            work.extra.push({ ...message, injected: true });
            return `injected ${words}`;
          },
        });
      }
    } else if (a.close !== undefined) {
      const order: CloseOrder = { code: a.close.code, reason: a.close.reason, to: a.close.to };
      const words = `close ${order.code}${order.reason === '' ? '' : ` ${q(order.reason)}`} to ${order.to === 'both' ? 'both sides' : `the ${order.to}`}`;
      step({
        kind: 'stateless',
        name: 'close',
        explain: () => words,
        apply(work) {
          work.close ??= order;
          return words;
        },
      });
    } else if (a.mark !== undefined) {
      const tag = a.mark;
      step({
        kind: 'stateless',
        name: 'mark',
        explain: () => `mark ${q(tag)}`,
        apply(work) {
          work.mark = tag;
          return `marked ${q(tag)}`;
        },
      });
    } else if (a.hold !== undefined) {
      const h = typeof a.hold === 'boolean' ? {} : a.hold; // false is refused by the config
      const order: HoldOrder = {
        rule,
        timeoutMs: h.timeout ?? DEFAULT_HOLD_TIMEOUT_MS,
        onTimeout: h.onTimeout ?? 'forward',
      };
      const words = `hold it (${formatDuration(order.timeoutMs)}, then ${order.onTimeout === 'forward' ? 'forward it unchanged' : 'drop it'})`;
      step({
        kind: 'stateless',
        name: 'hold',
        explain: () => words,
        apply(work) {
          // A Close is never held: it ends the direction, and what waits is settled by the relay before it.
          if (work.message === undefined || work.message.type === 'close') return 'not held';
          work.message = { ...work.message, hold: order };
          return `held for ${formatDuration(order.timeoutMs)}`;
        },
      });
    }
    // Per-message faults.
    else if (a.dropEvery !== undefined) {
      const n = a.dropEvery;
      step({ kind: 'dropEvery', name: 'dropEvery', n, explain: () => `drop every ${ordinal(n)} matching message` });
    } else if (a.duplicate !== undefined)
      step({ kind: 'duplicate', name: 'duplicate', n: 2, explain: () => 'send each matching message twice' });
    else if (a.reorder !== undefined) {
      const window = a.reorder.window;
      const maxWaitMs = a.reorder.maxWait ?? DEFAULT_REORDER_MAX_WAIT_MS;
      step({
        kind: 'reorder',
        name: 'reorder',
        window,
        maxWaitMs,
        explain: () => `reorder within windows of ${window} (held ${formatDuration(maxWaitMs)} at most)`,
      });
    } else if (a.refragment !== undefined) {
      const n = a.refragment;
      step({ kind: 'refragment', name: 'refragment', n, explain: () => `split data messages into ${n} frames` });
    } else if (a.swallowPings !== undefined)
      step({ kind: 'swallowPings', name: 'swallowPings', n: 0, explain: () => 'swallow pings' });
    else if (a.swallowPongs !== undefined)
      step({ kind: 'swallowPongs', name: 'swallowPongs', n: 0, explain: () => 'swallow pongs' });
    // Handshake and tunnel faults: the first rule that sets one wins (rule-set.ts merges in order).
    else if (a.stripUpgrade !== undefined) {
      const inTunnels = a.stripUpgrade === true ? true : a.stripUpgrade.inTunnels;
      out.handshake.stripUpgrade = inTunnels ? { rule } : { rule, inTunnels: false };
      fault(`strip Upgrade from the handshake${inTunnels ? '' : ' (not inside CONNECT tunnels)'}`);
    } else if (a.rejectConnect !== undefined) {
      const r = typeof a.rejectConnect === 'number' ? { status: a.rejectConnect } : a.rejectConnect;
      out.handshake.rejectConnect =
        'exceptPorts' in r && r.exceptPorts !== undefined
          ? { rule, status: r.status, exceptPorts: r.exceptPorts }
          : { rule, status: r.status };
      const except =
        'exceptPorts' in r && r.exceptPorts !== undefined ? ` except to ports ${r.exceptPorts.join(', ')}` : '';
      fault(`answer CONNECT with ${r.status}${except}`);
    } else if (a.rejectUpgrade !== undefined) {
      out.handshake.rejectUpgrade = { rule, status: a.rejectUpgrade };
      fault(`answer the handshake with ${a.rejectUpgrade}`);
    } else if (a.untrustedCert !== undefined) {
      out.handshake.untrustedCert = { rule };
      fault('intercept TLS with an untrusted certificate');
    } else if (a.stripExtensions !== undefined) {
      out.handshake.stripExtensions = { rule };
      fault('strip Sec-WebSocket-Extensions');
    }
    // Connection faults.
    else if (a.idleCut !== undefined) {
      out.connection.idleCut = { rule, ms: a.idleCut };
      fault(`cut TCP after ${formatDuration(a.idleCut)} idle`);
    } else if (a.maxLifetime !== undefined) {
      out.connection.maxLifetime = { rule, ms: a.maxLifetime };
      fault(`cut TCP ${formatDuration(a.maxLifetime)} after the open`);
    } else if (a.throttle !== undefined) {
      const t = a.throttle;
      out.connection.throttle = {
        rule,
        ...(t.toServer === undefined ? {} : { toUpstream: t.toServer }),
        ...(t.toClient === undefined ? {} : { toClient: t.toClient }),
      };
      const parts = [
        t.toServer === undefined ? '' : `${formatSize(t.toServer)}/s toward the server`,
        t.toClient === undefined ? '' : `${formatSize(t.toClient)}/s toward the client`,
      ].filter((s) => s !== '');
      fault(`throttle to ${parts.join(' and ')}`);
    } else if (a.latency !== undefined) {
      out.connection.latency = { rule, ms: a.latency };
      fault(`add ${formatDuration(a.latency)} latency`);
    } else if (a.buffer !== undefined) {
      out.connection.buffer = { rule, everyMs: a.buffer };
      fault(`release bytes in bursts every ${formatDuration(a.buffer)}`);
    } else if (a.halfOpen !== undefined) {
      const direction: Direction = a.halfOpen.direction === 'toServer' ? 'toUpstream' : 'toClient';
      out.connection.halfOpen = { rule, direction, afterMs: a.halfOpen.after };
      fault(`stop forwarding ${a.halfOpen.direction} after ${formatDuration(a.halfOpen.after)} (no FIN)`);
    } else if (a.resetAfter !== undefined) {
      out.connection.resetAfter = { rule, messages: a.resetAfter };
      fault(`reset after ${a.resetAfter} messages`);
    }
  }
  return out;
}

/**
 * True when the rule needs the relay: a step changes, drops, holds or adds messages (an `inject` on a match is a
 * step). Injections at open or `every:` alone do not: the passthrough inserts a whole message of wsgate's at a
 * message boundary (websocket/passthrough-control.ts), so the peers keep what they negotiated (permessage-deflate).
 */
export function needsRelay(actions: CompiledActions): boolean {
  return actions.steps.length > 0;
}
