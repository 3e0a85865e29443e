// `wsgate tail`: renders a traffic log for people, one line per message, from a file (optionally following it
// as it grows, like tail -F: across logrotate too) or from standard input (e.g. `wsgate run | wsgate tail`).
import { createReadStream, type FSWatcher, watch } from 'node:fs';
import { type FileHandle, open, readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { WsgateError } from '../errors.ts';
import { terminalColor } from '../log/pretty.ts';
import { type RenderOptions, renderTrafficLine } from '../traffic/render.ts';
import { describeFileError, type Output, parseCommandArgs } from './args.ts';

export const TAIL_HELP = `Usage: wsgate tail [FILE] [options]

Renders a wsgate traffic log (log.traffic, or the main log in JSON) for people: one line
per WebSocket message with time, connection, direction (→ to the upstream, ← to the client),
type, size and a preview; opens, closes (who ended it, how, close code) and protocol
violations too, and from a main log the handshakes and CONNECT tunnels that did not open.
Reads standard input when FILE is left out (a pipe; at a terminal it says where a log comes
from) or is "-". FILE is one file: for a directory, the error names the newest file in it.

Options:
  -f, --follow        keep reading as the file grows, also after logrotate moved it (as tail -F)
      --conn ID       only this connection (the "conn" field, e.g. w3)
      --dir DIR       only one direction: up (to the upstream) or down (to the client)
      --grep TEXT     only lines containing TEXT (case-insensitive)
      --frames        show every frame, not only messages
      --color / --no-color   force colours on or off (default: on a terminal, unless NO_COLOR is set)
  -h, --help          show this help

Examples:
  wsgate tail logs/traffic.jsonl -f --conn w3
  wsgate run --tap payload --log-format json | wsgate tail
`;

const DIRS: Record<string, RenderOptions['dir']> = {
  up: 'toUpstream',
  down: 'toClient',
  toUpstream: 'toUpstream',
  toClient: 'toClient',
};

export async function tailCommand(
  argv: string[],
  io: Output,
  stdin: Readable & { isTTY?: boolean } = process.stdin,
): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'tail',
    argv,
    {
      follow: { type: 'boolean', short: 'f' },
      conn: { type: 'string' },
      dir: { type: 'string' },
      grep: { type: 'string' },
      frames: { type: 'boolean' },
      color: { type: 'boolean' },
      'no-color': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (values.help) {
    io.out(TAIL_HELP);
    return 0;
  }
  if (positionals.length > 1) throw new WsgateError('WSG_USAGE', { detail: 'tail: give at most one FILE' });
  if (values.dir !== undefined && DIRS[values.dir] === undefined) {
    throw new WsgateError('WSG_USAGE', { detail: 'tail: --dir must be up or down' });
  }
  const options: RenderOptions = {
    color: values['no-color'] ? false : (values.color ?? terminalColor(process.stdout.isTTY)),
    frames: values.frames ?? false,
    conn: values.conn,
    dir: values.dir === undefined ? undefined : DIRS[values.dir],
    grep: values.grep,
    // Keep a message on one terminal line: the fixed part of a line takes about 45 columns.
    maxPreview: Math.max(40, (process.stdout.columns ?? 160) - 45),
  };
  const file = positionals[0];
  const notJson = notJsonWarning(io);
  const show = (raw: string) => {
    notJson.line(raw);
    const text = renderTrafficLine(raw, options);
    if (text !== undefined) io.out(text);
  };
  // A bare `wsgate tail` at a prompt would wait for a log typed in, showing nothing: someone who ran it expected a
  // log, so it says where one comes from. `-` still reads a terminal, for whoever means it.
  if (file === undefined && stdin.isTTY === true) {
    throw new WsgateError('WSG_USAGE', {
      detail:
        'tail: no FILE, and standard input is a terminal: give the traffic log (log.traffic, e.g. `wsgate tail logs/traffic.jsonl -f`) or pipe a JSON log in (`wsgate run --log-format json | wsgate tail`)',
    });
  }
  if (file === undefined || file === '-') {
    await readLines(stdin, show);
    notJson.end();
    return 0;
  }
  const problem = await unreadable(file);
  if (problem !== undefined) throw new WsgateError('WSG_USAGE', { detail: `tail: ${problem}` });
  if (!values.follow) {
    await readLines(createReadStream(file), show);
    notJson.end();
    return 0;
  }
  await follow(file, show);
  return 0;
}

/** Lines read with none of them JSON before this says so. */
const NOT_JSON_AFTER = 10;

/**
 * Says once, on stderr, when the input holds no JSON: a pretty log (`log.format: pretty`, or any log written at a
 * terminal) or another file gave no line at all and exit 0, as if nothing had happened. After the first lines,
 * not at the first: `npm start | wsgate tail` begins with npm's own banner.
 */
function notJsonWarning(io: Output): { line(raw: string): void; end(): void } {
  let lines = 0;
  let done = false;
  const warn = () => {
    done = true;
    io.err(
      `wsgate: tail: ${lines === 1 ? 'its one line is not' : `none of the first ${lines} lines is`} JSON; tail reads the traffic log (log.traffic) or the main log in JSON (--log-format json, or log.format: json: a log at a terminal is pretty, already for people)`,
    );
  };
  return {
    line(raw) {
      if (done) return;
      const text = raw.trimStart();
      if (text === '') return;
      if (text.startsWith('{')) done = true;
      else if (++lines >= NOT_JSON_AFTER) warn();
    },
    end() {
      if (!done && lines > 0) warn();
    },
  };
}

/**
 * Why FILE cannot be tailed, checked before reading: a directory (wsgate writes its traffic log to one file; which
 * file in a folder is meant is the user's to say) or a file that cannot be opened. -f would otherwise wait on it
 * for ever, and a read stream's error would only come after the start.
 */
async function unreadable(file: string): Promise<string | undefined> {
  const info = await stat(file).catch((err: NodeJS.ErrnoException) => err);
  if (info instanceof Error) return `cannot read ${file}: ${describeFileError(info)}`;
  if (info.isDirectory()) {
    const newest = await newestFileIn(file);
    return `${file} is a directory; give a log file in it${newest === undefined ? '' : `, e.g. wsgate tail ${newest}`}`;
  }
  const handle = await open(file, 'r').catch((err: NodeJS.ErrnoException) => err);
  if (handle instanceof Error) return `cannot read ${file}: ${describeFileError(handle)}`;
  await handle.close();
  return undefined;
}

/** The most recently written file directly in `dir`, as a path, for the suggestion; the first 1,000 entries only. */
async function newestFileIn(dir: string): Promise<string | undefined> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  let newest: { path: string; mtimeMs: number } | undefined;
  for (const entry of entries.slice(0, 1000)) {
    if (!entry.isFile()) continue;
    const path = join(dir, entry.name);
    const info = await stat(path).catch(() => undefined);
    if (info !== undefined && (newest === undefined || info.mtimeMs > newest.mtimeMs)) {
      newest = { path, mtimeMs: info.mtimeMs };
    }
  }
  return newest?.path;
}

