// A log destination whose writes fail (a full disk: /dev/full gives ENOSPC; a file-size limit gives EFBIG): the
// process keeps running, the failure is reported once, the lines wait and are written once writes succeed again
// (with no new line to trigger it), and neither close() nor the process's exit hangs on what cannot be written.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { createFileLogger, createLogger, logQueueOf } from '../../../src/log/logger.ts';
import { LogQueue, type WriteFailure } from '../../../src/log/queue.ts';
import { tempDir } from '../../helpers/tls.ts';

const FULL = '/dev/full';
const skip = existsSync(FULL) ? false : 'no /dev/full here';
const src = (p: string) => JSON.stringify(join(import.meta.dirname, '..', '..', '..', 'src', p));

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a full disk: the failure is reported once, timers keep running, close() ends at once', { skip }, async () => {
  const failures: WriteFailure[] = [];
  const queue = new LogQueue({
    out: pino.destination({ dest: FULL, sync: false, contentMode: 'buffer' }),
    name: FULL,
    maxBytes: 1 << 20,
    bufferMode: true,
    onWriteFailure: (f) => failures.push(f),
  });
  for (let i = 0; i < 50; i++) queue.write(`{"line":${i}}\n`);
  await until(() => failures.length > 0, 5000, 'the failure report');
  // More lines and a retry round: still one report, and the event loop was never held.
  for (let i = 0; i < 50; i++) queue.write(`{"line":${i}}\n`);
  const timerAt = Date.now();
  await new Promise((r) => setTimeout(r, 1200));
  assert.ok(Date.now() - timerAt < 3000, 'a timer fires on time');
  assert.equal(failures.length, 1);
  assert.deepEqual(
    { ...failures[0], message: undefined },
    { destination: FULL, code: 'ENOSPC', recovered: false, message: undefined },
  );
  assert.equal(queue.failing, true);
  assert.ok(queue.pendingBytes() > 0, 'the lines wait');
  const closing = Date.now();
  await queue.close();
  assert.ok(Date.now() - closing < 2000, `close() took ${Date.now() - closing} ms`);
});

