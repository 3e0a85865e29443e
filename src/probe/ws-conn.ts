// The probe's own WebSocket client side, after its 101: frames from the server are read with wsgate's decoder
// (unmasked, RSV1 allowed when permessage-deflate was agreed, and inflated with one raw inflater per connection
// because of context takeover), frames to the server are masked (RFC 6455 §5.3). It is small on purpose: the probe
// sends a message, a ping and then waits, and needs to know exactly how the connection ended — a Close frame with
// its code, or TCP FIN or RST with no Close, which is what a middlebox cutting an idle connection leaves.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import zlib from 'node:zlib';
import { parseClosePayload } from '../websocket/close.ts';
import { FrameDecoder, type FrameHandler } from '../websocket/decoder.ts';
import { encodeClose, encodeFrame } from '../websocket/encoder.ts';
import { type FrameHeader, OPCODE } from '../websocket/frame.ts';

export type WsEvent =
  | { type: 'message'; text: boolean; data: Buffer }
  | { type: 'pong'; data: Buffer }
  | { type: 'close'; code: number | undefined; reason: string }
  | { type: 'end'; how: 'fin' | 'rst' | 'error'; detail: string }
  | { type: 'violation'; detail: string };

/**
 * What the probe keeps of one message: enough to compare an echo and show a preview. The rest is read (and for a
 * compressed message inflated, for the context) but not kept, so a large message or a deflate bomb costs no memory.
 */
const MAX_KEPT_BYTES = 1024 * 1024;
/**
 * Messages received and not yet taken by a step. A server that streams while the probe waits (--idle) would
 * otherwise grow the list for as long as the silence lasts: past this, the oldest message waiting is dropped.
 */
const MAX_WAITING_MESSAGES = 256;

/** Inflates one permessage-deflate message (RFC 7692 §7.2.2: the 00 00 ff ff tail is put back). */
function inflateWith(inflater: zlib.InflateRaw, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    let kept = 0;
    const onData = (c: Buffer) => {
      if (kept >= MAX_KEPT_BYTES) return;
      const piece = c.length <= MAX_KEPT_BYTES - kept ? c : c.subarray(0, MAX_KEPT_BYTES - kept);
      out.push(piece);
      kept += piece.length;
    };
    inflater.on('data', onData);
    inflater.once('error', reject);
    inflater.write(Buffer.concat([data, Buffer.from([0, 0, 0xff, 0xff])]));
    inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      inflater.off('data', onData);
      inflater.off('error', reject);
      resolve(Buffer.concat(out));
    });
  });
}

/**
 * Frames from the server since `trackTraffic()`: how many, when the last one ended, and the longest gap between two
 * of them (the first gap counted from when tracking began). The idle step reads it to tell a cut that came while
 * the server was sending from one that came after a silence on both sides. Three numbers, whatever the traffic.
 */
export type Traffic = { since: number; frames: number; lastAt: number; longestGapMs: number };

export class WsConn {
  readonly socket: Socket;
  #events: WsEvent[] = [];
  #waiters = new Set<() => void>();
  #decoder: FrameDecoder;
  #inflater: zlib.InflateRaw | undefined;
  #pieces: Buffer[] = [];
  /** Bytes in #pieces: at most MAX_KEPT_BYTES of a message are kept. */
  #pieceBytes = 0;
  #control: Buffer[] = [];
  /** Messages in #events. */
  #waitingMessages = 0;
  #ended = false;
  /** Keeps inflated messages in order (inflation is asynchronous). */
  #queue: Promise<void> = Promise.resolve();
  #traffic: Traffic | undefined;

