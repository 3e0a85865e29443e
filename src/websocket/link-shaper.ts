// Byte-level connection faults (rules `connection:`, rules/types.ts ConnectionFaults): the link between wsgate's
// two sockets made slow, late, bursty, one-way, short-lived or reset on purpose, so a client can be tested against
// the networks its users sit behind. It sits between "a chunk was read" and "write it to the other socket": the
// passthrough session and the relay both hand their output to `sink(direction)` instead of the socket, and call
// `activity()` / `messagesSeen()` as they go. Nothing here knows frames: the faults act on bytes, so they work
// on the byte-exact passthrough, the relay and blind tunnels alike.
//
// Memory stays bounded: a direction holds at most maxBufferedBytes of delayed bytes; past that its sink answers
// false (the caller pauses the reader) and the lane resumes the reader itself once it has drained below half.
// When a fault ends the connection, `onEnd` is told first (so the end line can name the rule), then both sockets
// are destroyed (FIN, no Close frame: the client reports 1006) or reset (RST).
import type net from 'node:net';
import type { Direction } from '../events.ts';
import type { ConnectionFaults } from '../rules/types.ts';
import type { ByteSink } from './forward-gate.ts';

/** How a fault ended the connection, for the end line: `how: 'fault'` with `detail`. */
export type FaultEnd = {
  kind: 'cut' | 'reset';
  rule: string;
  /** idleCut, maxLifetime or resetAfter. */
  fault: string;
  /** For people, naming the rule: 'idleCut (rule "lb-timeout"): no bytes either way for 60000 ms'. */
  detail: string;
};

export type LinkShaperOptions = {
  client: net.Socket;
  upstream: net.Socket;
  /** The most a direction holds while delaying (limits.maxBufferedBytes). */
  maxBufferedBytes: number;
  /** Told once, before the sockets are destroyed or reset, when a fault ends the connection. */
  onEnd: (end: FaultEnd) => void;
};

export type LinkShaper = {
  /** Where a direction's output goes: write() answers false when the reader should pause. */
  sink(direction: Direction): ByteSink;
  /**
   * The reader of `direction` sent FIN: ends its receiver once what the lane holds is written, or never when
   * the direction is half-open (the point of halfOpen is that no FIN arrives).
   */
  endOnward(direction: Direction): void;
  /** Bytes moved (either way): restarts idleCut's clock. sink().write() calls it too. */
  activity(): void;
  /** The lane of `direction` holds maxBufferedBytes or waits for its socket to drain (a periodic injection waits). */
  full(direction: Direction): boolean;
  /** Whole messages seen so far, both directions together (resetAfter). */
  messagesSeen(total: number): void;
  /** Writes everything held at once and stops delaying, before wsgate writes a Close of its own (shutdown). */
  release(): void;
  /** Clears the timers; call once both sockets are closed. */
  stop(): void;
};

/** Any fault that acts on the link: without one, the caller keeps its plain write path. */
export function hasLinkFaults(faults: ConnectionFaults | undefined): faults is ConnectionFaults {
  if (faults === undefined) return false;
  return (
    faults.idleCut !== undefined ||
    faults.maxLifetime !== undefined ||
    faults.throttle !== undefined ||
    faults.latency !== undefined ||
    faults.buffer !== undefined ||
    faults.halfOpen !== undefined ||
    faults.resetAfter !== undefined
  );
}

/** Throttled bytes leave in slices of about this long, so a big chunk is spread out rather than sent late whole. */
const SLICE_MS = 50;

type Timing = {
  latencyMs: number;
  /** Release only at ticks every this many ms since the start (0: off). */
  burstMs: number;
  /** Bytes per second (0: unthrottled). */
  rate: number;
  started: number;
};

