// The traffic log builds frame and message lines itself (eventLine) instead of through pino: each line must parse to
// exactly what pino's line for the same event parses to, with the same redaction, for the main log's shape (time,
// pid, worker) and a traffic file's (no time), and stay one line of ASCII.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { WsEvent, WsFrameEvent, WsMessageEvent } from '../../../src/events.ts';
import { lineShapeOf } from '../../../src/log/line-shape.ts';
import { createLogger, type Logger } from '../../../src/log/logger.ts';
import { createTrafficLog, describeEvent, eventLine } from '../../../src/traffic/traffic-log.ts';
import { tempDir } from '../../helpers/tls.ts';

const frame: WsFrameEvent = {
  conn: 'w12',
  route: 'api',
  time: '2026-12-02T04:00:00.000Z',
  type: 'frame',
  dir: 'toUpstream',
  opcode: 'binary',
  fin: true,
  rsv1: false,
  masked: true,
  length: 64,
};

const messages: WsMessageEvent[] = [
  { ...frame, type: 'message', dir: 'toClient', kind: 'binary', size: 64, fragments: 1, compressed: false },
  {
    conn: 'w12',
    route: 'api',
    time: '2026-12-02T04:00:00.000Z',
    type: 'message',
    dir: 'toClient',
    kind: 'text',
    size: 40,
    fragments: 2,
    compressed: true,
    decodedSize: 90,
    truncated: true,
    preview: 'héllo → wörld "quoted" \u2028 ?token=abc https://u:secret@example.com/ \u001b[2J',
  },
  {
    conn: 'w12',
    route: 'api',
    time: '2026-12-02T04:00:00.000Z',
    type: 'message',
    dir: 'toUpstream',
    kind: 'close',
    size: 5,
    fragments: 1,
    compressed: false,
    code: 1000,
    reason: 'bye',
  },
  {
    conn: 'w12',
    route: 'api',
    time: '2026-12-02T04:00:00.000Z',
    type: 'message',
    dir: 'toClient',
    kind: 'pong',
    size: 0,
    fragments: 1,
    compressed: false,
    rttMs: 0.125,
  },
];

/** A logger whose lines are captured, and what pino itself writes for `logger.info(fields, msg)`. */
function capture(options: { worker?: number; child?: boolean }): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const main = createLogger({ level: 'info', format: 'json', stream, worker: options.worker });
  return { logger: options.child ? main.child({}) : main, lines };
}

async function pinoLine(logger: Logger, lines: string[], event: WsFrameEvent | WsMessageEvent): Promise<string> {
  const { type: _type, ...fields } = event;
  logger.info({ event: `ws.${event.type}`, ...fields }, describeEvent(event));
  await new Promise((r) => setImmediate(r));
  return lines.pop()!;
}

for (const variant of [{ child: true }, { child: true, worker: 3 }] as const) {
  test(`frame and message lines parse to pino's (${variant.worker === undefined ? 'main log' : 'worker'})`, async () => {
    const { logger, lines } = capture(variant);
    const shape = lineShapeOf(logger);
    assert.ok(shape, 'the logger has a shape the traffic log can build lines for');
    // Frames take a path of their own (one template): also with an id and a route name the line hook could change,
    // and with fin unset and rsv1 set.
    const frames: WsFrameEvent[] = [
      frame,
      { ...frame, conn: 'w@1', route: 'r=1 "q" é', dir: 'toClient', fin: false, rsv1: true, masked: false },
    ];
    for (const event of [...frames, ...messages]) {
      const ours = eventLine(shape, event);
      const theirs = await pinoLine(logger, lines, event);
      assert.ok(ours.endsWith('}\n') && !ours.slice(0, -1).includes('\n'), 'one line');
      assert.match(ours, /^[\x20-\x7e]*\n$/, 'ASCII only');
      const a = JSON.parse(ours) as Record<string, unknown>;
      const b = JSON.parse(theirs) as Record<string, unknown>;
      // The time of pino's line is its own clock; everything else is the same.
      delete a['time'];
      delete b['time'];
      assert.deepEqual(a, b);
      assert.deepEqual(Object.keys(JSON.parse(ours)), Object.keys(JSON.parse(theirs)), 'same fields, same order');
    }
  });
}

