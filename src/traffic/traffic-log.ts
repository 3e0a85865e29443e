// The traffic log: one JSON line per WebSocket event (open, frame, message, violation, close), written through
// pino to its own file (log.traffic) or into the main log. Each wsgate instance has its own sink; events also go to
// the `wsgate:ws` diagnostics channel for other observers in the process. When the destination falls behind by
// more than log.maxQueueBytes, frame, message and violation lines are shed (counted, and reported by the queue as
// `log.dropped`); the open and close line of each connection are kept, like access lines.
import {
  CHANNELS,
  type Direction,
  publishWs,
  type WsEvent,
  type WsFrameEvent,
  type WsMessageEvent,
} from '../events.ts';
import { type LineShape, lineShapeOf } from '../log/line-shape.ts';
import { createFileLogger, createTimelessSibling, type Logger, logQueueOf } from '../log/logger.ts';
import type { LogQueue } from '../log/queue.ts';
import { asciiJson, escapeNonAscii } from './ascii-json.ts';
import { lineBytesOf } from './line-bytes.ts';

export type TrafficLog = {
  emit(event: WsEvent): void;
  /** Whether frame and message events would be written or observed at all (so the tap can skip building them). */
  active(): boolean;
  /** The queue of its own file (log.traffic), whose dropped lines the metrics count; undefined without a file. */
  readonly ownQueue: LogQueue | undefined;
  /**
   * Writes to `file` (or the main log) from now on, built anew from the main logger's settings (after a reload
   * changed log.traffic, or the main log's destination or redaction). Throws WSG_LOG_FILE, changing nothing, when the
   * file cannot be opened.
   */
  update(file: string | undefined): void;
  close(): Promise<void>;
};

const ARROW: Record<Direction, string> = { toUpstream: '→', toClient: '←' };
/** The arrows as JSON escapes, for lines built as ASCII (eventLine). */
const ESCAPED_ARROW: Record<Direction, string> = { toUpstream: '\\u2192', toClient: '\\u2190' };

/** The event name in log lines: the tap's end event is the connection's close line. */
export function eventName(event: WsEvent): string {
  return event.type === 'end' ? 'ws.close' : `ws.${event.type}`;
}

/** One line a person can read; previews are JSON-quoted so control bytes can never reach a terminal raw. */
export function describeEvent(event: WsEvent): string {
  switch (event.type) {
    case 'open':
      return `WebSocket open ${event.path} → ${event.upstream}`;
    case 'frame':
    case 'message':
      return `${ARROW[event.dir]} ${afterArrow(event)}`;
    case 'violation':
      return `${ARROW[event.dir]} protocol violation ${event.code}: ${event.message} (${event.rule})`;
    case 'rule':
      return `${ARROW[event.dir]} rule ${event.rule} ${event.action}: ${event.detail}${event.mark ? ` [${event.mark}]` : ''}`;
    case 'end':
      return `WebSocket closed by ${event.endedBy} (${event.how}, ${event.termination}) code ${event.closeCode} after ${event.durationMs} ms`;
    case 'failed':
      return `WebSocket handshake ${event.path}${event.upstream === undefined ? '' : ` → ${event.upstream}`} failed with ${event.status}: ${event.reason}`;
  }
}

/**
 * A frame or message line's text after its arrow: wsgate's ASCII words, plus wire text for a preview or reason. A
 * frame's has nothing JSON would escape, so frameLineOf puts it in as it is.
 */
function afterArrow(event: WsFrameEvent | WsMessageEvent): string {
  if (event.type === 'frame') {
    return `frame ${event.opcode} ${event.length} B${event.fin ? '' : ' (more)'}${event.rsv1 ? ' rsv1' : ''}`;
  }
  const extra =
    event.code !== undefined
      ? ` ${event.code}${event.reason ? ` ${JSON.stringify(event.reason)}` : ''}`
      : event.rttMs !== undefined
        ? ` rtt ${event.rttMs} ms`
        : event.preview !== undefined
          ? ` ${JSON.stringify(event.preview)}${event.truncated ? '…' : ''}`
          : '';
  return `${event.kind} ${event.decodedSize ?? event.size} B${event.compressed ? ' (deflate)' : ''}${extra}`;
}

function workerBinding(main: Logger): Record<string, unknown> | null {
  const worker = (main.bindings() as { worker?: unknown }).worker;
  return worker === undefined ? null : { worker };
}

// Strings in frame and message events that come from wsgate's own vocabulary, never from the wire, are ASCII: time,
// dir, opcode and kind (eventLine compares the keys directly, a Set lookup per field cost more).

/**
 * A frame or message event as the line pino would write for `logger.info({ event, ...fields }, describeEvent(e))`:
 * level, time, bindings, `event`, the event's fields in their order (`type` left out, undefined skipped), `msg`.
 * The logger's line hook (redaction, escaping) runs only when a string in it could be changed by it: text from the
 * wire (previews, close reasons), or ids and route names with unusual characters.
 */
