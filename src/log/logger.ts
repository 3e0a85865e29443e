// Builds wsgate's pino logger: JSON lines by default, pino-pretty on a TTY, optionally to a file. Every destination
// is asynchronous and bounded by a LogQueue (queue.ts), so a stalled stdout pipe or a slow disk neither stops the
// proxy nor grows its memory with traffic. Secret headers are redacted by the serializers in redact.ts, not by
// pino's `redact` paths: header objects appear under many keys, and the serializer costs nothing on lines that
// carry no headers; URL credentials and token subprotocols by one pass over each finished line (redact.ts).
import { accessSync, closeSync, constants, createWriteStream, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import pino from 'pino';
import { WsgateError } from '../errors.ts';
import { escapeJsonLine } from './escape.ts';
import { prettyFormatter, terminalColor } from './pretty.ts';
import { type DropReport, LogQueue, type WriteFailure } from './queue.ts';
import { createLineRedactor, type LineRedaction } from './redact.ts';

export type Logger = pino.Logger;
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type LogFormat = 'auto' | 'json' | 'pretty';

/** The default of log.maxQueueBytes: what a destination may fall behind before traffic lines are shed. */
export const DEFAULT_MAX_QUEUE_BYTES = 16 * 1024 * 1024;

export type LoggerOptions = LineRedaction & {
  level: LogLevel;
  format: LogFormat;
  /** A file to append to; stdout when absent. */
  file?: string | undefined;
  /** A stream to write to instead (tests capture logs this way). */
  stream?: Writable;
  /** The worker process id with `run --workers N`: every line of that worker carries `worker`. */
  worker?: number | undefined;
  /** log.maxQueueBytes. */
  maxQueueBytes?: number | undefined;
};

/** What a logger's children share and the traffic log needs: its queue and how its lines are redacted. */
type Sink = { queue: LogQueue; redaction: LineRedaction; maxQueueBytes: number; options: LoggerOptions };

// Child loggers inherit from their parent object, so a symbol on the root reaches every child.
const SINK = Symbol('wsgate.logSink');

function sinkOf(logger: Logger): Sink | undefined {
  return (logger as unknown as { [SINK]?: Sink })[SINK];
}

function setSink(logger: Logger, sink: Sink): void {
  (logger as unknown as { [SINK]: Sink })[SINK] = sink;
}

/** The log settings a logger made by createLogger runs with now (after reloads). */
export function logOptionsOf(logger: Logger): LiveLogOptions | undefined {
  return sinkOf(logger)?.options;
}

/** The bounded destination a logger (or any of its children) writes to. */
export function logQueueOf(logger: Logger): LogQueue | undefined {
  return sinkOf(logger)?.queue;
}

function streamWrite(redaction: LineRedaction): (line: string) => string {
  const redact = createLineRedactor(redaction);
  // Every line leaves through here: the JSON stays valid and one line, with nothing raw a terminal acts on, and
  // with no URL credentials or token subprotocols unless log.showSecrets.
  return redact === undefined ? escapeJsonLine : (line) => escapeJsonLine(redact(line));
}

/** Says in the given logger what a queue dropped. */
export function reportDrops(log: Logger): (report: DropReport) => void {
  return (r) =>
    log.warn(
      { event: 'log.dropped', ...r },
      r.recovered && r.dropped === 0 && r.droppedOther === 0
        ? `log ${r.destination} caught up after ${r.ms} ms behind; no more lines dropped since the last report`
        : `log ${r.destination} fell more than ${r.maxQueueBytes} bytes behind: dropped ${r.dropped} traffic lines` +
            (r.droppedOther > 0 ? ` and ${r.droppedOther} other lines` : '') +
            (r.recovered ? ` in ${r.ms} ms; caught up` : ` so far (${r.ms} ms)`),
    );
}

/**
 * Says in `log` that a destination's writes fail, or succeed again. When the failing destination is `log`'s own,
 * its line waits with the others; stderr hears of it at once.
 */
function reportWriteFailure(log: () => Logger, own: boolean): (failure: WriteFailure) => void {
  return (f) => {
    const text = f.recovered
      ? `log ${f.destination}: writes succeed again after ${f.ms} ms of ${f.code}`
      : `log ${f.destination}: writes fail (${f.message}); lines wait in memory up to log.maxQueueBytes (traffic lines are dropped past it) and are tried again every second`;
    if (own) {
      try {
        writeSync(2, `wsgate: ${text}\n`);
      } catch {
        // stderr may be on the same full disk.
      }
    }
    const { recovered: _, message: _message, ...fields } = f;
    if (f.recovered) log().info({ event: 'log.write_recovered', ...fields }, text);
    else log().error({ event: 'log.write_failed', ...fields }, text);
  };
}

/** The files this process's loggers write (log.file, log.traffic), for reopenLogFiles. */
const logFiles = new Set<LogQueue>();

/**
 * Opens every log file of this process again at its path, as `kill -USR1` asks nginx and Envoy to: logrotate moves
 * a file away and signals, and the lines after the signal go to a new file at the old name. Returns the files.
 */
export function reopenLogFiles(): string[] {
  const reopened: string[] = [];
  for (const queue of logFiles) {
    if (queue.closed) logFiles.delete(queue);
    else if (queue.reopen()) reopened.push(queue.name);
  }
  return reopened;
}

/**
 * Opens `file` for appending once, synchronously, so a path wsgate cannot write to stops the start (a reload's change
 * of log.file or log.traffic keeps the old) with the file named, as nginx does, rather than with lines lost later.
 * `wsgate check` asks checkCouldWrite instead, which writes nothing.
 */
export function checkWritable(file: string): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    const existing = statSync(file, { throwIfNoEntry: false });
    // Opening a FIFO for writing waits for its reader: for anything but a regular file, permission is the check.
    if (existing !== undefined && !existing.isFile()) accessSync(file, constants.W_OK);
    else closeSync(openSync(file, 'a'));
  } catch (err) {
    throw new WsgateError('WSG_LOG_FILE', { file, detail: (err as Error).message });
  }
}