function readLines(input: Readable, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
    rl.on('line', onLine);
    rl.on('close', () => resolve());
    // readline re-emits the input's error on itself: without a listener there it would be an uncaught exception.
    rl.on('error', reject);
    input.on('error', reject);
  });
}

/**
 * Reads what is there, then each appended part as the file grows, until SIGINT/SIGTERM; like `tail -F`, it follows
 * the name. After logrotate moves the file, what was still written to the moved file is read to its end (it stays
 * open), then the new file at the name from its start; while no file is at the name, it waits. A file truncated in
 * place (copytruncate) is read again from its start.
 */
async function follow(file: string, onLine: (line: string) => void): Promise<void> {
  let current: { handle: FileHandle; id: string } | undefined;
  let position = 0;
  let partial = '';
  let decoder = new StringDecoder('utf8');
  const chunk = Buffer.allocUnsafe(64 * 1024);
  const idOf = (s: { dev: number; ino: number }) => `${s.dev}:${s.ino}`;
  const drain = async (handle: FileHandle) => {
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      const lines = (partial + decoder.write(chunk.subarray(0, bytesRead))).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    }
  };
  const readMore = async () => {
    if (current !== undefined) {
      const size = (await current.handle.stat()).size;
      if (size < position) position = 0; // truncated in place: start over
      await drain(current.handle);
    }
    const named = await stat(file).catch(() => undefined);
    // Moved away and nothing at the name yet: keep what is open, and wait.
    if (named === undefined || (current !== undefined && idOf(named) === current.id)) return;
    const handle = await open(file, 'r').catch(() => undefined);
    if (handle === undefined) return;
    await current?.handle.close();
    current = { handle, id: idOf(await handle.stat()) };
    position = 0;
    // A line the moved file ended without a newline is dropped with it.
    partial = '';
    decoder = new StringDecoder('utf8');
    await drain(handle);
  };
  let reading: Promise<void> = Promise.resolve();
  // One read at a time; a failed read (the disk, a permission changed) is tried again by the next poll.
  const schedule = () => {
    reading = reading.then(readMore).catch(() => {});
  };
  schedule();
  // fs.watch on the directory hears a new file at the name; a slow poll covers file systems where it misses events.
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), schedule);
  } catch {
    // Out of inotify watches, say: the poll alone follows the file.
  }
  const poll = setInterval(schedule, 500);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  watcher?.close();
  clearInterval(poll);
  await reading;
  await current?.handle.close();
}
