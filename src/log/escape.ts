// Keeps what clients and upstreams send from steering the terminal or forging log lines. Values in a log line
// can carry bytes from the wire (a path, a header, a frame payload): a raw ESC can clear the screen or retitle
// the window, a raw CR or LF can start what looks like a new log line, and bidi controls reorder what is read.
// JSON lines are safe except for the few characters JSON.stringify leaves raw; the pretty format prints strings
// as they are, so every string in an event is escaped before pino-pretty sees it.

/**
 * Characters written as escapes in pretty output: C0 controls but tab, DEL and C1 controls (0x9B is CSI on
 * terminals that read 8-bit controls), the Unicode line and paragraph separators, and the bidi controls
 * (Trojan Source, CVE-2021-42574) that can make text read differently from what it is.
 */
const UNSAFE_CLASS =
  '[\\u0000-\\u0008\\u000a-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]';
const HAS_UNSAFE = new RegExp(UNSAFE_CLASS);
const UNSAFE = new RegExp(UNSAFE_CLASS, 'g');

/** What JSON.stringify (and so pino) leaves raw but a terminal or a line splitter may act on. */
const HAS_UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(c: string): string {
  switch (c) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\u001b':
      return '\\e';
    default: {
      const code = c.charCodeAt(0);
      return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
    }
  }
}

/**
 * Escapes control characters so the text prints as one inert line. With `indentNewlines`, a newline stays a
 * newline but the next line is indented, so a multi-line message (a config error list, a stack) stays readable
 * while no continuation can pass for a log line of its own.
 */
export function escapeControl(text: string, options: { indentNewlines?: boolean } = {}): string {
  if (!HAS_UNSAFE.test(text)) return text;
  return text.replace(UNSAFE, (c) => (c === '\n' && options.indentNewlines ? '\n    ' : escapeChar(c)));
}

/** A copy of a parsed log event with every string escaped, for the pretty printer. */
export function escapeEvent(value: unknown, key = ''): unknown {
  if (typeof value === 'string') {
    return escapeControl(value, { indentNewlines: key === 'msg' || key === 'stack' });
  }
  if (Array.isArray(value)) return value.map((v) => escapeEvent(v));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[escapeControl(k)] = escapeEvent(v, k);
    return out;
  }
  return value;
}

/**
 * For JSON output: pino escapes C0 controls, quotes and backslashes, but leaves DEL, C1 controls, U+2028/
 * U+2029 and the bidi controls raw. They can only occur inside JSON strings, so writing them as \u escapes keeps the line valid JSON
 * with the same value.
 */
export function escapeJsonLine(line: string): string {
  if (!HAS_UNSAFE_IN_JSON.test(line)) return line;
  return line.replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
