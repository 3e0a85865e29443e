// Frame and message lines written as bytes straight into the log queue's batch Buffer: the bytes eventLine's string
// would encode to (test/unit/traffic/line-bytes.test.ts compares them), without the string. At wire speed the traffic
// log writes four lines per round trip, and building one as a string, flattening it and encoding it into the batch
// cost about 0.9 µs for a frame line and 1.2 µs for a message line; copying a few cached pieces costs a fraction.
//
// Only the common lines take this way: frame lines, and message lines without a close code, reason, RTT, note or
// origin, whose connection id and route name are plain (nothing the line hook or JSON would change) and whose
// preview, if any, the line hook would leave alone (see previewTexts). Everything else returns false and goes
// through eventLine.
import type { Direction, WsFrameEvent, WsMessageEvent } from '../events.ts';
import { type LineShape, PLAIN_CODES } from '../log/line-shape.ts';
import type { LogQueue } from '../log/queue.ts';
import { asciiJson } from './ascii-json.ts';

export type LineBytes = {
  /** Writes the event's line into the queue and returns true, or returns false when eventLine must build it. */
  write(event: WsFrameEvent | WsMessageEvent): boolean;
};

/** Room for what a line adds to its head and variable strings: field names, vocabulary, numbers. */
const FIXED_MOST = 400;
/** Opcode and kind names are wsgate's (at most 16 opcodes): more distinct ones than this are not cached. */
const MAX_NAMES = 32;
const MAX_NAME_LENGTH = 32;

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');
const DIRS: readonly Direction[] = ['toUpstream', 'toClient'];
// The arrows as JSON escapes, as eventLine writes them.
const ARROW: Record<Direction, string> = { toUpstream: '\\u2192', toClient: '\\u2190' };

const FRAME_EVENT = latin1(',"event":"ws.frame","conn":"');
const MESSAGE_EVENT = latin1(',"event":"ws.message","conn":"');
const ROUTE = latin1('","route":"');
/** A frame line's end after its second length, by fin and rsv1. */
const FRAME_END: readonly Buffer[] = [' B (more)"}\n', ' B (more) rsv1"}\n', ' B"}\n', ' B rsv1"}\n'].map(latin1);
const FRAGMENTS = latin1(',"fragments":');
const COMPRESSED: readonly Buffer[] = [latin1(',"compressed":false'), latin1(',"compressed":true')];
const DECODED_SIZE = latin1(',"decodedSize":');
const TRUNCATED: readonly Buffer[] = [latin1(',"truncated":false'), latin1(',"truncated":true')];
const PREVIEW = latin1(',"preview":');
const B = latin1(' B');
const DEFLATE = latin1(' (deflate)');
const SPACE = 32;
const QUOTE = 34;
const BACKSLASH = 92;
// The ellipsis of a truncated preview in msg, as asciiJson writes it.
const ELLIPSIS = latin1('\\u2026');
const LINE_END = latin1('"}\n');

function put(buf: Buffer, at: number, bytes: Buffer): number {
  buf.set(bytes, at);
  return at + bytes.length;
}

/** Copies a plain string (as LineShape.plain defines it) and returns the end, or -1 at its first other character. */
function putPlain(buf: Buffer, at: number, text: string): number {
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c > 127 || PLAIN_CODES[c] === 0) return -1;
    buf[at + i] = c;
  }
  return at + n;
}

/** A non-negative safe integer in decimal, as JSON and String() write it. */
function putInt(buf: Buffer, at: number, value: number): number {
  if (value < 10) {
    buf[at] = 48 + value;
    return at + 1;
  }
  let digits = 1;
  for (let v = value; v >= 10; v = Math.floor(v / 10)) digits++;
  let v = value;
  for (let i = at + digits - 1; i >= at; i--) {
    buf[i] = 48 + (v % 10);
    v = Math.floor(v / 10);
  }
  return at + digits;
}

const countable = (value: number): boolean => Number.isSafeInteger(value) && value >= 0;

/** The pieces of a frame line that depend on its opcode: fields by dir × fin × rsv1 × masked (bits 3..0), msg by dir. */
type FramePieces = { fields: Buffer[]; msg: Buffer[] };
/** The pieces of a message line that depend on its kind: fields by direction (0 toUpstream, 1 toClient), msg too. */
type MessagePieces = { fields: Buffer[]; msg: Buffer[] };

