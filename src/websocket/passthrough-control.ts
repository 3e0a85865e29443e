// What wsgate itself puts into a passthrough connection, whose bytes otherwise go through untouched: messages the
// admin API sends, the rules' injections at open and `every:` (injector.ts), and keepalive pings. A frame may only go in where the receiver expects a new frame: a ping at a
// frame boundary (RFC 6455 §5.4 lets a control frame sit between fragments), a data message at a message boundary
// (never inside a fragmented one). Each waits in order until the observer says its direction is there. Data
// messages go uncompressed (RSV1 clear), which is legal inside a permessage-deflate stream (RFC 7692 §6.1).
import { randomFillSync } from 'node:crypto';
import type { Direction } from '../events.ts';
import type { Injection, RuleHit } from '../rules/types.ts';
import { encodeFrame } from './encoder.ts';
import { OPCODE } from './frame.ts';
import { startInjections } from './injector.ts';
import { directionTo, Keepalive, type KeepaliveSettings } from './keepalive.ts';
import type { ByteSink, ConnectionObserver } from './observer.ts';
import { ruleEvent } from './relay-events.ts';
import type { ControlMessage, ControlResult } from './session.ts';

/** What may wait for a boundary, per direction: the admin API is not a bulk channel. */
const MAX_PENDING_BYTES = 1024 * 1024;

/** A frame waiting for its boundary, and what the tap reports once it is written (it is wsgate's own message). */
type Pending = {
  frame: Buffer;
  messageBoundary: boolean;
  kind: 'text' | 'binary' | 'ping';
  payload: Uint8Array;
  /** A rule's injection: its rule event follows the message's, once the message is written. */
  injection?: Injection | undefined;
  hit?: RuleHit | undefined;
};

/** What the session gives its control besides the observer and the sinks. */
export type PassthroughControlOptions = {
  keepalive?: KeepaliveSettings | undefined;
  /** The rules' injections at open and `every:` (ConnectionRules.injections of a connection that is not relayed). */
  injections?: readonly Injection[] | undefined;
  /** True while the receiver of `direction` holds limits.maxBufferedBytes or more: a periodic injection waits. */
  full?: ((direction: Direction) => boolean) | undefined;
};

function maskKey(): Uint8Array {
  return randomFillSync(new Uint8Array(4));
}

/** A frame toward `direction`: masked toward the server with a fresh key (RFC 6455 §5.3). */
export function frameToward(direction: Direction, opcode: number, payload: Uint8Array): Buffer {
  return direction === 'toUpstream'
    ? encodeFrame({ opcode, payload, maskKey: maskKey() })
    : encodeFrame({ opcode, payload });
}

export class PassthroughControl {
  #observer: ConnectionObserver;
  #sink: (direction: Direction) => ByteSink | undefined;
  #pending: Record<Direction, Pending[]> = { toUpstream: [], toClient: [] };
  #pendingBytes: Record<Direction, number> = { toUpstream: 0, toClient: 0 };
  #keepalive: Keepalive | undefined;
  #stopInjections: (() => void) | undefined;
  #stopped = false;

