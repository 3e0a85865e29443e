// Watches one joined WebSocket connection frame by frame, in both directions, without changing a byte: the join
// forwards each chunk first and then hands the same chunk here. One FrameDecoder per direction reads headers (and,
// at tap level "payload", previews through views of the chunk); events go to the connection's sink.
// It also knows where frame boundaries are, which is what lets shutdown inject a Close 1001 between frames.
import type { Direction, TapLevel, WsEvent, WsMessageEvent } from '../events.ts';
import { parseClosePayload } from './close.ts';
import { FrameDecoder, type FrameHandler } from './decoder.ts';
import { type DeflateParams, DisplayInflater } from './deflate.ts';
import { type FrameHeader, type MessageInfo, OPCODE } from './frame.ts';
import { unmaskInto } from './mask.ts';
import type { Violation } from './violation.ts';

export type TapSettings = {
  /** "off" still decodes headers (frame boundaries for shutdown, close codes for the end line) but reports nothing. */
  level: TapLevel;
  previewBytes: number;
  maxDecodedBytes: number;
  /** Applied to text previews before they leave the process. */
  redactText?: ((text: string) => string) | undefined;
  /**
   * Whether anyone would see frame and message events right now (log level, channel subscribers). When not, the
   * observer still counts and tracks closes but builds no events: building them costs more than decoding.
   */
  active?: (() => boolean) | undefined;
};

// One ISO timestamp string per millisecond, not one per event: formatting a Date is the costliest part of an event.
let clockMs = 0;
let clockIso = '';
export function isoNow(): string {
  const now = Date.now();
  if (now !== clockMs) {
    clockMs = now;
    clockIso = new Date(now).toISOString();
  }
  return clockIso;
}

export type CloseSeen = { code: number | undefined; reason: string; at: number };

export type DirectionCounters = { frames: number; messages: number; bytes: number };

const OPCODE_NAMES: Record<number, string> = {
  [OPCODE.CONTINUATION]: 'continuation',
  [OPCODE.TEXT]: 'text',
  [OPCODE.BINARY]: 'binary',
  [OPCODE.CLOSE]: 'close',
  [OPCODE.PING]: 'ping',
  [OPCODE.PONG]: 'pong',
};

export function opcodeName(opcode: number): string {
  return OPCODE_NAMES[opcode] ?? `reserved-${opcode.toString(16)}`;
}

/** Outstanding pings kept per direction for RTT; a peer that never answers must not grow this. */
const MAX_PENDING_PINGS = 16;
/** Violations reported per direction before the rest are only counted: a hostile peer could send one per frame. */
const MAX_REPORTED_VIOLATIONS = 20;

type Sink = (event: WsEvent) => void;

class DirectionObserver implements FrameHandler {
  readonly direction: Direction;
  readonly decoder: FrameDecoder;
  readonly counters: DirectionCounters = { frames: 0, messages: 0, bytes: 0 };
  close: CloseSeen | undefined;
  violations = 0;
  #owner: ConnectionObserver;
  #settings: TapSettings;
  #inflater: DisplayInflater | undefined;
  // The message being previewed (payload level only).
  #preview: Uint8Array | undefined;
  #previewLength = 0;
  #compressed: Buffer[] = [];
  #compressedSize = 0;
  #compressedOverflow = false;
  #pings = new Map<string, number>();
  // The decoder hands the same header object to every callback of a frame; onPayload needs its mask key.
  #currentHeader: Readonly<FrameHeader> | undefined;

