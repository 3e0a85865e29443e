// Builds wsgate's pino logger: JSON lines by default, pino-pretty on a TTY, optionally to a file.
// Secrets are redacted by the header serializers in redact.ts, not by pino's `redact` paths: header
// objects appear under many keys, and the serializer costs nothing on lines that carry no headers.
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import pino from 'pino';
import pretty from 'pino-pretty';

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
};

export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    base: { pid: process.pid },
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
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
    // pino-pretty escapes nothing by itself; the messages we log are built from values that
    // went through JSON.stringify or safeText(), so control bytes are already escaped.
    return pino(
      base,
      pretty({
        colorize: !options.file && process.stdout.isTTY === true,
        translateTime: 'HH:MM:ss.l',
        ignore: 'pid,hostname',
        messageKey: 'msg',
        destination: destination as Writable,
        sync: true,
      }),
    );
  }
  return pino(base, destination);
}