export function eventLine(shape: LineShape, event: WsFrameEvent | WsMessageEvent): string {
  if (event.type === 'frame') return frameLine(shape, event);
  let line = `${shape.head('info')},"event":"ws.${event.type}"`;
  let plain = true;
  const fields = event as unknown as Record<string, unknown>;
  for (const key in fields) {
    if (key === 'type') continue;
    const value = fields[key];
    switch (typeof value) {
      case 'string':
        if (key === 'time' || key === 'dir' || key === 'opcode' || key === 'kind' || shape.plain(value)) {
          line += `,"${key}":"${value}"`;
        } else {
          plain = false;
          line += `,"${key}":${asciiJson(value)}`;
        }
        break;
      case 'number':
        line += `,"${key}":${Number.isFinite(value) ? value : 'null'}`;
        break;
      case 'boolean':
        line += `,"${key}":${value}`;
        break;
      case 'undefined':
      case 'function':
        break;
      default:
        plain = false;
        line += `,"${key}":${escapeNonAscii(JSON.stringify(value))}`;
    }
  }
  // The arrow goes in already escaped: a string that ever held it would stay two-byte through the escaping, and so
  // would every line and batch joined to it (V8 then encodes each batch through its slow UTF-16 path).
  line += `,"msg":"${ESCAPED_ARROW[event.dir]} ${asciiJson(afterArrow(event)).slice(1)}}\n`;
  return plain ? line : shape.finish(line);
}

/**
 * A frame line, the most frequent, in one template: its fields are fixed (WsFrameEvent, built in this order by the
 * observer and the relay) and all of wsgate's vocabulary but the connection id and route name. The same line as
 * the general loop in eventLine writes (test/unit/traffic/event-line.test.ts compares both with pino's).
 */
function frameLine(shape: LineShape, e: WsFrameEvent): string {
  if (!shape.plain(e.conn) || !shape.plain(e.route)) return shape.finish(frameLineOf(shape, e, asciiJson));
  return frameLineOf(shape, e, quoted);
}

function quoted(value: string): string {
  return `"${value}"`;
}

function frameLineOf(shape: LineShape, e: WsFrameEvent, str: (value: string) => string): string {
  return `${shape.head('info')},"event":"ws.frame","conn":${str(e.conn)},"route":${str(e.route)},"time":"${e.time}","dir":"${e.dir}","opcode":"${e.opcode}","fin":${e.fin},"rsv1":${e.rsv1},"masked":${e.masked},"length":${e.length},"msg":"${ESCAPED_ARROW[e.dir]} ${afterArrow(e)}"}\n`;
}

/** Per-frame events are the volume of the traffic log; a connection's open and close lines are its record. */
function sheddable(event: WsEvent): boolean {
  return event.type === 'frame' || event.type === 'message' || event.type === 'violation';
}

/** Where the traffic log writes now: rebuilt whole when a reload changes it (TrafficLog.update). */
type Sink = {
  logger: Logger;
  /** Whose level decides what is written: the file's logger, or the main one (the sibling follows no level). */
  gate: Logger;
  own: LogQueue | undefined;
  queue: LogQueue | undefined;
  shape: LineShape | undefined;
  bytes: ReturnType<typeof lineBytesOf> | undefined;
};

function sinkFor(file: string | undefined, main: Logger): Sink {
  let logger: Logger;
  let own: LogQueue | undefined;
  if (file) {
    // Only the worker number carries over from the main log: it tells `--workers` processes apart.
    const opened = createFileLogger(main, file, { base: workerBinding(main), timestamp: false });
    logger = opened.logger;
    own = opened.queue;
  } else {
    // Each event has its own `time` (when the frame passed): the main log's clock would add a second one.
    logger = createTimelessSibling(main);
    // Main's level (the gate below) decides what is written, also after a reload changed it: the sibling's own
    // level, copied from main when it was made, must not hold back an open or close line main's level lets through.
    logger.level = 'trace';
  }
  const queue = own ?? logQueueOf(main);
  // Frame and message lines, the volume, are built here rather than by pino: the same JSON (see eventLine).
  const shape = lineShapeOf(logger);
  // The most frequent of those go into the queue's batch as bytes, never as strings (see line-bytes.ts).
  const bytes = shape !== undefined && queue !== undefined ? lineBytesOf(shape, queue) : undefined;
  return { logger, gate: own === undefined ? main : logger, own, queue, shape, bytes };
}

/**
 * Builds the traffic sink. With a file, lines go through an asynchronous, bounded destination of their own so the
 * proxy never waits on the disk; without one they go to the main logger and share its queue. Every connection holds
 * this object for its life: update() moves all of them, open ones included, to the new destination.
 */
export function createTrafficLog(options: { file: string | undefined; main: Logger }): TrafficLog {
  const main = options.main;
  let sink = sinkFor(options.file, main);
  return {
    get ownQueue() {
      return sink.own;
    },
    emit(event) {
      const level = event.type === 'violation' ? 'warn' : 'info';
      const { logger, gate, queue, shape, bytes } = sink;
      // A failed handshake has its line in the main log already (ws.refused, ws.upstream_error): only a traffic file
      // of its own gets one too, so that `wsgate tail` of that file shows it.
      const logged = event.type !== 'failed' || sink.own !== undefined;
      if (logged && gate.isLevelEnabled(level) && !(sheddable(event) && queue?.shed())) {
        if (shape !== undefined && queue !== undefined && (event.type === 'frame' || event.type === 'message')) {
          if (bytes === undefined || !bytes.write(event)) queue.write(eventLine(shape, event));
        } else {
          const { type: _type, ...fields } = event;
          logger[level]({ event: eventName(event), ...fields }, describeEvent(event));
        }
      }
      if (CHANNELS.ws.hasSubscribers) publishWs(event);
    },
    active() {
      return sink.gate.isLevelEnabled('info') || CHANNELS.ws.hasSubscribers;
    },
    update(file) {
      // A file that cannot be opened throws here, before anything changed.
      const old = sink;
      sink = sinkFor(file, main);
      // What the old file was given is written before it closes.
      if (old.own !== undefined) void old.own.close();
    },
    close() {
      // sonic-boom defers end() until its file is open and emits close once everything is written; a second
      // close() (shutdown may be called twice) waits for the same promise.
      return sink.own === undefined ? Promise.resolve() : sink.own.close();
    },
  };
}
