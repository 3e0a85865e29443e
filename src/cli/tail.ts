// `wsgate tail`: renders a traffic log for people, one line per message, from a file (optionally following it
// as it grows, like tail -f) or from standard input (e.g. `wsgate run | wsgate tail`).
import { createReadStream, statSync, watch } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { WsgateError } from '../errors.ts';
import { type RenderOptions, renderTrafficLine } from '../traffic/render.ts';
import { type Output, parseCommandArgs } from './args.ts';

export const TAIL_HELP = `Usage: wsgate tail [FILE] [options]

Renders a wsgate traffic log (log.traffic, or the main log in JSON) for people: one line
per WebSocket message with time, connection, direction (→ to the upstream, ← to the client),
type, size and a preview; opens, closes (who ended it, how, close code) and protocol
violations too. Reads standard input when FILE is left out or is "-".

Options:
  -f, --follow        keep reading as the file grows
      --conn ID       only this connection (the "conn" field, e.g. w3)
      --dir DIR       only one direction: up (to the upstream) or down (to the client)
      --grep TEXT     only lines containing TEXT (case-insensitive)
      --frames        show every frame, not only messages
      --color / --no-color   force colours on or off (default: on a terminal)
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

export async function tailCommand(argv: string[], io: Output): Promise<number> {
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
    color: values['no-color'] ? false : (values.color ?? process.stdout.isTTY === true),
    frames: values.frames ?? false,
    conn: values.conn,
    dir: values.dir === undefined ? undefined : DIRS[values.dir],
    grep: values.grep,
    // Keep a message on one terminal line: the fixed part of a line takes about 45 columns.
    maxPreview: Math.max(40, (process.stdout.columns ?? 160) - 45),
  };
  const file = positionals[0];
  const show = (raw: string) => {
    const text = renderTrafficLine(raw, options);
    if (text !== undefined) io.out(text);
  };
  if (file === undefined || file === '-') {
    await readLines(process.stdin, show);
    return 0;
  }
  try {
    statSync(file);
  } catch (err) {
    throw new WsgateError('WSG_USAGE', { detail: `tail: cannot read ${file}: ${(err as NodeJS.ErrnoException).code}` });
  }
  if (!values.follow) {
    await readLines(createReadStream(file), show);
    return 0;
  }
  await follow(file, show);
  return 0;
}

function readLines(input: Readable, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
    rl.on('line', onLine);
    rl.on('close', () => resolve());
    input.on('error', reject);
  });
}

/** Reads what is there, then each appended part as the file grows, until SIGINT/SIGTERM. */
async function follow(file: string, onLine: (line: string) => void): Promise<void> {
  let position = 0;
  let partial = '';
  let reading = Promise.resolve();
  const readMore = () => {
    reading = reading.then(async () => {
      const size = statSync(file).size;
      if (size < position) position = 0; // truncated or rotated: start over
      if (size === position) return;
      const stream = createReadStream(file, { start: position, end: size - 1, encoding: 'utf8' });
      for await (const chunk of stream) {
        const lines = (partial + (chunk as string)).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) onLine(line);
      }
      position = size;
    });
  };
  readMore();
  const watcher = watch(file, () => readMore());
  // fs.watch can miss events on some file systems; a slow poll covers for it.
  const poll = setInterval(readMore, 500);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  watcher.close();
  clearInterval(poll);
  await reading;
}
