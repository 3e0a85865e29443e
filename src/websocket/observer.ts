// Watches one joined WebSocket connection frame by frame, in both directions, without changing a byte. One
// FrameDecoder per direction reads headers (and, at tap level "payload", previews through views of the chunk);
// events go to the connection's sink. It also enforces the WebSocket limits (frame, message, fragments, pending
// pings) at every tap level, and knows where frame boundaries are, which is what lets wsgate inject a Close between
// frames (1001 on shutdown, a violation's code with tap.onViolation: close).
//
// Two ways in. With onViolation "log" the join forwards each chunk first and hands the same chunk to push(): a
// violation is only reported, the peers decide. With "close" the join hands each chunk to forward() instead, which
// decodes it before writing it (forward-gate.ts): a frame that breaks a rule is cut off before its first byte, so
// the receiver gets wsgate's Close at a boundary and never the bad frame.
// Size: over 400 lines because the per-direction observer (events, previews, pings, limits, the gate) and the
// connection's bookkeeping share the decoder callbacks; split, each callback would cross a module per frame.
import {
  attachMessageData,
  type Direction,
  type TapLevel,
  type WsEvent,
  type WsMessageEvent,
  type WsViolationEvent,
} from '../events.ts';
import { parseClosePayload } from './close.ts';
import { FrameDecoder, type FrameHandler } from './decoder.ts';
import { type DeflateParams, DisplayInflater } from './deflate.ts';
import { type ByteSink, ForwardGate } from './forward-gate.ts';
import { type FrameHeader, type MessageInfo, OPCODE } from './frame.ts';
import { unmaskInto } from './mask.ts';
import { createViolation, type Violation, type ViolationCode } from './violation.ts';

export type { ByteSink } from './forward-gate.ts';

/** The WebSocket limits (limits.* in the config); each broken one is a violation with its close code. */
export type WsLimits = {
  maxFrameBytes: number;
  maxMessageBytes: number;
  maxFragments: number;
  maxPendingPings: number;
};

/** What wsgate does about a violation: report it and pass the bytes on, or close the connection. */
export type ViolationAction = 'log' | 'close';

/** The config key behind each limit violation, named in its ws.violation line and in the close line. */
export const LIMIT_KEYS: Partial<Record<ViolationCode, string>> = {
  WSG_WS_FRAME_TOO_LARGE: 'limits.maxFrameBytes',
  WSG_WS_MESSAGE_TOO_LARGE: 'limits.maxMessageBytes',
  WSG_WS_TOO_MANY_FRAGMENTS: 'limits.maxFragments',
  WSG_WS_TOO_MANY_PENDING_PINGS: 'limits.maxPendingPings',
};

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
  /**
   * Whether anyone would see frame events (the traffic log): the traffic store reads messages but never frames,
   * so with it on, frame events are built only when this says so. Undefined: as `active`.
   */
  framesActive?: (() => boolean) | undefined;
  /** Default "log". */
  onViolation?: ViolationAction | undefined;
  /** Default: no limits beyond what RFC 6455 can express. */
  limits?: WsLimits | undefined;
  /**
   * Judge each chunk before it leaves (forward()) even when violations are only logged: keepalive cuts the pongs
   * that answer wsgate's own pings out of the stream. Implied by onViolation "close".
   */
  gated?: boolean | undefined;
  /**
   * At level payload with the traffic store on: the most bytes of each message handed to it whole (the event's
   * non-enumerable `data`); the preview keeps previewBytes. Undefined or 0: previews only.
   */
  storeBytes?: number | undefined;
};