/**
 * What checkWritable would find, without writing anything: `wsgate check` judges a config and leaves the disk as it
 * was. An existing file must be writable; a missing one needs its nearest existing ancestor to be a directory
 * wsgate may create entries in (run creates the missing directories and the file).
 */
export function checkCouldWrite(file: string): void {
  const fail = (detail: string) => new WsgateError('WSG_LOG_FILE', { file, detail });
  try {
    const existing = statSync(file, { throwIfNoEntry: false });
    if (existing !== undefined) {
      if (existing.isDirectory()) throw fail('it is a directory');
      accessSync(file, constants.W_OK);
      return;
    }
    let dir = dirname(file);
    let parent = statSync(dir, { throwIfNoEntry: false });
    while (parent === undefined && dirname(dir) !== dir) {
      dir = dirname(dir);
      parent = statSync(dir, { throwIfNoEntry: false });
    }
    if (parent === undefined) throw fail(`no directory on its path exists`);
    if (!parent.isDirectory()) throw fail(`${dir} is not a directory`);
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    if (err instanceof WsgateError) throw err;
    throw fail((err as Error).message);
  }
}

/** What every wsgate logger writes the same way: `msg`, the level as its label, and lines through streamWrite. */
function lineOptions(redaction: LineRedaction) {
  return {
    messageKey: 'msg',
    formatters: { level: (label: string) => ({ level: label }) },
    hooks: { streamWrite: streamWrite(redaction) },
  } satisfies pino.LoggerOptions;
}

function redactionOf(options: LineRedaction): LineRedaction {
  return {
    showSecrets: options.showSecrets,
    redactQueryParams: options.redactQueryParams,
    redactSubprotocols: options.redactSubprotocols,
    tokenSubprotocolPrefixes: options.tokenSubprotocolPrefixes,
  };
}