/** One direction: a queue of byte slices, each with the time it may leave, written in order. */
class Lane implements ByteSink {
  #from: net.Socket;
  #to: net.Socket;
  #timing: Timing;
  #max: number;
  #onActivity: () => void;
  #pieces: (Buffer | undefined)[] = [];
  #times: number[] = [];
  #head = 0;
  #queued = 0;
  /** The throttle's virtual clock: when the link is free to send the next byte. */
  #nextFree = 0;
  #lastAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #waitingDrain = false;
  #pausedReader = false;
  #ending = false;
  #halted = false;
  #released = false;
  /** Bytes swallowed after halfOpen. */
  swallowed = 0;

  constructor(from: net.Socket, to: net.Socket, timing: Timing, max: number, onActivity: () => void) {
    this.#from = from;
    this.#to = to;
    this.#timing = timing;
    this.#max = max;
    this.#onActivity = onActivity;
  }

  get #empty(): boolean {
    return this.#head === this.#pieces.length;
  }

  get full(): boolean {
    return this.#queued >= this.#max || this.#waitingDrain;
  }

  write(bytes: Uint8Array): boolean {
    this.#onActivity();
    if (this.#halted) {
      this.swallowed += bytes.length;
      return true;
    }
    const chunk = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    const now = performance.now();
    const { latencyMs, burstMs, rate, started } = this.#timing;
    if (this.#released || (latencyMs === 0 && burstMs === 0 && rate === 0)) {
      if (this.#empty && !this.#waitingDrain) return this.#writeOut(chunk);
      this.#enqueue(chunk, now);
    } else {
      let at = now + latencyMs;
      if (burstMs > 0) at = started + Math.ceil((at - started + 1) / burstMs) * burstMs;
      if (rate === 0) {
        this.#enqueue(chunk, at);
      } else {
        const slice = Math.max(1, Math.floor((rate * SLICE_MS) / 1000));
        for (let offset = 0; offset < chunk.length; offset += slice) {
          const piece = chunk.subarray(offset, Math.min(chunk.length, offset + slice));
          const start = Math.max(at, this.#nextFree);
          this.#nextFree = start + (piece.length * 1000) / rate;
          this.#enqueue(piece, start);
        }
      }
    }
    this.#pump();
    if (this.#queued >= this.#max) {
      this.#pausedReader = true;
      return false;
    }
    return true;
  }

  #enqueue(piece: Buffer, at: number): void {
    // Order is kept: nothing leaves before what was read ahead of it.
    const time = Math.max(at, this.#lastAt);
    this.#lastAt = time;
    this.#pieces.push(piece);
    this.#times.push(time);
    this.#queued += piece.length;
  }

  #writeOut(piece: Buffer): boolean {
    if (this.#to.destroyed || !this.#to.writable) return true;
    const ok = this.#to.write(piece);
    if (!ok && !this.#waitingDrain) {
      this.#waitingDrain = true;
      this.#to.once('drain', () => {
        this.#waitingDrain = false;
        this.#pump();
      });
    }
    return ok;
  }

  #pump = (): void => {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const now = performance.now();
    while (!this.#empty && !this.#waitingDrain) {
      const at = this.#times[this.#head]!;
      if (at > now && !this.#released) {
        this.#timer = setTimeout(this.#pump, Math.ceil(at - now));
        break;
      }
      const piece = this.#pieces[this.#head]!;
      this.#pieces[this.#head] = undefined;
      this.#head += 1;
      this.#queued -= piece.length;
      this.#writeOut(piece);
    }
    if (this.#empty && this.#head > 0) {
      this.#pieces = [];
      this.#times = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#pieces.length) {
      this.#pieces = this.#pieces.slice(this.#head);
      this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
    if (this.#pausedReader && this.#queued < this.#max / 2 && !this.#waitingDrain) {
      this.#pausedReader = false;
      this.#from.resume();
    }
    if (this.#empty && this.#ending && !this.#halted && !this.#to.destroyed) this.#to.end();
  };

  end(): void {
    this.#ending = true;
    this.#pump();
  }

  /** halfOpen: from now on nothing more is written this way, not even a FIN; the reader keeps being drained. */
  halt(): void {
    this.#halted = true;
    this.swallowed += this.#queued;
    this.#pieces = [];
    this.#times = [];
    this.#head = 0;
    this.#queued = 0;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pausedReader) {
      this.#pausedReader = false;
      this.#from.resume();
    }
  }

  release(): void {
    this.#released = true;
    this.#pump();
  }

  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