test('wire text in a line is redacted as pino redacts it; plain lines skip the hook', () => {
  const { logger } = capture({ child: true });
  const shape = lineShapeOf(logger)!;
  const line = eventLine(shape, messages[1]!);
  assert.doesNotMatch(line, /secret|token=abc/);
  assert.match(line, /u:\[redacted\]@example\.com/);
  const parsed = JSON.parse(line) as { preview: string };
  assert.match(parsed.preview, /^héllo → wörld "quoted" \u2028 /, 'escapes are values, not changes');
  // A route name the hook could change is not trusted to be plain.
  assert.equal(shape.plain('api'), true);
  assert.equal(shape.plain('a=b'), false);
  assert.equal(shape.plain('x@y'), false);
});

test('a traffic file (log.traffic) gets the lines pino wrote there: no time of its own, the worker kept', async (t) => {
  const dir = tempDir(t, 'wsgate-event-line-');
  const main = createLogger({ level: 'info', format: 'json', file: join(dir, 'main.log'), worker: 2 });
  const traffic = createTrafficLog({ file: join(dir, 'traffic.log'), main });
  const events = [frame, ...messages];
  for (const event of events) traffic.emit(event);
  await traffic.close();
  const lines = readFileSync(join(dir, 'traffic.log'), 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, events.length);
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  const { type: _type, ...fields } = frame;
  assert.deepEqual(first, { level: 'info', worker: 2, event: 'ws.frame', ...fields, msg: describeEvent(frame) });
  assert.equal((JSON.parse(lines[2]!) as { reason?: string }).reason, undefined, 'a text message line has no reason');
  assert.equal((JSON.parse(lines[3]!) as { reason?: string }).reason, 'bye');
});

test('lines are one-byte strings in V8, with a wire preview that needed escapes too (%DebugPrint in a child)', () => {
  // A two-byte line (one that ever held the arrow or a non-ASCII preview) makes every batch joined with it two-byte,
  // and V8 encodes those through its slow UTF-16 path: measured at about a tenth of the traffic log's cost.
  const src = (f: string) => JSON.stringify(pathToFileURL(join(import.meta.dirname, '../../../src', f)).href);
  const script = `
    import { eventLine } from ${src('traffic/traffic-log.ts')};
    import { lineShapeOf } from ${src('log/line-shape.ts')};
    import { createLogger } from ${src('log/logger.ts')};
    import { Writable } from 'node:stream';
    const logger = createLogger({ level: 'info', format: 'json', stream: new Writable({ write(c, e, cb) { cb(); } }) });
    const shape = lineShapeOf(logger.child({}));
    for (const event of ${JSON.stringify([frame, ...messages])}) %DebugPrint(%FlattenString(eventLine(shape, event)));
  `;
  const out = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  const printed = out.stdout.split('\n').filter((l) => l.startsWith('DebugPrint:'));
  assert.equal(printed.length, 1 + messages.length, `${out.stdout}${out.stderr}`);
  // V8 prints a two-byte string as u"…" and a one-byte one as "…".
  for (const line of printed) assert.match(line, /\[String\]: "\{/, line.slice(0, 120));
});

test("in the main log a traffic line has one time, the event's; the main log's own lines keep their clock", async () => {
  const { logger: main, lines } = capture({ worker: 4 });
  const traffic = createTrafficLog({ file: undefined, main });
  const open: WsEvent = {
    conn: 'w12',
    route: 'api',
    time: '2026-12-02T03:59:59.000Z',
    type: 'open',
    upstream: 'ws://127.0.0.1:1',
    path: '/x',
    client: '127.0.0.1',
    protocol: undefined,
    extensions: undefined,
    tap: 'frames',
    handshakeMs: 1.5,
    request: [],
    forwarded: [],
    response: [],
  };
  const events: WsEvent[] = [open, frame, ...messages];
  for (const event of events) traffic.emit(event);
  main.info({ event: 'other' }, 'a line of the main log');
  for (let i = 0; i < 100 && lines.join('').split('\n').length <= events.length + 1; i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const written = lines.join('').trimEnd().split('\n');
  assert.equal(written.length, events.length + 1);
  events.forEach((event, i) => {
    const line = written[i]!;
    assert.equal(line.match(/"time":/g)?.length, 1, line);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    assert.equal(parsed['time'], event.time);
    assert.equal(parsed['event'], event.type === 'open' ? 'ws.open' : `ws.${event.type}`);
    assert.equal(parsed['pid'], process.pid);
    assert.equal(parsed['worker'], 4);
    assert.equal(parsed['level'], 'info');
  });
  const own = JSON.parse(written.at(-1)!) as { time?: string; msg?: string };
  assert.equal(own.msg, 'a line of the main log');
  assert.match(own.time ?? '', /^\d{4}-\d\d-\d\dT/);
});