  /**
   * `sink(direction)` is where bytes toward that direction's receiver are written (the socket, or a fault's shaper
   * so that order is kept), undefined once the direction is halted.
   */
  constructor(
    observer: ConnectionObserver,
    sink: (direction: Direction) => ByteSink | undefined,
    options: PassthroughControlOptions,
  ) {
    this.#observer = observer;
    this.#sink = sink;
    const keepalive = options.keepalive;
    if (keepalive !== undefined && keepalive.intervalMs > 0) {
      this.#keepalive = new Keepalive(keepalive, (side, payload) => {
        this.#insert(directionTo(side), frameToward(directionTo(side), OPCODE.PING, payload), false, 'ping', payload);
      });
      // The pongs that answer them are counted and left out of the stream (the session forwards through the gate).
      observer.onPong = (_direction, payload) => this.#keepalive?.consumePong(payload) === true;
    }
    const injections = options.injections ?? [];
    if (injections.length > 0) this.#stopInjections = this.#inject(injections, options.full);
  }

  /**
   * The rules' injections, as the relay sends them (injector.ts): each a whole message at the next message boundary
   * of its direction, reported as wsgate's with its rule event once written. A periodic tick is skipped while the
   * receiver is not reading or the previous one still waits, so at most one per injection ever waits here.
   * The relay reports at the tick, the passthrough when written; deliberately. The relay writes whole messages in
   * the order it decides them (a hold lane keeps that order), so its tick is the message's place in the stream.
   * Here a tick may wait for a fragmented message to end: reported at the tick, wsgate's message would precede in
   * the log the message it follows on the wire, and its rule event could not name it (`ofMessage`). Only the time
   * differs, by that wait, and it is the time the message went.
   */
  #inject(injections: readonly Injection[], full: PassthroughControlOptions['full']): () => void {
    return startInjections(injections, {
      ended: (injection) => {
        const direction = injection.message.direction;
        if (this.#observer.canReachBoundary(direction)) return undefined;
        return `skipped: the framing toward the ${direction === 'toUpstream' ? 'server' : 'client'} is lost (a protocol violation)`;
      },
      blocked: (injection) => {
        const direction = injection.message.direction;
        const to = direction === 'toUpstream' ? 'server' : 'client';
        if (full?.(direction) === true) return `skipped: the ${to} is not reading (limits.maxBufferedBytes)`;
        if (this.#pending[direction].some((p) => p.injection === injection))
          return `skipped: the previous one still waits for a message boundary toward the ${to}`;
        return undefined;
      },
      send: (injection, hit) => {
        const { direction, type, data } = injection.message;
        const opcode = type === 'text' ? OPCODE.TEXT : OPCODE.BINARY;
        this.#insert(direction, frameToward(direction, opcode, data), true, type, data, injection, hit);
      },
      skipped: (injection, hit) =>
        this.#observer.report(ruleEvent(this.#observer.base(), injection.message.direction, hit, false)),
    });
  }

  get keepaliveCounts(): { pings: number; pongs: number } | undefined {
    return this.#keepalive ? { ...this.#keepalive.counts } : undefined;
  }

  /** After each chunk of `direction` went through: traffic for the keepalive, and a boundary for what waits. */
  after(direction: Direction): void {
    this.#keepalive?.activity();
    if (this.#pending[direction].length > 0) this.#flush(direction);
  }

  /** The admin API's send: queued for the next message boundary toward `to`. */
  send(to: 'client' | 'server', message: ControlMessage, closing: boolean): ControlResult {
    const direction = directionTo(to);
    if (this.#stopped || closing) return { ok: false, reason: 'the connection is closing' };
    if (this.#observer.closeSeen('toUpstream') !== undefined || this.#observer.closeSeen('toClient') !== undefined) {
      return { ok: false, reason: 'a close frame has been sent on this connection' };
    }
    if (!this.#observer.canReachBoundary(direction)) {
      return {
        ok: false,
        reason: `the framing toward the ${to} is lost (a protocol violation): no boundary to send at`,
      };
    }
    if (this.#pendingBytes[direction] + message.data.length > MAX_PENDING_BYTES) {
      return { ok: false, reason: `more than ${MAX_PENDING_BYTES} bytes wait for a message boundary toward the ${to}` };
    }
    const opcode = message.type === 'text' ? OPCODE.TEXT : OPCODE.BINARY;
    this.#insert(direction, frameToward(direction, opcode, message.data), true, message.type, message.data);
    return { ok: true };
  }

  /** The connection is closing or over: nothing more goes in. */
  stop(): void {
    this.#stopped = true;
    this.#keepalive?.stop();
    this.#stopInjections?.();
    this.#pending = { toUpstream: [], toClient: [] };
    this.#pendingBytes = { toUpstream: 0, toClient: 0 };
  }

  #insert(
    direction: Direction,
    frame: Buffer,
    messageBoundary: boolean,
    kind: Pending['kind'],
    payload: Uint8Array,
    injection?: Injection,
    hit?: RuleHit,
  ): void {
    if (this.#stopped) return;
    this.#pending[direction].push({ frame, messageBoundary, kind, payload, injection, hit });
    this.#pendingBytes[direction] += frame.length;
    this.#flush(direction);
  }

  #flush(direction: Direction): void {
    const queue = this.#pending[direction];
    const sink = this.#sink(direction);
    if (sink === undefined) return;
    // A Close went this way: nothing may follow it (RFC 6455 §5.5.1).
    if (this.#observer.closeSeen(direction) !== undefined) {
      this.#pending[direction] = [];
      this.#pendingBytes[direction] = 0;
      return;
    }
    while (queue.length > 0) {
      const head = queue[0]!;
      const ready = head.messageBoundary
        ? this.#observer.atMessageBoundary(direction)
        : this.#observer.atBoundary(direction);
      if (!ready) return;
      queue.shift();
      this.#pendingBytes[direction] -= head.frame.length;
      sink.write(head.frame);
      const shown = this.#observer.ownMessage(direction, head.kind, head.payload);
      // Rule hits are reported at every tap level, as the relay's; linked to the message when that was reported.
      if (head.hit !== undefined) this.#observer.report(ruleEvent(this.#observer.base(), direction, head.hit, shown));
    }
  }
}