/** A message's bytes as the store keeps them: its own copy, cut to `max`, redacted text when a redactor is set. */
export function storeData(
  event: WsMessageEvent,
  bytes: Uint8Array,
  total: number,
  max: number,
  text: boolean,
  redact: ((text: string) => string) | undefined,
): void {
  const cut = bytes.length > max ? bytes.subarray(0, max) : bytes;
  // The store keeps it (and the session file's worker gets a structured clone of its whole ArrayBuffer): a view
  // into a bigger buffer (a cut, Buffer's shared pool) becomes a copy of its own.
  const kept = cut.byteLength === cut.buffer.byteLength ? cut : new Uint8Array(cut);
  const truncated = total > kept.length;
  if (text && redact !== undefined) {
    const s = Buffer.from(kept.buffer, kept.byteOffset, kept.length).toString('utf8');
    attachMessageData(event, { bytes: redact(s), truncated });
  } else attachMessageData(event, { bytes: kept, truncated });
}

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
const MAX_RTT_PINGS = 16;
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
  // The message being previewed (payload level only): previewBytes, or up to storeBytes for the traffic store.
  #preview: Uint8Array | undefined;
  #previewLength = 0;
  // Previews only: the one previewBytes buffer each message of this direction is read into, made at the first.
  #previewScratch: Uint8Array | undefined;
  #storeBytes = 0;
  #capture = 0;
  #compressed: Buffer[] = [];
  #compressedSize = 0;
  #compressedOverflow = false;
  // Made at the first ping: a Map holds a table of its own (about 150 bytes), per direction of every connection.
  #pings: Map<string, number> | undefined;
  // Pings in this direction since the other side's last pong (one pong may answer them all, RFC 6455 §5.5.3).
  #unanswered = 0;
  #maxPendingPings: number;
  // The decoder hands the same header object to every callback of a frame; onPayload needs its mask key. Between
  // a frame's onFrameHeader and its onFrameEnd only, so a violation knows whether it came from a header.
  #currentHeader: Readonly<FrameHeader> | undefined;
  // Gated forwarding (onViolation "close"): stream offset of the last frame end, the gate, and per forward() call
  // where forwarding has to stop (-1: nowhere) and why.
  #gate: ForwardGate | undefined;
  // onViolation "close" (a gate without it only leaves keepalive pongs out).
  #closes = false;
  #lastBoundary = 0;
  #gating = false;
  #cutAt = -1;
  #cutClean = true;
  #wantCut = false;
  /** Forwarding in this direction stopped at a cut: a violation, or a boundary the session asked for. */
  cut = false;

  constructor(
    owner: ConnectionObserver,
    direction: Direction,
    settings: TapSettings,
    deflate: DeflateParams | undefined,
    rsvUnjudged: boolean,
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
    else this.#storeBytes = settings.storeBytes ?? 0;
    this.#capture = Math.max(settings.previewBytes, this.#storeBytes);
    const limits = settings.limits;
    this.#maxPendingPings = limits?.maxPendingPings ?? Number.POSITIVE_INFINITY;
    const closes = settings.onViolation === 'close';
    this.#closes = closes;
    if (closes || settings.gated === true) this.#gate = new ForwardGate();
    this.decoder = new FrameDecoder(
      {
        expectMasked: fromClient,
        allowRsv1: deflate !== undefined,
        rsvUnjudged,
        maxFrameBytes: limits?.maxFrameBytes,
        maxMessageBytes: limits?.maxMessageBytes,
        maxFragments: limits?.maxFragments,
        // Logging only: the frame length is still known, so the tap keeps its frame boundaries.
        stopOnLimit: closes,
      },
      this,
    );
  }

  /** Gated path: decodes `chunk`, then writes to `to` what may pass. Returns the last write's answer. */
  forward(chunk: Buffer, to: ByteSink): boolean {
    this.counters.bytes += chunk.length;
    const gate = this.#gate!;
    if (this.cut) {
      // The session halts a cut direction; until it does, bytes are still read (a close frame) but not written.
      this.decoder.push(chunk);
      return true;
    }
    this.#gating = true;
    this.#cutAt = -1;
    this.decoder.push(chunk);
    this.#gating = false;
    const end = this.decoder.offset;
    // Log mode after a fatal violation: the framing is lost, so everything passes as it is.
    if (this.#cutAt < 0 && this.decoder.stopped && !this.#closes) return gate.pass(chunk, end, end, to, false);
    if (this.#cutAt < 0) {
      // A control frame in progress is held from its first byte; otherwise only a partial header is.
      const header = this.#currentHeader;
      const upTo =
        header !== undefined && header.opcode >= OPCODE.CLOSE
          ? this.decoder.frameStart
          : end - this.decoder.pendingHeaderBytes;
      return gate.pass(chunk, end, upTo, to, true);
    }
    const ok = gate.pass(chunk, end, this.#cutAt, to, false);
    this.cut = true;
    return ok;
  }

  /** Ungated path: `chunk` has already been forwarded. */
  push(chunk: Buffer): void {
    this.counters.bytes += chunk.length;
    this.decoder.push(chunk);
    if (this.#gate !== undefined && !this.cut) this.#gate.skipTo(this.decoder.offset);
  }

  /** Everything forwarded so far ends on a frame boundary (or at a clean cut). */
  atBoundary(): boolean {
    if (this.#gate === undefined) return !this.decoder.midFrame;
    if (this.cut) return this.#cutClean;
    return !this.decoder.stopped && this.#gate.forwarded === this.#lastBoundary;
  }

  /** Gated path: stop forwarding at the next frame boundary (the session then sends its Close there). */
  requestCut(): void {
    this.#wantCut = true;
  }

  // Where a violation found during a gated forward() cuts the stream: before its frame when none of the frame has
  // left yet; after it when it was found at the frame's end (a close body, a text message's UTF-8, a ping); right
  // after the header otherwise (only when the frame began in bytes that arrived with the 101), which leaves the
  // receiver mid-frame, so it gets no Close.
  #cutFor(): void {
    if (!this.#gating || this.#cutAt >= 0) return;
    const start = this.decoder.frameStart;
    if (start >= this.#gate!.forwarded) {
      this.#cutAt = start;
      this.#cutClean = true;
    } else {
      this.#cutAt = this.decoder.offset;
      this.#cutClean = this.#currentHeader !== undefined;
    }
  }

  onFrameHeader(h: Readonly<FrameHeader>): void {
    this.counters.frames += 1;
    this.#currentHeader = h;
    if (this.#settings.level === 'meta' || this.#settings.level === 'off' || !this.#owner.reporting) return;
    if (this.#settings.framesActive !== undefined && !this.#settings.framesActive()) return;
    // The base fields written out rather than spread from base(): one object per frame instead of two.
    const { conn, route } = this.#owner.identity;
    this.#owner.emit({
      conn,
      route,
      time: isoNow(),
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
    const room = this.#capture - this.#previewLength;
    if (room <= 0) return;
    const part = slice.subarray(0, room);
    if (this.#preview === undefined || this.#preview.length < this.#previewLength + part.length) {
      this.#grow(this.#previewLength + part.length, message.size);
    }
    const preview = this.#preview!;
    if (header.maskKey) unmaskInto(preview, part, header.maskKey, offsetInFrame, this.#previewLength);
    else preview.set(part, this.#previewLength);
    this.#previewLength += part.length;
  }

  // Previews only: one previewBytes buffer per direction, reused by every message (the preview leaves it as a
  // string; a fresh buffer per message was a malloc, a free and a GC sweep each, half of what "payload" cost). For
  // the store, which keeps the bytes: the message's size so far (the frames' headers seen), so a message is copied
  // once per fragment at most and never past storeBytes.
  #grow(need: number, sizeHint: number): void {
    if (this.#storeBytes === 0) {
      this.#preview = this.#previewScratch ??= new Uint8Array(this.#capture);
      return;
    }
    const next = Buffer.allocUnsafeSlow(Math.min(this.#capture, Math.max(need, sizeHint)));
    if (this.#preview !== undefined && this.#previewLength > 0) {
      next.set(this.#preview.subarray(0, this.#previewLength));
    }
    this.#preview = next;
  }

  onFrameEnd(): void {
    this.#currentHeader = undefined;
    if (this.#gate === undefined) return;
    this.#lastBoundary = this.decoder.offset;
    if (this.#wantCut && this.#gating && this.#cutAt < 0) {
      this.#cutAt = this.#lastBoundary;
      this.#cutClean = true;
    }
  }

  onViolation(v: Violation): void {
    this.violations += 1;
    const closes = this.#closes;
    if (closes) {
      this.#cutFor();
      this.#owner.noteViolation(this.direction, v);
    }
    if (this.violations > MAX_REPORTED_VIOLATIONS) return;
    const limit = LIMIT_KEYS[v.code];
    const event: WsViolationEvent = {
      ...this.#owner.base(),
      type: 'violation',
      dir: this.direction,
      code: v.code,
      rule: v.rule,
      closeCode: v.closeCode,
      message: v.message,
    };
    if (limit !== undefined) event.limit = limit;
    // Limits, and anything wsgate closes for, are reported at every tap level: they change what happens.
    if (limit !== undefined || closes) this.#owner.report(event);
    else this.#owner.emit(event);
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
      // A close frame cut off by the gate never reaches its receiver: the closing handshake has not begun.
      const forwarded = !(this.#gating && this.#cutAt >= 0);
      if (forwarded) {
        this.close ??= { code: parsed.code, reason: parsed.ok ? parsed.reason : '', at: now };
        this.#owner.noteClose(this.direction);
      }
      if (parsed.code !== undefined) event.code = parsed.code;
      if (parsed.ok && parsed.reason) event.reason = parsed.reason;
    } else if (h.opcode === OPCODE.PING) {
      this.#pings ??= new Map();
      const pings = this.#pings;
      if (pings.size >= MAX_RTT_PINGS) pings.delete(pings.keys().next().value as string);
      pings.set(Buffer.from(payload).toString('hex'), now);
      this.#unanswered += 1;
      // Reported once when the count passes the limit; a pong from the other side re-arms it.
      if (this.#unanswered === this.#maxPendingPings + 1) {
        this.onViolation(createViolation('WSG_WS_TOO_MANY_PENDING_PINGS', { limit: this.#maxPendingPings }));
      }
    } else if (h.opcode === OPCODE.PONG) {
      // A pong that answers wsgate's keepalive ping is wsgate's: the gate leaves it out of the stream.
      if (this.#owner.onPong?.(this.direction, payload) === true && this.#gating && this.#cutAt < 0) {
        this.#gate?.skip(this.decoder.frameStart, this.decoder.offset);
      }
      const other = this.#owner.other(this.direction);
      other.#unanswered = 0;
      const sent = other.takePing(Buffer.from(payload).toString('hex'));
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

  /**
   * A message wsgate itself put into this direction (admin send, rule injection, keepalive ping): reported as
   * wsgate's. True when it was reported (a rule hit on it then names it).
   */
  own(kind: 'text' | 'binary' | 'ping', payload: Uint8Array): boolean {
    const level = this.#settings.level;
    if (level === 'off' || level === 'meta' || !this.#owner.reporting) return false;
    const event: WsMessageEvent = {
      ...this.#owner.base(),
      type: 'message',
      dir: this.direction,
      kind,
      size: payload.length,
      fragments: 1,
      compressed: false,
      origin: 'wsgate',
    };
    if (level === 'payload') {
      const shown = payload.subarray(0, this.#settings.previewBytes);
      event.truncated = payload.length > shown.length;
      const b = Buffer.from(shown.buffer, shown.byteOffset, shown.length);
      if (kind === 'text') {
        const text = b.toString('utf8');
        event.preview = this.#settings.redactText ? this.#settings.redactText(text) : text;
      } else event.preview = b.toString('hex');
      if (this.#storeBytes > 0) {
        storeData(event, payload, payload.length, this.#storeBytes, kind === 'text', this.#settings.redactText);
      }
    }
    this.#owner.emit(event);
    return true;
  }

  takePing(key: string): number | undefined {
    const at = this.#pings?.get(key);
    if (at !== undefined) this.#pings?.delete(key);
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
    const { conn, route } = this.#owner.identity;
    const event: WsMessageEvent = {
      conn,
      route,
      time: isoNow(),
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
    if (this.#storeBytes > 0) {
      storeData(event, bytes, total, this.#storeBytes, m.opcode === OPCODE.TEXT, this.#settings.redactText);
    }
  }
}

export type ConnectionIdentity = { conn: string; route: string };

/** A violation wsgate closes the connection for (onViolation "close"), and the direction it travelled in. */
export type ClosingViolation = { direction: Direction; violation: Violation };

/** The tap of one connection: both directions, counters, close frames seen, and frame boundaries. */
export class ConnectionObserver {
  readonly identity: ConnectionIdentity;
  /** onViolation "close": chunks go through forward(), and the first violation closes the connection. */
  readonly closes: boolean;
  /** Chunks go through forward() (onViolation "close", or settings.gated). */
  readonly gated: boolean;
  #sink: Sink;
  #dirs: { toUpstream: DirectionObserver; toClient: DirectionObserver };
  #firstClose: Direction | undefined;
  #silent: boolean;
  #active: (() => boolean) | undefined;
  #violation: ClosingViolation | undefined;
  #violationDelivered = false;
  #onViolation: ((v: ClosingViolation) => void) | undefined;
  /**
   * Set while wsgate closes the connection. Log mode: called after a chunk that left this direction at a frame
   * boundary. Close mode: called when forward() stopped a direction at a cut (its receiver is at a boundary).
   */
  onBoundary: ((direction: Direction) => void) | undefined;
  /** Called when a close frame is seen in a direction. */
  onClose: ((direction: Direction) => void) | undefined;
  /** Called after each chunk was pushed or forwarded: where wsgate's own frames may wait for a boundary. */
  afterChunk: ((direction: Direction) => void) | undefined;
  /**
   * Called with each pong's payload; true when it answers wsgate's own keepalive ping (counted, and on the gated
   * path not forwarded).
   */
  onPong: ((direction: Direction, payload: Uint8Array) => boolean) | undefined;

  /** `rsvUnjudged`: the 101 agreed an extension wsgate does not know (deflate.ts otherExtensionAgreed). */
  constructor(
    identity: ConnectionIdentity,
    settings: TapSettings,
    deflate: DeflateParams | undefined,
    sink: Sink,
    rsvUnjudged = false,
  ) {
    this.identity = identity;
    this.closes = settings.onViolation === 'close';
    this.gated = this.closes || settings.gated === true;
    this.#sink = sink;
    this.#silent = settings.level === 'off';
    this.#active = settings.active;
    this.#dirs = {
      toUpstream: new DirectionObserver(this, 'toUpstream', settings, deflate, rsvUnjudged),
      toClient: new DirectionObserver(this, 'toClient', settings, deflate, rsvUnjudged),
    };
  }

  base(): { conn: string; route: string; time: string } {
    return { conn: this.identity.conn, route: this.identity.route, time: isoNow() };
  }

  emit(event: WsEvent): void {
    if (!this.#silent) this.#sink(event);
  }

  /** Emits even at tap level "off". */
  report(event: WsEvent): void {
    this.#sink(event);
  }

  noteViolation(direction: Direction, violation: Violation): void {
    this.#violation ??= { direction, violation };
  }

  /** The violation the connection is closed for (close mode only), once there is one. */
  get closingViolation(): ClosingViolation | undefined {
    return this.#violation;
  }

  /**
   * Close mode: `hook` hears the first violation once, after the bytes before it were forwarded; at once if it
   * happened already (e.g. in the frames that came with the 101).
   */
  watchViolations(hook: (v: ClosingViolation) => void): void {
    this.#onViolation = hook;
    this.#deliverViolation();
  }

  #deliverViolation(): void {
    if (this.#violation === undefined || this.#violationDelivered || this.#onViolation === undefined) return;
    this.#violationDelivered = true;
    this.#onViolation(this.#violation);
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

  /** Feeds a chunk that has already been forwarded in `direction` (or, in close mode, will not be). */
  push(direction: Direction, chunk: Buffer): void {
    const d = this.#dirs[direction];
    d.push(chunk);
    if (this.closes) this.#deliverViolation();
    else if (this.onBoundary && !d.decoder.midFrame) this.onBoundary(direction);
    if (this.afterChunk) this.afterChunk(direction);
  }

  /**
   * Close mode: decodes a chunk before it leaves and writes to `to` what may pass (all but a partial header, or
   * up to a cut). Returns the last write's answer, for backpressure.
   */
  forward(direction: Direction, chunk: Buffer, to: ByteSink): boolean {
    const d = this.#dirs[direction];
    const wasCut = d.cut;
    const ok = d.forward(chunk, to);
    this.#deliverViolation();
    if (d.cut && !wasCut) this.onBoundary?.(direction);
    if (this.afterChunk) this.afterChunk(direction);
    return ok;
  }

  /** A message wsgate itself sent in `direction` (admin API send, rule injection, keepalive ping); true if reported. */
  ownMessage(direction: Direction, kind: 'text' | 'binary' | 'ping', payload: Uint8Array): boolean {
    return this.#dirs[direction].own(kind, payload);
  }

  /** True when everything forwarded in this direction so far ends on a frame boundary. */
  atBoundary(direction: Direction): boolean {
    return this.#dirs[direction].atBoundary();
  }

  /** At a frame boundary and not inside a fragmented data message: where a whole message may be inserted. */
  atMessageBoundary(direction: Direction): boolean {
    return this.#dirs[direction].atBoundary() && !this.#dirs[direction].decoder.midMessage;
  }

  /** False once the decoder has lost this direction's framing (a fatal violation): no boundary will come. */
  canReachBoundary(direction: Direction): boolean {
    return !this.#dirs[direction].decoder.stopped;
  }

  /** Close mode: forward() stops this direction at its next frame boundary and calls onBoundary. */
  requestCut(direction: Direction): void {
    if (this.gated) this.#dirs[direction].requestCut();
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
