// Builds wsgate's pino logger: JSON lines by default, pino-pretty on a TTY, optionally to a file.
// Secrets are redacted by the header serializers in redact.ts, not by pino's `redact` paths: header
// objects appear under many keys, and the serializer costs nothing on lines that carry no headers.
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import pino from 'pino';
import { prettyFactory } from 'pino-pretty';
import { escapeEvent, escapeJsonLine } from './escape.ts';

export type Logger = pino.Logger;
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type LogFormat = 'auto' | 'json' | 'pretty';

export type LoggerOptions = {
  level: LogLevel;
  format: LogFormat;
  /** A file to append to; stdout when absent. */
  file?: string | undefined;
  /** A stream to write to instead (tests capture logs this way). */
  stream?: Writable;
  /** The worker process id with `run --workers N`: every line of that worker carries `worker`. */
  worker?: number | undefined;
};

export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    base: options.worker === undefined ? { pid: process.pid } : { pid: process.pid, worker: options.worker },
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    // Every line leaves through here: the JSON stays valid and one line, with nothing raw a terminal acts on.
    hooks: { streamWrite: escapeJsonLine },
  } satisfies pino.LoggerOptions;
  const usePretty =
    options.format === 'pretty' ||
    (options.format === 'auto' && !options.file && !options.stream && process.stdout.isTTY);
  let destination: pino.DestinationStream;
  if (options.stream) {
    destination = options.stream;
  } else if (options.file) {
    mkdirSync(dirname(options.file), { recursive: true });
    destination = usePretty
      ? createWriteStream(options.file, { flags: 'a' })
      : pino.destination({ dest: options.file, append: true, mkdir: true, sync: false });
  } else {
    destination = pino.destination({ dest: 1, sync: true });
  }
  if (usePretty) {
    // pino-pretty prints the message and stacks as they are: a path or header with ESC or CR/LF in it would
    // reach the terminal raw and could forge a line. Each event is parsed back and every string escaped first.
    const prettify = prettyFactory({
      colorize: !options.file && !options.stream && process.stdout.isTTY === true,
      translateTime: 'HH:MM:ss.l',
      ignore: 'pid,hostname',
      messageKey: 'msg',
    });
    const out = destination;
    return pino(base, {
      write(line: string) {
        out.write(prettify(escapeEvent(JSON.parse(line)) as Record<string, unknown>));
      },
    });
  }
  return pino(base, destination);
}