  constructor(
    owner: ConnectionObserver,
    direction: Direction,
    settings: TapSettings,
    deflate: DeflateParams | undefined,
  ) {
    this.#owner = owner;
    this.direction = direction;
    this.#settings = settings;
    const fromClient = direction === 'toUpstream';
    if (deflate && settings.level === 'payload') {
      this.#inflater = new DisplayInflater({
        windowBits: fromClient ? deflate.clientMaxWindowBits : deflate.serverMaxWindowBits,
        noContextTakeover: fromClient ? deflate.clientNoContextTakeover : deflate.serverNoContextTakeover,
        maxDecodedBytes: settings.maxDecodedBytes,
      });
    }
    // Without onPayload the decoder creates no payload views at all: the cheap path for meta and frames.
    if (settings.level !== 'payload') (this as FrameHandler).onPayload = undefined;
    this.decoder = new FrameDecoder({ expectMasked: fromClient, allowRsv1: deflate !== undefined }, this);
  }

  onFrameHeader(h: Readonly<FrameHeader>): void {
    this.counters.frames += 1;
    this.#currentHeader = h;
    if (this.#settings.level === 'meta' || this.#settings.level === 'off' || !this.#owner.reporting) return;
    this.#owner.emit({
      ...this.#owner.base(),
      type: 'frame',
      dir: this.direction,
      opcode: opcodeName(h.opcode),
      fin: h.fin,
      rsv1: h.rsv1,
      masked: h.masked,
      length: h.payloadLength,
    });
  }

  onPayload(slice: Uint8Array, offsetInFrame: number): void {
    const message = this.decoder.message;
    const header = this.#currentHeader;
    // Control payloads arrive whole through onControl, also between fragments; here only data frames count.
    if (!message || !this.decoder.midMessage || header === undefined || header.opcode >= OPCODE.CLOSE) return;
    if (message.compressed) {
      if (this.#compressedOverflow) return;
      this.#compressedSize += slice.length;
      if (this.#compressedSize > this.#settings.maxDecodedBytes) {
        this.#compressedOverflow = true;
        this.#compressed = [];
        return;
      }
      const copy = Buffer.allocUnsafe(slice.length);
      if (header.maskKey) unmaskInto(copy, slice, header.maskKey, offsetInFrame);
      else copy.set(slice);
      this.#compressed.push(copy);
      return;
    }
    const room = this.#settings.previewBytes - this.#previewLength;
    if (room <= 0) return;
    this.#preview ??= new Uint8Array(this.#settings.previewBytes);
    const part = slice.subarray(0, room);
    if (header.maskKey) unmaskInto(this.#preview, part, header.maskKey, offsetInFrame, this.#previewLength);
    else this.#preview.set(part, this.#previewLength);
    this.#previewLength += part.length;
  }

  onFrameEnd(): void {
    this.#currentHeader = undefined;
  }

  onViolation(v: Violation): void {
    this.violations += 1;
    if (this.violations > MAX_REPORTED_VIOLATIONS) return;
    this.#owner.emit({
      ...this.#owner.base(),
      type: 'violation',
      dir: this.direction,
      code: v.code,
      rule: v.rule,
      closeCode: v.closeCode,
      message: v.message,
    });
  }

  onControl(h: Readonly<FrameHeader>, payload: Uint8Array): void {
    const now = performance.now();
    const event: WsMessageEvent = {
      ...this.#owner.base(),
      type: 'message',
      dir: this.direction,
      kind: opcodeName(h.opcode),
      size: payload.length,
      fragments: 1,
      compressed: false,
    };
    if (h.opcode === OPCODE.CLOSE) {
      const parsed = parseClosePayload(payload);
      this.close ??= { code: parsed.code, reason: parsed.ok ? parsed.reason : '', at: now };
      this.#owner.noteClose(this.direction);
      if (parsed.code !== undefined) event.code = parsed.code;
      if (parsed.ok && parsed.reason) event.reason = parsed.reason;
    } else if (h.opcode === OPCODE.PING) {
      if (this.#pings.size >= MAX_PENDING_PINGS) this.#pings.delete(this.#pings.keys().next().value as string);
      this.#pings.set(Buffer.from(payload).toString('hex'), now);
    } else if (h.opcode === OPCODE.PONG) {
      const sent = this.#owner.other(this.direction).takePing(Buffer.from(payload).toString('hex'));
      if (sent !== undefined) event.rttMs = Math.round((now - sent) * 1000) / 1000;
    }
    if (this.#settings.level === 'payload' && payload.length > 0 && h.opcode !== OPCODE.CLOSE) {
      event.preview = Buffer.from(payload).toString('hex');
    }
    // At meta level only closes are reported: pings and pongs are counted but not logged one by one, except
    // a pong that gives an RTT.
    if (this.#settings.level !== 'meta' || h.opcode === OPCODE.CLOSE || event.rttMs !== undefined)
      this.#owner.emit(event);
  }

  takePing(key: string): number | undefined {
    const at = this.#pings.get(key);
    if (at !== undefined) this.#pings.delete(key);
    return at;
  }

  onMessageEnd(m: Readonly<MessageInfo>): void {
    this.counters.messages += 1;
    if (this.#settings.level === 'meta' || this.#settings.level === 'off') return;
    const reporting = this.#owner.reporting;
    // A compressed message is still inflated when nobody is listening: later messages need its LZ77 window.
    if (!reporting && !(this.#settings.level === 'payload' && m.compressed)) {
      this.#preview = undefined;
      this.#previewLength = 0;
      return;
    }
    const event: WsMessageEvent = {
      ...this.#owner.base(),
      type: 'message',
      dir: this.direction,
      kind: opcodeName(m.opcode),
      size: m.size,
      fragments: m.fragments,
      compressed: m.compressed,
    };
    if (this.#settings.level === 'payload') this.#addPreview(event, m);
    if (reporting) this.#owner.emit(event);
  }

  #addPreview(event: WsMessageEvent, m: Readonly<MessageInfo>): void {
    const limit = this.#settings.previewBytes;
    let bytes: Uint8Array | undefined;
    let total = m.size;
    if (m.compressed) {
      if (!this.#inflater) {
        event.note = 'compressed; no inflater';
      } else if (this.#compressedOverflow) {
        event.note = `compressed message larger than maxDecodedBytes (${this.#settings.maxDecodedBytes}); not decoded`;
        // The skipped message breaks the shared LZ77 context for later ones.
        this.#inflater.skip('larger than maxDecodedBytes');
      } else {
        const result = this.#inflater.inflate(Buffer.concat(this.#compressed));
        if (result.ok) {
          bytes = result.data;
          total = result.data.length;
          event.decodedSize = result.data.length;
        } else {
          event.note = `not decoded: ${result.detail}`;
        }
      }
      this.#compressed = [];
      this.#compressedSize = 0;
      this.#compressedOverflow = false;
    } else if (this.#preview) {
      bytes = this.#preview.subarray(0, this.#previewLength);
    }
    this.#preview = undefined;
    this.#previewLength = 0;
    if (!bytes) {
      if (total === 0) event.preview = '';
      return;
    }
    const shown = bytes.subarray(0, limit);
    event.truncated = total > shown.length;
    if (m.opcode === OPCODE.TEXT) {
      const text = Buffer.from(shown.buffer, shown.byteOffset, shown.length).toString('utf8');
      event.preview = this.#settings.redactText ? this.#settings.redactText(text) : text;
    } else {
      event.preview = Buffer.from(shown.buffer, shown.byteOffset, shown.length).toString('hex');
    }
  }
}

export type ConnectionIdentity = { conn: string; route: string };

/** The tap of one connection: both directions, counters, close frames seen, and frame boundaries. */
export class ConnectionObserver {
  readonly identity: ConnectionIdentity;
  #sink: Sink;
  #dirs: { toUpstream: DirectionObserver; toClient: DirectionObserver };
  #firstClose: Direction | undefined;
  #silent: boolean;
  #active: (() => boolean) | undefined;
  /** Set by shutdown: called after a chunk that left this direction at a frame boundary. */
  onBoundary: ((direction: Direction) => void) | undefined;
  /** Called when a close frame is seen in a direction. */
  onClose: ((direction: Direction) => void) | undefined;

  constructor(identity: ConnectionIdentity, settings: TapSettings, deflate: DeflateParams | undefined, sink: Sink) {
    this.identity = identity;
    this.#sink = sink;
    this.#silent = settings.level === 'off';
    this.#active = settings.active;
    this.#dirs = {
      toUpstream: new DirectionObserver(this, 'toUpstream', settings, deflate),
      toClient: new DirectionObserver(this, 'toClient', settings, deflate),
    };
  }

  base(): { conn: string; route: string; time: string } {
    return { conn: this.identity.conn, route: this.identity.route, time: isoNow() };
  }

  emit(event: WsEvent): void {
    if (!this.#silent) this.#sink(event);
  }

  get reporting(): boolean {
    return !this.#silent && (this.#active === undefined || this.#active());
  }

  other(direction: Direction): DirectionObserver {
    return direction === 'toUpstream' ? this.#dirs.toClient : this.#dirs.toUpstream;
  }

  noteClose(direction: Direction): void {
    this.#firstClose ??= direction;
    this.onClose?.(direction);
  }

  /** Feeds a chunk that has already been forwarded in `direction`. */
  push(direction: Direction, chunk: Buffer): void {
    const d = this.#dirs[direction];
    d.counters.bytes += chunk.length;
    d.decoder.push(chunk);
    if (this.onBoundary && !d.decoder.midFrame) this.onBoundary(direction);
  }

  /** True when everything forwarded in this direction so far ends on a frame boundary. */
  atBoundary(direction: Direction): boolean {
    return !this.#dirs[direction].decoder.midFrame;
  }

  /** The close frame seen travelling in this direction, if any. */
  closeSeen(direction: Direction): CloseSeen | undefined {
    return this.#dirs[direction].close;
  }

  /** The direction whose close frame came first (toUpstream = the client closed first). */
  get firstClose(): Direction | undefined {
    return this.#firstClose;
  }

  counters(direction: Direction): DirectionCounters {
    return { ...this.#dirs[direction].counters };
  }

  violations(direction: Direction): number {
    return this.#dirs[direction].violations;
  }
}
