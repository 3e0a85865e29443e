// The main log as a person at a terminal reads it (log.format pretty, the default on a TTY). pino-pretty prints
// every field of an event on a line of its own, which made `--tap frames` ten lines per frame and a handshake's
// header lists sixty: the events that come once per frame or message are one line each instead, as `wsgate tail`
// shows them, and header lists print one header per line. JSON lines (the default off a terminal) are unchanged.
import { createRequire } from 'node:module';
import type PinoPretty from 'pino-pretty';
import { escapeEvent } from './escape.ts';
import { connOf, type EventLine, wsEventText } from './event-text.ts';

/** Events that come once per frame or message: their text says what their fields do. */
const ONE_LINE_EVENTS: ReadonlySet<string> = new Set(['ws.frame', 'ws.message', 'ws.rule']);

/** Fields that hold a handshake's headers as [name, value] pairs. */
const HEADER_LISTS = ['request', 'forwarded', 'response'] as const;

function isHeaderList(value: unknown): value is [string, string][] {
  return (
    Array.isArray(value) &&
    value.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string')
  );
}

/** `Name: value` a line each; pino-pretty indents what follows the field's first line. */
function headerLines(value: unknown): string {
  if (!isHeaderList(value)) return JSON.stringify(value, null, 2);
  if (value.length === 0) return '(none)';
  return value.map(([name, v]) => `\n  ${name}: ${v}`).join('');
}

/** Turns one JSON log line into what a terminal shows. `color`: ANSI colours (a TTY). */
export function prettyFormatter(color: boolean): (line: string) => string {
  // pino-pretty and its ~40 modules load only for a pretty log: JSON is the default off a terminal.
  const { prettyFactory } = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  const prettify = prettyFactory({
    colorize: color,
    translateTime: 'HH:MM:ss.l',
    ignore: 'pid,hostname',
    messageKey: 'msg',
    customPrettifiers: Object.fromEntries(HEADER_LISTS.map((key) => [key, headerLines])),
  });
  return (line) => {
    const parsed = JSON.parse(line) as EventLine;
    if (typeof parsed.event === 'string' && ONE_LINE_EVENTS.has(parsed.event)) {
      // wsEventText escapes every string it shows (a preview, a close reason, a rule's detail) itself. Its colours
      // stay off: pino-pretty drops the ESC of any in a message and colours the message itself.
      const text = wsEventText(parsed, { color: false });
      if (text !== undefined) {
        const worker = parsed.worker === undefined ? '' : `worker ${String(parsed.worker)}: `;
        return prettify({ level: parsed.level, time: parsed.time, msg: `${worker}${connOf(parsed)} ${text}` });
      }
    }
    // pino-pretty prints the message and stacks as they are: a path or header with ESC or CR/LF in it would
    // reach the terminal raw and could forge a line. Every string of the event is escaped first.
    return prettify(escapeEvent(parsed) as EventLine);
  };
}
