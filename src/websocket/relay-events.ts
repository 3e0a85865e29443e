// The traffic events of one relayed connection, shaped as the passthrough tap's (open, frame, message, violation,
// end) plus one `rule` event per RuleHit. Levels as on the passthrough: frames and messages only at "frames" and
// "payload" (and only when someone would see them), closes from "meta" up; violations and rule hits at every level,
// because they change what happens to the connection.
import type { Direction, WsEndEvent, WsEvent, WsHeldInfo, WsMessageEvent, WsRuleEvent } from '../events.ts';
import type { RuleHit } from '../rules/types.ts';
import type { FrameHeader } from './frame.ts';
import type { Message } from './message.ts';
import { isoNow, opcodeName, storeData, type TapSettings } from './observer.ts';
import type { HeldMessage } from './relay-hold.ts';
import type { SessionInfo } from './session.ts';
import { endEvent, openEvent } from './session-report.ts';

export type CloseInfo = { code: number | undefined; reason: string };

/** One rule hit as a `rule` event (the passthrough's injections report theirs with it too); `linked`: ofMessage. */
export function ruleEvent(
  base: { conn: string; route: string; time: string },
  direction: Direction,
  hit: RuleHit,
  linked: boolean,
): WsRuleEvent {
  return {
    ...base,
    type: 'rule',
    dir: direction,
    rule: hit.rule,
    action: hit.action,
    detail: hit.detail,
    ...(hit.mark === undefined ? {} : { mark: hit.mark }),
    ...(linked ? { ofMessage: true } : {}),
  };
}

export class RelayEvents {
  #info: SessionInfo;
  #tap: TapSettings;
  #emit: (event: WsEvent) => void;
  /** Whether the last message() of each direction was emitted (its rule hits can name it). */
  #emitted: Record<Direction, boolean> = { toUpstream: false, toClient: false };

  constructor(info: SessionInfo, tap: TapSettings, emit: (event: WsEvent) => void) {
    this.#info = info;
    this.#tap = tap;
    this.#emit = emit;
  }

  #base(): { conn: string; route: string; time: string } {
    return { conn: this.#info.conn, route: this.#info.route, time: isoNow() };
  }

  /** Frame and message events are built only when the level shows them and someone would see them. */
  #showing(): boolean {
    const level = this.#tap.level;
    return level !== 'off' && level !== 'meta' && (this.#tap.active?.() ?? true);
  }

  open(): void {
    this.#emit({ ...openEvent(this.#info, this.#tap.level), relay: true });
  }

  frame(direction: Direction, h: Readonly<FrameHeader>): void {
    if (!this.#showing() || this.#tap.framesActive?.() === false) return;
    this.#emit({
      ...this.#base(),
      type: 'frame',
      dir: direction,
      opcode: opcodeName(h.opcode),
      fin: h.fin,
      rsv1: h.rsv1,
      masked: h.masked,
      length: h.payloadLength,
    });
  }

  /**
   * A message as it arrived (inflated when permessage-deflate was kept); `close` for close frames. `origin`
   * "wsgate" for one wsgate sends itself (admin send, rule inject, keepalive ping).
   */
  message(direction: Direction, kind: string, data: Buffer, m?: Message, close?: CloseInfo, origin?: 'wsgate'): void {
    const level = this.#tap.level;
    const shown = close === undefined ? this.#showing() : level !== 'off';
    this.#emitted[direction] = shown;
    if (!shown) return;
    const event: WsMessageEvent = {
      ...this.#base(),
      type: 'message',
      dir: direction,
      kind,
      size: data.length,
      fragments: m?.fragments ?? 1,
      compressed: m?.compressed ?? false,
    };
    if (origin !== undefined) event.origin = origin;
    if (close !== undefined) {
      if (close.code !== undefined) event.code = close.code;
      if (close.reason) event.reason = close.reason;
    } else if (level === 'payload') {
      const preview = data.subarray(0, this.#tap.previewBytes);
      event.truncated = data.length > preview.length;
      if (kind === 'text') {
        const text = preview.toString('utf8');
        event.preview = this.#tap.redactText ? this.#tap.redactText(text) : text;
      } else {
        event.preview = preview.toString('hex');
      }
      const max = this.#tap.storeBytes ?? 0;
      // The relay's buffers are its own to reuse or hand on: the store gets a copy (of its own).
      if (max > 0) {
        const own = new Uint8Array(data.subarray(0, max));
        storeData(event, own, data.length, max, kind === 'text', this.#tap.redactText);
      }
    }
    this.#emit(event);
  }

  /**
   * Rule hits; `ofMessage` when they acted on the message just passed to message() in this direction (its event
   * then names it, so the store links them by its seq).
   */
  hits(direction: Direction, hits: readonly RuleHit[], ofMessage = false): void {
    const linked = ofMessage && this.#emitted[direction];
    for (const hit of hits) this.#emit(ruleEvent(this.#base(), direction, hit, linked));
  }

  /** A hold action's step (hold, forward, edit, drop, timeout) on one held message, as a rule event. */
  held(held: HeldMessage, action: string, detail: string): void {
    const info: WsHeldInfo = {
      id: held.id,
      kind: held.type,
      size: held.data.length,
      since: new Date(held.since).toISOString(),
      deadline: new Date(held.deadline).toISOString(),
      onTimeout: held.onTimeout,
    };
    if (this.#tap.level === 'payload') {
      const shown = held.data.subarray(0, this.#tap.previewBytes);
      info.truncated = held.data.length > shown.length;
      if (held.type === 'text') {
        const text = shown.toString('utf8');
        info.preview = this.#tap.redactText ? this.#tap.redactText(text) : text;
      } else info.preview = shown.toString('hex');
    }
    this.#emit({ ...this.#base(), type: 'rule', dir: held.direction, rule: held.rule, action, detail, held: info });
  }

  violation(
    direction: Direction,
    v: { code: string; rule: string; closeCode: number; message: string; limit?: string | undefined },
  ): void {
    this.#emit({
      ...this.#base(),
      type: 'violation',
      dir: direction,
      code: v.code,
      rule: v.rule,
      closeCode: v.closeCode,
      message: v.message,
      ...(v.limit === undefined ? {} : { limit: v.limit }),
    });
  }

  end(fields: Omit<WsEndEvent, 'type' | 'conn' | 'route' | 'time' | 'upstream' | 'protocol' | 'extensions'>): void {
    this.#emit(endEvent(this.#info, fields));
  }
}
