// What wsgate itself puts into a passthrough connection, whose bytes otherwise go through untouched: messages the
// admin API sends and keepalive pings. A frame may only go in where the receiver expects a new frame: a ping at a
// frame boundary (RFC 6455 §5.4 lets a control frame sit between fragments), a data message at a message boundary
// (never inside a fragmented one). Each waits in order until the observer says its direction is there. Data
// messages go uncompressed (RSV1 clear), which is legal inside a permessage-deflate stream (RFC 7692 §6.1).
import { randomFillSync } from 'node:crypto';
import type { Direction } from '../events.ts';
import { encodeFrame } from './encoder.ts';
import { OPCODE } from './frame.ts';
import { directionTo, Keepalive, type KeepaliveSettings } from './keepalive.ts';
import type { ByteSink, ConnectionObserver } from './observer.ts';
import type { ControlMessage, ControlResult } from './session.ts';

/** What may wait for a boundary, per direction: the admin API is not a bulk channel. */
const MAX_PENDING_BYTES = 1024 * 1024;

/** A frame waiting for its boundary, and what the tap reports once it is written (it is wsgate's own message). */
type Pending = {
  frame: Buffer;
  messageBoundary: boolean;
  kind: 'text' | 'binary' | 'ping';
  payload: Uint8Array;
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
  #stopped = false;

  /**
   * `sink(direction)` is where bytes toward that direction's receiver are written (the socket, or a fault's shaper
   * so that order is kept), undefined once the direction is halted.
   */
  constructor(
    observer: ConnectionObserver,
    sink: (direction: Direction) => ByteSink | undefined,
    keepalive: KeepaliveSettings | undefined,
  ) {
    this.#observer = observer;
    this.#sink = sink;
    if (keepalive !== undefined && keepalive.intervalMs > 0) {
      this.#keepalive = new Keepalive(keepalive, (side, payload) => {
        this.#insert(directionTo(side), frameToward(directionTo(side), OPCODE.PING, payload), false, 'ping', payload);
      });
      // The pongs that answer them are counted and left out of the stream (the session forwards through the gate).
      observer.onPong = (_direction, payload) => this.#keepalive?.consumePong(payload) === true;
    }
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
    this.#pending = { toUpstream: [], toClient: [] };
    this.#pendingBytes = { toUpstream: 0, toClient: 0 };
  }

  #insert(
    direction: Direction,
    frame: Buffer,
    messageBoundary: boolean,
    kind: Pending['kind'],
    payload: Uint8Array,
  ): void {
    if (this.#stopped) return;
    this.#pending[direction].push({ frame, messageBoundary, kind, payload });
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
      this.#observer.ownMessage(direction, head.kind, head.payload);
    }
  }
}