function framePiecesOf(opcode: string): FramePieces {
  const fields: Buffer[] = [];
  const msg: Buffer[] = [];
  for (let index = 0; index < 16; index++) {
    const dir = DIRS[index >> 3]!;
    const fin = (index & 4) !== 0;
    const rsv1 = (index & 2) !== 0;
    const masked = (index & 1) !== 0;
    fields.push(
      latin1(`","dir":"${dir}","opcode":"${opcode}","fin":${fin},"rsv1":${rsv1},"masked":${masked},"length":`),
    );
  }
  for (const dir of DIRS) msg.push(latin1(`,"msg":"${ARROW[dir]} frame ${opcode} `));
  return { fields, msg };
}

function messagePiecesOf(kind: string): MessagePieces {
  return {
    fields: DIRS.map((dir) => latin1(`","dir":"${dir}","kind":"${kind}","size":`)),
    msg: DIRS.map((dir) => latin1(`,"msg":"${ARROW[dir]} ${kind} `)),
  };
}

// A preview's JSON the line hook leaves as it is: printable ASCII without "@" and "=" (URL credentials, query
// tokens), and no "rotocol" (the subprotocol pass keys on `protocol"`). DEL and anything beyond ASCII would be
// escaped by the hook.
const HOOK_FREE = /^[\x20-\x3c\x3e\x3f\x41-\x7e]*$/;
const PROTOCOL_WORD = /rotocol/i;

/**
 * A preview as the `preview` field's JSON and as the msg text has it (JSON inside JSON, without its outer quotes),
 * both ASCII; undefined when the line hook could change either, so eventLine must build the line.
 */
function previewTexts(preview: string): { field: string; inMsg: string } | undefined {
  const field = asciiJson(preview);
  if (!HOOK_FREE.test(field) || PROTOCOL_WORD.test(field)) return undefined;
  const inMsg = asciiJson(JSON.stringify(preview));
  return { field, inMsg: inMsg.slice(1, -1) };
}