export function createLogger(options: LoggerOptions): Logger {
  const redaction = redactionOf(options);
  const maxQueueBytes = options.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES;
  const base = {
    level: options.level,
    base: options.worker === undefined ? { pid: process.pid } : { pid: process.pid, worker: options.worker },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...lineOptions(redaction),
  } satisfies pino.LoggerOptions;
  let logger: Logger | undefined;
  const destination = openMainDestination(options);
  const queue = new LogQueue({
    ...destination,
    maxBytes: maxQueueBytes,
    // The sonic-boom destinations take the queue's batches as Buffers (queue.ts); streams ignore it.
    bufferMode: true,
    onWriteFailure: reportWriteFailure(() => logger!, true),
  });
  // Every main destination is listed: one that is no file (stdout, pino-pretty's WriteStream) refuses to reopen.
  logFiles.add(queue);
  logger = pino(base, queue);
  setSink(logger, { queue, redaction, maxQueueBytes, options });
  queue.reportTo(reportDrops(logger));
  return logger;
}

type MainDestination = {
  out: Writable | ReturnType<typeof pino.destination>;
  name: string;
  format?: (line: string) => string;
};

/** Where the main log goes: stdout, log.file or a caller's stream, as JSON lines or pino-pretty's. */
function openMainDestination(options: LoggerOptions): MainDestination {
  const usePretty =
    options.format === 'pretty' ||
    (options.format === 'auto' && !options.file && !options.stream && process.stdout.isTTY);
  let out: MainDestination['out'];
  if (options.stream) {
    out = options.stream;
  } else if (options.file) {
    checkWritable(options.file);
    // pino-pretty to a file goes through an fs.WriteStream, which cannot be reopened: JSON files can.
    out = usePretty
      ? createWriteStream(options.file, { flags: 'a' })
      : pino.destination({ dest: options.file, append: true, mkdir: true, sync: false, contentMode: 'buffer' });
  } else {
    // Asynchronous: a synchronous write to a pipe whose reader stopped would stop the whole process.
    out = pino.destination({ dest: 1, sync: false, contentMode: 'buffer' });
  }
  const name = options.file ?? 'stdout';
  if (!usePretty) return { out, name };
  return {
    out,
    name,
    format: prettyFormatter(!options.file && !options.stream && terminalColor(process.stdout.isTTY)),
  };
}

/** The log.* settings a reload can change in a running logger (worker and stream are fixed). */
export type LiveLogOptions = Omit<LoggerOptions, 'stream' | 'worker'>;

/** What updateLogger changed. */
export type LogUpdate = {
  /** The log.* keys now in effect that were not before. */
  changed: string[];
  /** Lines are redacted otherwise now: a traffic log built with the old redaction must be rebuilt. */
  redactionChanged: boolean;
  /** Why log.file / log.format did not change (the new file cannot be opened): the old destination stays. */
  error?: WsgateError;
};

const LIVE_KEYS = [
  'level',
  'format',
  'file',
  'maxQueueBytes',
  'showSecrets',
  'redactQueryParams',
  'redactSubprotocols',
  'tokenSubprotocolPrefixes',
] as const satisfies readonly (keyof LiveLogOptions)[];

/**
 * Applies a reload's log.* to a running logger made by createLogger, and so to every child of it: pino's child()
 * without options keeps no level, destination or line hook of its own but reads its parent's through the prototype,
 * so setting them on the root reaches every listener's and connection's logger. A new log.file that cannot be
 * opened leaves the destination (and format) as they were, and says why in `error`; the rest still applies.
 */
