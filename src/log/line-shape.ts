// What a pino logger writes around an event's own fields, for the one caller that builds lines itself: the traffic
// log, which writes a line per WebSocket frame and message. pino's general path (a fields object, its key loop,
// its serializers, the line hook) cost several microseconds a line, which at wire speed was most of the proxy's CPU;
// a line built from the same parts (level, time, bindings, fields in order, msg) is the same JSON for a fraction.
// The parts are read through pino.symbols, pino's documented way in for extensions.
import pino from 'pino';
import type { Logger } from './logger.ts';

type Internals = {
  [key: symbol]: unknown;
};

export type LineShape = {
  /** `{"level":"info"` plus the time and the logger's bindings: everything before the event's own fields. */
  head(level: 'info' | 'warn'): string;
  /** The logger's line hook (redaction, escaping), for lines that carry text from the wire. */
  finish(line: string): string;
  /** True when a string may appear in a line unchanged by the hook (no "@", "=", quotes, controls, bidi). */
  plain(value: string): boolean;
  /**
   * head('info') as bytes, for lines written straight into a Buffer. Only for a logger
   * without a clock of its own (the traffic log's: a line carries the event's time); undefined otherwise, or when the
   * head is not printable ASCII or the line hook would change it.
   */
  infoHeadBytes: Buffer | undefined;
};

// Letters, digits and the punctuation ids and route names use: nothing the line hook would change or JSON escape.
const PLAIN = /^[\w .:/+-]*$/;

/** PLAIN by character code (1: allowed), for writers that check a string while they copy it (traffic/line-bytes). */
export const PLAIN_CODES = new Uint8Array(128);
for (let c = 0; c < 128; c++) PLAIN_CODES[c] = PLAIN.test(String.fromCharCode(c)) ? 1 : 0;

/**
 * The shape of `logger`'s lines, or undefined when its options could change a line in ways not reproduced here
 * (a log formatter, a mixin, a message prefix, non-default level labels).
 */
export function lineShapeOf(logger: Logger): LineShape | undefined {
  // pino's typings list most of pino.symbols but not msgPrefixSym, which it exports too.
  const s = pino.symbols as typeof pino.symbols & { msgPrefixSym?: symbol };
  const l = logger as unknown as Internals;
  const formatters = l[s.formattersSym] as { log?: unknown } | undefined;
  if (
    formatters?.log !== undefined ||
    l[s.mixinSym] !== undefined ||
    (s.msgPrefixSym !== undefined && typeof l[s.msgPrefixSym] === 'string')
  ) {
    return undefined;
  }
  if (l[s.messageKeySym] !== 'msg' || l[s.endSym] !== '}\n') return undefined;
  // A serializer for a field name would change that field; pino's own is for `err` only.
  const serializers = (l[s.serializersSym] ?? {}) as Record<string, unknown>;
  if (Object.keys(serializers).some((key) => key !== 'err')) return undefined;
  const cache = l[s.lsCacheSym] as Record<number, string> | undefined;
  const info = cache?.[30];
  const warn = cache?.[40];
  if (info === undefined || warn === undefined) return undefined;
  const time = l[s.timeSym] as () => string;
  const chindings = String(l[s.chindingsSym] ?? '');
  const hook = (l[s.hooksSym] as { streamWrite?: (line: string) => string } | undefined)?.streamWrite;
  const finish = hook ?? ((line: string) => line);
  // The bindings are the same on every line: when the hook would change them, it must run on every line.
  const plainBindings = finish(`{${chindings}}`) === `{${chindings}}`;
  return {
    head: (level) => (level === 'info' ? info : warn) + time() + chindings,
    finish,
    plain: (value) => plainBindings && PLAIN.test(value),
    infoHeadBytes: headBytesOf(info + chindings, plainBindings ? time : undefined),
  };
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** The head's bytes (the level label and the bindings) when the logger writes no time of its own. */
function headBytesOf(head: string, time: (() => string) | undefined): Buffer | undefined {
  return PRINTABLE_ASCII.test(head) && time === pino.stdTimeFunctions.nullTime
    ? Buffer.from(head, 'latin1')
    : undefined;
}