function ruleName(rule: string): string {
  return `rule "${rule}"`;
}

/** Builds the shaper for one connection's faults; its timers start now. */
export function createLinkShaper(faults: ConnectionFaults, options: LinkShaperOptions): LinkShaper {
  const { client, upstream } = options;
  const started = performance.now();
  const timing = (direction: Direction): Timing => ({
    latencyMs: faults.latency?.ms ?? 0,
    burstMs: faults.buffer?.everyMs ?? 0,
    rate: (direction === 'toUpstream' ? faults.throttle?.toUpstream : faults.throttle?.toClient) ?? 0,
    started,
  });
  let ended = false;
  const timers: NodeJS.Timeout[] = [];
  let idle: NodeJS.Timeout | undefined;

  const end = (kind: FaultEnd['kind'], rule: string, fault: string, detail: string) => {
    if (ended) return;
    ended = true;
    options.onEnd({ kind, rule, fault, detail: `${fault} (${ruleName(rule)}): ${detail}` });
    for (const socket of [client, upstream]) {
      if (kind === 'reset') resetSocket(socket);
      else socket.destroy();
    }
  };

  const activity = idleActivity();
  const lanes = {
    toUpstream: new Lane(client, upstream, timing('toUpstream'), options.maxBufferedBytes, activity),
    toClient: new Lane(upstream, client, timing('toClient'), options.maxBufferedBytes, activity),
  };

  function idleActivity(): () => void {
    const cut = faults.idleCut;
    if (cut === undefined) return () => {};
    idle = setTimeout(() => end('cut', cut.rule, 'idleCut', `no bytes either way for ${cut.ms} ms`), cut.ms);
    idle.unref();
    return () => idle?.refresh();
  }

  const lifetime = faults.maxLifetime;
  if (lifetime !== undefined) {
    const timer = setTimeout(
      () => end('cut', lifetime.rule, 'maxLifetime', `connection open for ${lifetime.ms} ms`),
      lifetime.ms,
    );
    timer.unref();
    timers.push(timer);
  }
  const halfOpen = faults.halfOpen;
  if (halfOpen !== undefined) {
    // After 0s: halted now, before any byte of the connection can pass (a timer would let the first ones through).
    if (halfOpen.afterMs <= 0) lanes[halfOpen.direction].halt();
    else {
      const timer = setTimeout(() => lanes[halfOpen.direction].halt(), halfOpen.afterMs);
      timer.unref();
      timers.push(timer);
    }
  }

  return {
    sink: (direction) => lanes[direction],
    endOnward(direction) {
      lanes[direction].end();
    },
    activity,
    full: (direction) => lanes[direction].full,
    messagesSeen(total) {
      const reset = faults.resetAfter;
      if (reset !== undefined && total >= reset.messages) {
        end('reset', reset.rule, 'resetAfter', `reset after ${total} messages`);
      }
    },
    release() {
      lanes.toUpstream.release();
      lanes.toClient.release();
    },
    stop() {
      ended = true;
      if (idle !== undefined) clearTimeout(idle);
      for (const timer of timers) clearTimeout(timer);
      lanes.toUpstream.stop();
      lanes.toClient.stop();
    },
  };
}

/**
 * RST rather than FIN (socket.resetAndDestroy). A TLS socket cannot be reset itself (Node refuses a handle that is
 * not TCP): its underlying TCP socket is, when there is one.
 */
function resetSocket(socket: net.Socket): void {
  try {
    socket.resetAndDestroy();
    return;
  } catch {
    // Not a TCP handle (TLS): reset the socket under it.
  }
  const parent = (socket as net.Socket & { _parent?: net.Socket | null })._parent;
  if (parent) {
    try {
      parent.resetAndDestroy();
    } catch {
      parent.destroy();
    }
  }
  socket.destroy();
}