  constructor(socket: Socket, leftover: Buffer, deflate: boolean) {
    this.socket = socket;
    this.#inflater = deflate ? zlib.createInflateRaw() : undefined;
    const handler: FrameHandler = {
      onFrameHeader: () => {},
      onPayload: (slice) => this.#keep(slice),
      onFrameEnd: (h) => this.#frameEnd(h),
      onViolation: (v) => this.#push({ type: 'violation', detail: v.message }),
      onControl: (_h, payload) => this.#control.push(Buffer.from(payload)),
      onMessageEnd: (m) => this.#messageEnd(m.opcode === OPCODE.TEXT, m.compressed),
    };
    this.#decoder = new FrameDecoder({ expectMasked: false, allowRsv1: deflate }, handler);
    socket.on('data', (chunk: Buffer) => this.#decoder.push(chunk));
    socket.on('end', () => this.#end('fin', 'the server side sent FIN'));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      this.#end(err.code === 'ECONNRESET' ? 'rst' : 'error', err.code ?? err.message),
    );
    socket.on('close', () => this.#end('fin', 'the connection closed'));
    if (leftover.length > 0) this.#decoder.push(leftover);
    socket.resume();
  }

  #keep(slice: Uint8Array): void {
    const room = MAX_KEPT_BYTES - this.#pieceBytes;
    if (room <= 0) return;
    const piece = Buffer.from(slice.length <= room ? slice : slice.subarray(0, room));
    this.#pieces.push(piece);
    this.#pieceBytes += piece.length;
  }

  #frameEnd(h: Readonly<FrameHeader>): void {
    const traffic = this.#traffic;
    if (traffic !== undefined) {
      const now = performance.now();
      traffic.longestGapMs = Math.max(traffic.longestGapMs, now - traffic.lastAt);
      traffic.lastAt = now;
      traffic.frames += 1;
    }
    if (h.opcode === OPCODE.PING) {
      const payload = this.#control.pop() ?? Buffer.alloc(0);
      this.#write(encodeFrame({ opcode: OPCODE.PONG, payload, maskKey: randomBytes(4) }));
    } else if (h.opcode === OPCODE.PONG) {
      this.#push({ type: 'pong', data: this.#control.pop() ?? Buffer.alloc(0) });
    } else if (h.opcode === OPCODE.CLOSE) {
      const parsed = parseClosePayload(this.#control.pop() ?? Buffer.alloc(0));
      this.#push({ type: 'close', code: parsed.code, reason: parsed.ok ? parsed.reason : '' });
    }
  }

  #messageEnd(text: boolean, compressed: boolean): void {
    const data = Buffer.concat(this.#pieces);
    this.#pieces = [];
    this.#pieceBytes = 0;
    const inflater = this.#inflater;
    if (!compressed || inflater === undefined) {
      this.#queue = this.#queue.then(() => this.#push({ type: 'message', text, data }));
      return;
    }
    this.#queue = this.#queue.then(() =>
      inflateWith(inflater, data).then(
        (plain) => this.#push({ type: 'message', text, data: plain }),
        (err: Error) => this.#push({ type: 'violation', detail: `inflating a message failed: ${err.message}` }),
      ),
    );
  }

  #end(how: 'fin' | 'rst' | 'error', detail: string): void {
    if (this.#ended) return;
    this.#ended = true;
    // Messages still being inflated come first.
    void this.#queue.then(() => this.#push({ type: 'end', how, detail }));
  }

  #push(event: WsEvent): void {
    if (event.type === 'message') {
      if (this.#waitingMessages >= MAX_WAITING_MESSAGES) {
        this.#events.splice(
          this.#events.findIndex((e) => e.type === 'message'),
          1,
        );
      } else this.#waitingMessages += 1;
    }
    this.#events.push(event);
    for (const wake of [...this.#waiters]) wake();
  }

  #write(frame: Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(frame);
  }

  /** Starts counting the server's frames afresh (see Traffic). */
  trackTraffic(): void {
    const now = performance.now();
    this.#traffic = { since: now, frames: 0, lastAt: now, longestGapMs: 0 };
  }

  /** The server's frames since trackTraffic(), or undefined before it. */
  traffic(): Readonly<Traffic> | undefined {
    return this.#traffic;
  }

  get ended(): boolean {
    return this.#ended;
  }

  sendText(text: string): void {
    this.#write(encodeFrame({ opcode: OPCODE.TEXT, payload: text, maskKey: randomBytes(4) }));
  }

  ping(payload: Buffer): void {
    this.#write(encodeFrame({ opcode: OPCODE.PING, payload, maskKey: randomBytes(4) }));
  }

  /** Messages received and not taken yet (at most MAX_WAITING_MESSAGES). */
  get waitingMessages(): number {
    return this.#waitingMessages;
  }

  /** The first event (already received or to come) that matches, or undefined after timeoutMs. */
  next(match: (e: WsEvent) => boolean, timeoutMs: number): Promise<WsEvent | undefined> {
    const found = this.#take(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve) => {
      const wake = () => {
        const event = this.#take(match);
        if (event === undefined) return;
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(event);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        resolve(undefined);
      }, timeoutMs);
      this.#waiters.add(wake);
    });
  }

  #take(match: (e: WsEvent) => boolean): WsEvent | undefined {
    const i = this.#events.findIndex(match);
    if (i === -1) return undefined;
    const [event] = this.#events.splice(i, 1);
    if (event?.type === 'message') this.#waitingMessages -= 1;
    return event;
  }

  /** A polite end: Close 1000, then the socket is destroyed (the probe does not wait for the echo). */
  close(): void {
    this.#write(encodeClose(1000, 'probe done', randomBytes(4)));
    this.socket.end();
    setTimeout(() => this.destroy(), 200).unref();
  }

  destroy(): void {
    this.socket.destroy();
    this.#inflater?.close();
  }
}