test('a traffic file on a full disk is reported in the main log as log.write_failed', { skip }, async (t) => {
  const dir = tempDir(t, 'wsgate-log-full-');
  const main = createLogger({ level: 'info', format: 'json', file: join(dir, 'main.log') });
  const { logger, queue } = createFileLogger(main, FULL, { base: null, timestamp: false });
  logger.info({ event: 'ws.frame' }, 'a frame');
  await until(() => queue.failing, 5000, 'the traffic file to fail');
  await queue.close();
  await logQueueOf(main)!.close();
  const lines = readFileSync(join(dir, 'main.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const failed = lines.filter((l) => l['event'] === 'log.write_failed');
  assert.equal(failed.length, 1, JSON.stringify(lines));
  assert.equal(failed[0]!['destination'], FULL);
  assert.equal(failed[0]!['code'], 'ENOSPC');
  assert.equal(failed[0]!['level'], 'error');
});

test('writes that fail for a while (a file-size limit, then the file truncated) resume by themselves, nothing after the failure lost', async (t) => {
  const prlimit = ['/usr/bin/prlimit', '/bin/prlimit'].find((p) => existsSync(p));
  if (prlimit === undefined) return t.skip('no prlimit here');
  const file = join(tempDir(t, 'wsgate-log-fsize-'), 'out.log');
  // A child: RLIMIT_FSIZE applies to the whole process. Node ignores SIGXFSZ, so a write past it fails with EFBIG.
  const child = `
    import { truncateSync } from 'node:fs';
    import pino from 'pino';
    import { LogQueue } from ${src('log/queue.ts')};
    const reports = [];
    const queue = new LogQueue({
      out: pino.destination({ dest: ${JSON.stringify(file)}, sync: false, contentMode: 'buffer' }),
      name: 'f', maxBytes: 1 << 20, bufferMode: true, onWriteFailure: (f) => reports.push(f),
    });
    const wait = async (n) => { for (let i = 0; i < 500 && reports.length < n; i++) await new Promise((r) => setTimeout(r, 10)); };
    for (let i = 0; i < 60; i++) queue.write('line ' + String(i).padStart(2, '0') + ' ' + 'x'.repeat(90) + '\\n');
    await wait(1);
    truncateSync(${JSON.stringify(file)}, 0);
    // No new line: the retry timer writes what waits.
    await wait(2);
    await queue.close();
    process.stdout.write(JSON.stringify(reports));
  `;
  const run = spawnSync(prlimit, ['--fsize=4096', process.execPath, '--input-type=module', '-e', child], {
    encoding: 'utf8',
    timeout: 20_000,
    cwd: join(import.meta.dirname, '..', '..', '..'),
  });
  assert.equal(run.status, 0, run.stderr);
  const reports = JSON.parse(run.stdout) as WriteFailure[];
  assert.deepEqual(
    reports.map((r) => [r.code, r.recovered]),
    [
      ['EFBIG', false],
      ['EFBIG', true],
    ],
  );
  assert.ok((reports[1]!.ms ?? -1) >= 0);
  const written = readFileSync(file, 'utf8');
  assert.ok(written.length > 0 && written.length <= 4096, `${written.length} bytes after the truncation`);
  // What was written after the truncation is the rest of the stream, in order, to the last line.
  assert.ok(written.endsWith(`line 59 ${'x'.repeat(90)}\n`), written.slice(-120));
  const numbers = [...written.matchAll(/line (\d\d) /g)].map((m) => Number(m[1]));
  for (let i = 1; i < numbers.length; i++) assert.equal(numbers[i], numbers[i - 1]! + 1);
});

test('a process that exits while its log fails ends (sonic-boom alone would retry its exit flush for ever)', {
  skip,
}, () => {
  const child = `
    import { createLogger } from ${src('log/logger.ts')};
    const log = createLogger({ level: 'info', format: 'json', file: '/dev/full' });
    for (let i = 0; i < 20; i++) log.info({ i }, 'line');
    setTimeout(() => process.exit(3), 300);
  `;
  const started = Date.now();
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', child], {
    encoding: 'utf8',
    timeout: 15_000,
  });
  assert.equal(run.signal, null, `killed by the test's timeout after ${Date.now() - started} ms: it hung`);
  assert.equal(run.status, 3);
  assert.match(run.stderr, /wsgate: log \/dev\/full: writes fail \(ENOSPC/);
  assert.equal(run.stderr.match(/writes fail/g)?.length, 1, 'reported once');
});

test('a file that cannot be opened: createFileLogger refuses it up front (WSG_LOG_FILE) and names it', (t) => {
  const dir = tempDir(t, 'wsgate-log-refused-');
  writeFileSync(join(dir, 'plain'), '');
  const main = createLogger({ level: 'info', format: 'json', stream: new PassThrough() });
  const bad = join(dir, 'plain', 'traffic.log');
  assert.throws(
    () => createFileLogger(main, bad, { base: null, timestamp: false }),
    (err: Error & { code?: string }) => err.code === 'WSG_LOG_FILE' && err.message.includes(bad),
  );
});

test('a file that stops being openable after the check: reported, batches dropped, close() and the exit end', async (t) => {
  const dir = tempDir(t, 'wsgate-log-noopen-');
  // A directory under a regular file: the open (its mkdir) fails with ENOTDIR, as a directory removed or made
  // unwritable between wsgate's check and the asynchronous open would.
  writeFileSync(join(dir, 'plain'), '');
  const bad = join(dir, 'plain', 'sub', 'traffic.log');
  const failures: WriteFailure[] = [];
  const queue = new LogQueue({
    out: pino.destination({ dest: bad, mkdir: true, sync: false, contentMode: 'buffer' }),
    name: bad,
    maxBytes: 1 << 20,
    bufferMode: true,
    onWriteFailure: (f) => failures.push(f),
  });
  queue.write('{"line":1}\n');
  await until(() => queue.failing, 5000, 'the open to fail');
  // Later batches have nowhere to go: sonic-boom would throw on a write to fd -1.
  for (let i = 0; i < 20; i++) queue.write(`{"line":${i}}\n`);
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(
    failures.map((f) => [f.destination, f.code, f.recovered]),
    [[bad, 'ENOTDIR', false]],
  );
  assert.equal(queue.reopen(), false, 'nothing open to reopen');
  const closing = Date.now();
  await queue.close();
  assert.ok(Date.now() - closing < 2000, `close() took ${Date.now() - closing} ms`);

  // The same in a process that exits without closing it: pino's exit flush must not throw for a file never opened.
  const child = `
    import pino from 'pino';
    import { LogQueue } from ${src('log/queue.ts')};
    const queue = new LogQueue({
      out: pino.destination({ dest: ${JSON.stringify(bad)}, mkdir: true, sync: false, contentMode: 'buffer' }),
      name: 'f', maxBytes: 1 << 20, bufferMode: true,
    });
    queue.write('{"line":1}\\n');
    setTimeout(() => { queue.write('{"line":2}\\n'); }, 100);
    setTimeout(() => process.exit(0), 300);
  `;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', child], {
    encoding: 'utf8',
    timeout: 15_000,
    cwd: join(import.meta.dirname, '..', '..', '..'),
  });
  assert.equal(run.status, 0, run.stderr);
  assert.doesNotMatch(run.stderr, /not ready|Error/);
});