export function updateLogger(logger: Logger, next: LiveLogOptions): LogUpdate {
  const sink = sinkOf(logger);
  if (sink === undefined) {
    const changed = logger.level === next.level ? [] : ['level'];
    logger.level = next.level;
    return { changed, redactionChanged: false };
  }
  const previous = sink.options;
  let applied: LoggerOptions = { ...previous, ...next, stream: previous.stream, worker: previous.worker };
  // A caller's stream (tests) stays whatever the file and format say.
  if (previous.stream !== undefined) applied = { ...applied, file: previous.file, format: previous.format };
  let changed: string[] = LIVE_KEYS.filter(
    (key) => JSON.stringify(previous[key] ?? null) !== JSON.stringify(applied[key] ?? null),
  );
  if (changed.length === 0) return { changed, redactionChanged: false };
  let error: WsgateError | undefined;
  if (changed.includes('file') || changed.includes('format')) {
    try {
      sink.queue.retarget(openMainDestination(applied));
    } catch (err) {
      error = err as WsgateError;
      applied = { ...applied, file: previous.file, format: previous.format };
      changed = changed.filter((key) => key !== 'file' && key !== 'format');
    }
  }
  const redaction = redactionOf(applied);
  const redactionChanged = JSON.stringify(redaction) !== JSON.stringify(sink.redaction);
  if (redactionChanged) {
    // Children read the root's hooks through their prototype.
    const internals = logger as unknown as Record<symbol, Record<string, unknown>>;
    internals[pino.symbols.hooksSym] = { ...internals[pino.symbols.hooksSym], streamWrite: streamWrite(redaction) };
  }
  const maxQueueBytes = applied.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES;
  sink.queue.maxBytes = maxQueueBytes;
  setSink(logger, { queue: sink.queue, redaction, maxQueueBytes, options: applied });
  logger.level = applied.level;
  return { changed, redactionChanged, ...(error === undefined ? {} : { error }) };
}

/**
 * A logger of its own file (the traffic log's log.traffic) with the main logger's redaction and queue bound;
 * what it drops is reported in the main log. JSON lines, asynchronous, batched (queue.ts, FLUSH_DELAY_MS).
 */
export function createFileLogger(
  main: Logger,
  file: string,
  options: Pick<pino.LoggerOptions, 'base' | 'timestamp'>,
): { logger: Logger; queue: LogQueue } {
  const sink = sinkOf(main);
  const redaction = sink?.redaction ?? {};
  checkWritable(file);
  const out = pino.destination({
    dest: file,
    append: true,
    mkdir: true,
    sync: false,
    // No minLength: sonic-boom has no timer for it, so a quiet connection's lines stayed unwritten until 4 KiB more
    // came or wsgate stopped. The queue's FLUSH_DELAY_MS batching does the coalescing instead.
    contentMode: 'buffer',
  });
  const queue = new LogQueue({
    out,
    name: file,
    maxBytes: sink?.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES,
    bufferMode: true,
    onWriteFailure: reportWriteFailure(() => main, false),
  });
  logFiles.add(queue);
  queue.reportTo(reportDrops(main));
  const logger = pino({ ...options, ...lineOptions(redaction) }, queue);
  return { logger, queue };
}

/**
 * A logger that writes into `main`'s destination with its level, bindings and line hook, but without a time of its
 * own: for events that carry their own `time` (the traffic log's), which a child of `main` would write twice, as
 * pino writes its time and then every field. A logger without wsgate's destination gets a child.
 */
export function createTimelessSibling(main: Logger): Logger {
  const sink = sinkOf(main);
  if (sink === undefined) return main.child({});
  // bindings() leaves out pid (and hostname); the serialised bindings are what main writes on every line.
  const chindings = String((main as unknown as Record<symbol, unknown>)[pino.symbols.chindingsSym] ?? '');
  const logger = pino(
    {
      level: main.level,
      base: JSON.parse(`{${chindings.slice(1)}}`) as Record<string, unknown>,
      timestamp: false,
      ...lineOptions(sink.redaction),
    },
    sink.queue,
  );
  setSink(logger, sink);
  return logger;
}
