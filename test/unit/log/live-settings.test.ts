// A reload changes log settings in a running wsgate: the root logger's level, line redaction and destination reach
// every child made before (listeners', connections'), a LogQueue moves to another file without losing or reordering
// a line, and the traffic log moves the connections that hold it along.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import type { WsFrameEvent } from '../../../src/events.ts';
import { createLogger, logOptionsOf, logQueueOf, updateLogger } from '../../../src/log/logger.ts';
import { LogQueue } from '../../../src/log/queue.ts';
import { createTrafficLog } from '../../../src/traffic/traffic-log.ts';
import { tempDir } from '../../helpers/tls.ts';
import { openEvent } from '../../helpers/ws-events.ts';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = createLogger({ level: 'info', format: 'json', stream });
  return { logger, lines, events: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** One field of every JSON line of a log file, in order. */
function fieldOfLines(file: string, key: string): unknown[] {
  return readFileSync(file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => (JSON.parse(l) as Record<string, unknown>)[key]);
}

const settle = () => new Promise((r) => setTimeout(r, 20));

test('level and line redaction set on the root reach children made before the change', async () => {
  const { logger, events } = capture();
  const child = logger.child({ listener: 'web' }).child({ id: 7 });
  child.debug({ event: 'a' }, 'hidden at info');
  child.info({ event: 'b', url: 'ws://u:pw@h/' }, 'redacted');
  const update = updateLogger(logger, { level: 'debug', format: 'json', showSecrets: true });
  assert.deepEqual(update.changed, ['level', 'showSecrets']);
  assert.equal(update.redactionChanged, true);
  child.debug({ event: 'c', url: 'ws://u:pw@h/' }, 'shown at debug, secret shown');
  updateLogger(logger, { level: 'warn', format: 'json', showSecrets: true });
  child.info({ event: 'd' }, 'hidden at warn');
  child.warn({ event: 'e' }, 'shown');
  await settle();
  assert.deepEqual(
    events().map((e) => [e['event'], e['url']]),
    [
      ['b', 'ws://u:[redacted]@h/'],
      ['c', 'ws://u:pw@h/'],
      ['e', undefined],
    ],
  );
  assert.equal(logOptionsOf(logger)?.level, 'warn');
  assert.deepEqual(updateLogger(logger, { level: 'warn', format: 'json', showSecrets: true }).changed, []);
});

test('log.maxQueueBytes changes the running queue bound', () => {
  const { logger } = capture();
  updateLogger(logger, { level: 'info', format: 'json', maxQueueBytes: 1234 });
  assert.equal(logQueueOf(logger)?.maxBytes, 1234);
});

test('log.file: lines go to the new file from the change on, in order, none lost; a file that cannot be opened keeps the old', async (t) => {
  const dir = tempDir(t, 'wsgate-log-live-');
  const [a, b] = [join(dir, 'a.log'), join(dir, 'b.log')];
  const logger = createLogger({ level: 'info', format: 'json', file: a });
  const child = logger.child({ id: 1 });
  for (let i = 0; i < 500; i++) child.info({ n: i }, 'line');
  assert.deepEqual(updateLogger(logger, { level: 'info', format: 'json', file: b }).changed, ['file']);
  for (let i = 500; i < 1000; i++) child.info({ n: i }, 'line');
  const bad = updateLogger(logger, { level: 'info', format: 'json', file: join(a, 'x.log') });
  assert.equal(bad.error?.code, 'WSG_LOG_FILE');
  assert.deepEqual(bad.changed, []);
  assert.equal(logOptionsOf(logger)?.file, b);
  child.info({ n: 1000 }, 'line');
  await logQueueOf(logger)!.close();
  assert.deepEqual(fieldOfLines(a, 'n'), [...Array(500).keys()]);
  assert.deepEqual(
    fieldOfLines(b, 'n'),
    [...Array(501).keys()].map((i) => i + 500),
  );
});

test('LogQueue.retarget from a file whose writes fail: nothing hangs, later lines reach the new file', async (t) => {
  const dir = tempDir(t, 'wsgate-log-retarget-');
  const queue = new LogQueue({
    out: pino.destination({ dest: '/dev/full', sync: false, contentMode: 'buffer' }),
    name: '/dev/full',
    maxBytes: 1 << 20,
    bufferMode: true,
  });
  queue.write('{"n":0}\n');
  for (let i = 0; i < 200 && !queue.failing; i++) await settle();
  assert.equal(queue.failing, true);
  const file = join(dir, 'ok.log');
  queue.retarget({ out: pino.destination({ dest: file, sync: false, contentMode: 'buffer' }), name: file });
  assert.equal(queue.failing, false);
  assert.equal(queue.name, file);
  queue.write('{"n":1}\n');
  await queue.close();
  assert.equal(readFileSync(file, 'utf8'), '{"n":1}\n');
});

const frame = (n: number): WsFrameEvent => ({
  type: 'frame',
  conn: 'c1',
  route: 'r',
  time: '2026-12-04T00:00:00.000Z',
  dir: 'toUpstream',
  opcode: 'text',
  fin: true,
  rsv1: false,
  masked: true,
  length: n,
});

test('traffic.update(): a connection holding the traffic log writes to the new file; the old one is complete', async (t) => {
  const dir = tempDir(t, 'wsgate-traffic-live-');
  const [a, b] = [join(dir, 'a.log'), join(dir, 'b.log')];
  const main = createLogger({ level: 'info', format: 'json', file: join(dir, 'main.log') });
  const traffic = createTrafficLog({ file: a, main });
  for (let i = 0; i < 300; i++) traffic.emit(frame(i));
  traffic.update(b);
  for (let i = 300; i < 600; i++) traffic.emit(frame(i));
  assert.throws(() => traffic.update(join(a, 'x.log')), { code: 'WSG_LOG_FILE' });
  traffic.emit(frame(600));
  await traffic.close();
  assert.deepEqual(fieldOfLines(a, 'length'), [...Array(300).keys()]);
  assert.deepEqual(
    fieldOfLines(b, 'length'),
    [...Array(301).keys()].map((i) => i + 300),
  );
  await logQueueOf(main)!.close();
});

test('traffic lines in the main log follow a changed log.level, open lines as frame lines', async () => {
  const { logger, events } = capture();
  updateLogger(logger, { level: 'warn', format: 'json' });
  const traffic = createTrafficLog({ file: undefined, main: logger });
  assert.equal(traffic.active(), false);
  traffic.emit(openEvent('c0'));
  traffic.emit(frame(1));
  updateLogger(logger, { level: 'info', format: 'json' });
  assert.equal(traffic.active(), true);
  traffic.emit(openEvent('c1'));
  traffic.emit(frame(2));
  updateLogger(logger, { level: 'warn', format: 'json' });
  traffic.emit(openEvent('c2'));
  traffic.emit(frame(3));
  await settle();
  assert.deepEqual(
    events().map((e) => [e['event'], e['conn'], e['length']]),
    [
      ['ws.open', 'c1', undefined],
      ['ws.frame', 'c1', 2],
    ],
  );
});
