// The main log as a person at a terminal reads it (log.format pretty, the default on a TTY). pino-pretty prints
// every field of an event on a line of its own, which made `--tap frames` ten lines per frame, a handshake's header
// lists sixty, and a browser behind a forward listener a dozen per request. The routine events that come once per
// frame, message, request or tunnel are one line each instead (frames and messages as `wsgate tail` shows them),
// and header lists print one header per line; warnings, errors and every other event keep their fields. JSON lines
// (the default off a terminal) are unchanged.
import { createRequire } from 'node:module';
import type PinoPretty from 'pino-pretty';
import { escapeEvent } from './escape.ts';
import { connOf, type EventLine, formatBytes, str, wsEventText } from './event-text.ts';

/**
 * Events that come once per frame or message, and a connection's end: their text says what their fields do (the
 * open line keeps its fields: the handshake's headers are what a person debugging one reads first).
 */
const WS_ONE_LINE: ReadonlySet<string> = new Set(['ws.frame', 'ws.message', 'ws.rule', 'ws.close']);

/** A request's access line: its message (method, target, status), then how long, and a code when wsgate answered. */
function accessText(e: EventLine): string {
  const notes = [`${str(e.ms)} ms`];
  if (typeof e.code === 'string') notes.push(e.code);
  if (e.completed === false) notes.push('not completed');
  return `${str(e.id)} ${str(e.msg)} (${notes.join(', ')})`;
}

/** A tunnel's end: its message (target, content, duration), then the bytes each way and who ended it, if known. */
function tunnelText(e: EventLine): string {
  const notes: string[] = [];
  if (typeof e.bytesToUpstream === 'number' && typeof e.bytesToClient === 'number') {
    notes.push(`${formatBytes(e.bytesToUpstream)} up, ${formatBytes(e.bytesToClient)} down`);
  }
  if (e.endedBy !== undefined) notes.push(`ended by ${str(e.endedBy)}${e.how === undefined ? '' : ` (${str(e.how)})`}`);
  if (e.detail !== undefined) notes.push(str(e.detail));
  return `${str(e.id)} ${str(e.msg)}${notes.length === 0 ? '' : ` (${notes.join('; ')})`}`;
}

/** Routine lines whose few other facts fit after their message; given the event with its strings escaped. */
const ONE_LINE: Readonly<Record<string, (e: EventLine) => string>> = {
  'http.access': accessText,
  'connect.close': tunnelText,
};

function isInfo(level: unknown): boolean {
  return level === 'info' || level === 30;
}

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

/**
 * A config reload that failed lists its issues in its message, a line each (`file:line:col key: problem`), and as
 * `issues` for programs; pino-pretty would print them again below as twenty lines of JSON. Left out here when the
 * message already says every one of them; JSON lines keep them.
 */
function withoutRepeatedIssues(e: EventLine): EventLine {
  const { issues, ...rest } = e;
  if (!Array.isArray(issues) || typeof e.msg !== 'string') return e;
  const msg = e.msg;
  const said = issues.every((i: { path?: unknown; message?: unknown }) =>
    msg.includes(i.path === '' ? str(i.message) : `${str(i.path)}: ${str(i.message)}`),
  );
  return said ? rest : e;
}

/**
 * Whether output to this stream gets ANSI colours: a terminal, unless NO_COLOR is set to anything (no-color.org),
 * for the pretty log, `wsgate tail` and `wsgate probe` alike.
 */
export function terminalColor(isTTY: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return isTTY === true && (env['NO_COLOR'] ?? '') === '';
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
  const oneLine = (e: EventLine, text: string) => {
    const worker = e.worker === undefined ? '' : `worker ${String(e.worker)}: `;
    return prettify({ level: e.level, time: e.time, msg: `${worker}${text}` });
  };
  return (line) => {
    const parsed = JSON.parse(line) as EventLine;
    const event = typeof parsed.event === 'string' ? parsed.event : '';
    if (WS_ONE_LINE.has(event)) {
      // wsEventText escapes every string it shows (a preview, a close reason, a rule's detail) itself. Its colours
      // stay off: pino-pretty drops the ESC of any in a message and colours the message itself.
      const text = wsEventText(parsed, { color: false });
      if (text !== undefined) return oneLine(parsed, `${connOf(parsed)} ${text}`);
    }
    // pino-pretty prints the message and stacks as they are: a path or header with ESC or CR/LF in it would
    // reach the terminal raw and could forge a line. Every string of the event is escaped first.
    const escaped = escapeEvent(withoutRepeatedIssues(parsed)) as EventLine;
    const routine = ONE_LINE[event];
    if (routine !== undefined && isInfo(parsed.level)) return oneLine(escaped, routine(escaped));
    return prettify(escaped);
  };
}