/** The byte writer for `queue`'s lines of `shape`, or undefined when that queue takes strings only. */
export function lineBytesOf(shape: LineShape, queue: LogQueue): LineBytes | undefined {
  // plain('') is false only when the line hook would change the logger's bindings: then every line needs the hook.
  const head = shape.infoHeadBytes;
  if (!queue.takesLineBytes() || head === undefined || !shape.plain('')) return undefined;
  const frameNames = new Map<string, FramePieces>();
  const messageNames = new Map<string, MessagePieces>();
  // The head and the event name, up to the connection id's value.
  const frameStart = Buffer.concat([head, FRAME_EVENT]);
  const messageStart = Buffer.concat([head, MESSAGE_EVENT]);
  // `","time":"<event time>` per event time (isoNow: one string per millisecond).
  let timeText: string | undefined;
  let timePiece: Buffer = Buffer.alloc(0);

  /** Room for the line, with the time piece current; undefined when the line is not for bytes. */
  function room(e: WsFrameEvent | WsMessageEvent, extra = 0): Buffer | undefined {
    if (e.time !== timeText) {
      if (!shape.plain(e.time)) return undefined;
      timeText = e.time;
      timePiece = latin1(`","time":"${e.time}`);
    }
    return queue.lineRoom(messageStart.length + e.conn.length + e.route.length + timePiece.length + FIXED_MOST + extra);
  }

  /** The head, the event name and conn, route and time, up to the time value's closing quote; -1 if not plain. */
  function start(buf: Buffer, first: Buffer, e: WsFrameEvent | WsMessageEvent): number {
    let i = putPlain(buf, put(buf, queue.lineStart(), first), e.conn);
    if (i < 0) return -1;
    i = putPlain(buf, put(buf, i, ROUTE), e.route);
    return i < 0 ? -1 : put(buf, i, timePiece);
  }

  function frame(e: WsFrameEvent): boolean {
    if (!countable(e.length)) return false;
    let pieces = frameNames.get(e.opcode);
    if (pieces === undefined) {
      if (frameNames.size >= MAX_NAMES || e.opcode.length > MAX_NAME_LENGTH || !shape.plain(e.opcode)) return false;
      pieces = framePiecesOf(e.opcode);
      frameNames.set(e.opcode, pieces);
    }
    const buf = room(e);
    if (buf === undefined) return false;
    let i = start(buf, frameStart, e);
    if (i < 0) return false;
    const up = e.dir === 'toUpstream' ? 0 : 1;
    i = put(buf, i, pieces.fields[(up << 3) | (e.fin ? 4 : 0) | (e.rsv1 ? 2 : 0) | (e.masked ? 1 : 0)]!);
    i = putInt(buf, i, e.length);
    i = put(buf, i, pieces.msg[up]!);
    i = putInt(buf, i, e.length);
    queue.commitLine(put(buf, i, FRAME_END[(e.fin ? 2 : 0) | (e.rsv1 ? 1 : 0)]!));
    return true;
  }

  function message(e: WsMessageEvent): boolean {
    if (
      e.note !== undefined ||
      e.rttMs !== undefined ||
      e.code !== undefined ||
      e.reason !== undefined ||
      e.origin !== undefined ||
      !countable(e.size) ||
      !countable(e.fragments) ||
      (e.decodedSize !== undefined && !countable(e.decodedSize))
    ) {
      return false;
    }
    let pieces = messageNames.get(e.kind);
    if (pieces === undefined) {
      if (messageNames.size >= MAX_NAMES || e.kind.length > MAX_NAME_LENGTH || !shape.plain(e.kind)) return false;
      pieces = messagePiecesOf(e.kind);
      messageNames.set(e.kind, pieces);
    }
    // A plain preview (hex, simple words) is its own JSON; others are escaped once here.
    const preview = e.preview;
    const plainPreview = preview !== undefined && shape.plain(preview);
    const texts = preview === undefined || plainPreview ? undefined : previewTexts(preview);
    if (preview !== undefined && !plainPreview) {
      // eventLine runs the line hook over such a line: the rest of it must be free of what the hook acts on too.
      if (texts === undefined || PROTOCOL_WORD.test(e.conn) || PROTOCOL_WORD.test(e.route)) return false;
    }
    const previewMost = texts === undefined ? 2 * (preview?.length ?? 0) + 8 : texts.field.length + texts.inMsg.length;
    const buf = room(e, previewMost);
    if (buf === undefined) return false;
    let i = start(buf, messageStart, e);
    if (i < 0) return false;
    const up = e.dir === 'toUpstream' ? 0 : 1;
    i = put(buf, i, pieces.fields[up]!);
    i = putInt(buf, i, e.size);
    i = put(buf, i, FRAGMENTS);
    i = putInt(buf, i, e.fragments);
    i = put(buf, i, COMPRESSED[e.compressed ? 1 : 0]!);
    // The optional fields in the order the observer and the relay add them (eventLine writes them in key order).
    if (e.decodedSize !== undefined) i = putInt(buf, put(buf, i, DECODED_SIZE), e.decodedSize);
    if (e.truncated !== undefined) i = put(buf, i, TRUNCATED[e.truncated ? 1 : 0]!);
    if (preview !== undefined) {
      i = put(buf, i, PREVIEW);
      if (texts !== undefined) i += buf.write(texts.field, i, 'latin1');
      else {
        buf[i++] = QUOTE;
        i += buf.write(preview, i, 'latin1');
        buf[i++] = QUOTE;
      }
    }
    i = put(buf, i, pieces.msg[up]!);
    i = putInt(buf, i, e.decodedSize ?? e.size);
    i = put(buf, i, B);
    if (e.compressed) i = put(buf, i, DEFLATE);
    if (preview !== undefined) {
      buf[i++] = SPACE;
      if (texts !== undefined) i += buf.write(texts.inMsg, i, 'latin1');
      else {
        buf[i++] = BACKSLASH;
        buf[i++] = QUOTE;
        i += buf.write(preview, i, 'latin1');
        buf[i++] = BACKSLASH;
        buf[i++] = QUOTE;
      }
      if (e.truncated) i = put(buf, i, ELLIPSIS);
    }
    queue.commitLine(put(buf, i, LINE_END));
    return true;
  }

  return { write: (event) => (event.type === 'frame' ? frame(event) : message(event)) };
}
