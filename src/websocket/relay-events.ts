// The traffic events of one relayed connection, shaped as the passthrough tap's (open, frame, message, violation,
// end) plus one `rule` event per RuleHit. Levels as on the passthrough: frames and messages only at "frames" and
// "payload" (and only when someone would see them), closes from "meta" up; violations and rule hits at every level,
// because they change what happens to the connection.
import type { Direction, WsEndEvent, WsEvent, WsMessageEvent } from '../events.ts';
import type { RuleHit } from '../rules/types.ts';
import type { FrameHeader } from './frame.ts';
import type { Message } from './message.ts';
import { isoNow, opcodeName, type TapSettings } from './observer.ts';
import type { SessionInfo } from './session.ts';

export type CloseInfo = { code: number | undefined; reason: string };

export class RelayEvents {
  #info: SessionInfo;
  #tap: TapSettings;
  #emit: (event: WsEvent) => void;

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
    const info = this.#info;
    this.#emit({
      type: 'open',
      conn: info.conn,
      route: info.route,
      time: isoNow(),
      upstream: info.upstream,
      path: info.path,
      client: info.client,
      protocol: info.protocol,
      extensions: info.extensions,
      tap: this.#tap.level,
      handshakeMs: info.handshakeMs,
      request: info.request,
      forwarded: info.forwarded,
      response: info.response,
      relay: true,
    });
  }

  frame(direction: Direction, h: Readonly<FrameHeader>): void {
    if (!this.#showing()) return;
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

  /** A message as it arrived (inflated when permessage-deflate was kept); `close` for close frames. */
  message(direction: Direction, kind: string, data: Buffer, m?: Message, close?: CloseInfo): void {
    const level = this.#tap.level;
    if (close === undefined ? !this.#showing() : level === 'off') return;
    const event: WsMessageEvent = {
      ...this.#base(),
      type: 'message',
      dir: direction,
      kind,
      size: data.length,
      fragments: m?.fragments ?? 1,
      compressed: m?.compressed ?? false,
    };
    if (close !== undefined) {
      if (close.code !== undefined) event.code = close.code;
      if (close.reason) event.reason = close.reason;
    } else if (level === 'payload') {
      const shown = data.subarray(0, this.#tap.previewBytes);
      event.truncated = data.length > shown.length;
      if (kind === 'text') {
        const text = shown.toString('utf8');
        event.preview = this.#tap.redactText ? this.#tap.redactText(text) : text;
      } else {
        event.preview = shown.toString('hex');
      }
    }
    this.#emit(event);
  }

  hits(direction: Direction, hits: readonly RuleHit[]): void {
    for (const hit of hits) {
      this.#emit({
        ...this.#base(),
        type: 'rule',
        dir: direction,
        rule: hit.rule,
        action: hit.action,
        detail: hit.detail,
        ...(hit.mark === undefined ? {} : { mark: hit.mark }),
      });
    }
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
    const info = this.#info;
    this.#emit({
      type: 'end',
      conn: info.conn,
      route: info.route,
      time: isoNow(),
      upstream: info.upstream,
      protocol: info.protocol,
      extensions: info.extensions,
      ...fields,
    });
  }
}
