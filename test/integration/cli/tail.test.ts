// `wsgate tail` as a user runs it: on a file, following a growing file, and on standard input.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { tailCommand } from '../../../src/cli/tail.ts';
import { WsgateError } from '../../../src/errors.ts';
import { CLI, runCli, startCli } from '../../helpers/cli.ts';

const time = '2026-11-26T12:00:01.020Z';
const lines = [
  {
    event: 'ws.open',
    conn: 'w1',
    time,
    path: '/echo',
    upstream: 'ws://127.0.0.1:9998',
    route: 'web/echo',
    tap: 'payload',
  },
  { event: 'ws.message', conn: 'w1', time, dir: 'toUpstream', kind: 'text', size: 5, fragments: 1, preview: 'hello' },
  { event: 'ws.message', conn: 'w2', time, dir: 'toClient', kind: 'text', size: 5, fragments: 1, preview: 'other' },
  { event: 'http.access', time, msg: 'GET / 200' },
].map((l) => JSON.stringify(l));

test('tail renders a traffic file, filtered by connection', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-tail-'));
  const file = join(dir, 'traffic.jsonl');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const all = await runCli(['tail', file, '--no-color']);
  assert.equal(all.code, 0, all.stderr);
  assert.deepEqual(all.stdout.trim().split('\n'), [
    '12:00:01.020 w1 ● open /echo → ws://127.0.0.1:9998 [web/echo, tap payload]',
    '12:00:01.020 w1 → text         5 B "hello"',
    '12:00:01.020 w2 ← text         5 B "other"',
  ]);
  const one = await runCli(['tail', file, '--no-color', '--conn', 'w2']);
  assert.deepEqual(one.stdout.trim().split('\n'), ['12:00:01.020 w2 ← text         5 B "other"']);
  const missing = await runCli(['tail', join(dir, 'nope.jsonl')]);
  assert.equal(missing.code, 2);
  // In words, as a missing config file is: not Node's ENOENT.
  assert.match(missing.stderr, /^wsgate: tail: cannot read .*nope\.jsonl: no such file$/m);
  assert.doesNotMatch(missing.stderr, /ENOENT/);
});

test('tail on a directory, with or without -f: a usage error naming the newest file in it, exit 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-tail-dir-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const empty = await runCli(['tail', dir], { timeoutMs: 10_000 });
  assert.equal(empty.code, 2, empty.stderr);
  assert.match(empty.stderr, /^wsgate: tail: .* is a directory; give a log file in it\n/);
  writeFileSync(join(dir, 'old.jsonl'), `${lines[0]}\n`);
  writeFileSync(join(dir, 'traffic.jsonl'), `${lines[1]}\n`);
  utimesSync(join(dir, 'old.jsonl'), new Date(2020, 0, 1), new Date(2020, 0, 1));
  for (const args of [[dir], [dir, '-f']]) {
    const run = await runCli(['tail', ...args], { timeoutMs: 10_000 });
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.signal ?? ''} ${run.stderr}`);
    assert.match(run.stderr, /is a directory; give a log file in it, e\.g\. wsgate tail .*traffic\.jsonl$/m);
    assert.doesNotMatch(run.stderr, /EISDIR|\n\s+at /);
  }
});

test('tail -f shows lines appended after it started, and stops on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-tailf-'));
  const file = join(dir, 'traffic.jsonl');
  writeFileSync(file, `${lines[0]}\n`);
  const cli = startCli(['tail', file, '-f', '--no-color']);
  t.after(() => cli.child.kill('SIGKILL'));
  await cli.waitForOutput(/● open/);
  appendFileSync(file, `${lines[1]}\n`);
  await cli.waitForOutput(/→ text .*"hello"/);
  cli.child.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0);
});

test("tail -f follows a rotated file as tail -F does: the old file's last lines, a gap with no file, the new file, a truncation", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-tailf-rotate-'));
  const file = join(dir, 'traffic.jsonl');
  const message = (preview: string) =>
    `${JSON.stringify({ event: 'ws.message', conn: 'w1', time, dir: 'toUpstream', kind: 'text', size: preview.length, fragments: 1, preview })}\n`;
  writeFileSync(file, message('first'));
  const cli = startCli(['tail', file, '-f', '--no-color']);
  t.after(() => cli.child.kill('SIGKILL'));
  await cli.waitForOutput(/"first"/);
  // logrotate moves the file; wsgate writes its last batch to the moved file before SIGUSR1 reopens the path.
  renameSync(file, `${file}.1`);
  appendFileSync(`${file}.1`, message('last-in-old'));
  // No file at the path for more than one poll.
  await new Promise((r) => setTimeout(r, 1200));
  writeFileSync(file, message('new-file'));
  await cli.waitForOutput(/"new-file"/);
  appendFileSync(file, message('grown'));
  await cli.waitForOutput(/"grown"/);
  // copytruncate: the same file, emptied and written again.
  writeFileSync(file, message('truncated'));
  await cli.waitForOutput(/"truncated"/);
  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exited, { code: 0, signal: null }, cli.stderr());
  const previews = [...cli.stdout().matchAll(/"([a-z-]+)"/g)].map((m) => m[1]);
  assert.deepEqual(previews, ['first', 'last-in-old', 'new-file', 'grown', 'truncated']);
});

test('tail reads standard input', async () => {
  const child = spawn(process.execPath, [CLI, 'tail', '--no-color', '--grep', 'other'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stdin.end(`${lines.join('\n')}\n`);
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  assert.equal(out.trim(), '12:00:01.020 w2 ← text         5 B "other"');
});

test('tail with no FILE at a terminal says where a log comes from instead of waiting for one typed in', async () => {
  const terminal = Object.assign(new PassThrough(), { isTTY: true });
  const io = { out: () => {}, err: () => {} };
  const waited = new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 2000).unref());
  const outcome = await Promise.race([tailCommand([], io, terminal).catch((err: unknown) => err), waited]);
  terminal.end();
  assert.ok(outcome instanceof WsgateError, String(outcome));
  assert.equal(outcome.code, 'WSG_USAGE');
  assert.match(
    outcome.message,
    /standard input is a terminal: give the traffic log .*wsgate run --log-format json \| wsgate tail/,
  );
  // A pipe (no TTY) is read as before.
  const piped = new PassThrough();
  const shown: string[] = [];
  const done = tailCommand(['--no-color'], { out: (t) => shown.push(t), err: () => {} }, piped);
  piped.end(`${lines[0]}\n`);
  assert.equal(await done, 0);
  assert.deepEqual(shown, ['12:00:01.020 w1 ● open /echo → ws://127.0.0.1:9998 [web/echo, tap payload]']);
});

test('tail on lines that are not JSON (a pretty log, the wrong file) says so once on stderr instead of showing nothing', async () => {
  const pretty = [
    '[12:00:01.020] INFO: WebSocket open /echo → ws://127.0.0.1:9998',
    '    event: "ws.open"',
    '    conn: "w1"',
  ];
  const run = async (input: string[]) => {
    const piped = new PassThrough();
    const out: string[] = [];
    const err: string[] = [];
    const done = tailCommand(['--no-color'], { out: (t) => out.push(t), err: (t) => err.push(t) }, piped);
    piped.end(`${input.join('\n')}\n`);
    return { code: await done, out, err };
  };
  const wrong = await run([...pretty, ...pretty, ...pretty, ...pretty]);
  assert.equal(wrong.code, 0);
  assert.deepEqual(wrong.out, []);
  assert.deepEqual(wrong.err, [
    'wsgate: tail: none of the first 10 lines is JSON; tail reads the traffic log (log.traffic) or the main log in JSON (--log-format json, or log.format: json: a log at a terminal is pretty, already for people)',
  ]);
  // Short input said at its end; one line of something else before the JSON (npm's banner) is no mistake.
  assert.match((await run(pretty)).err.join(), /^wsgate: tail: none of the first 3 lines is JSON; /);
  assert.match((await run(['hello'])).err.join(), /^wsgate: tail: its one line is not JSON; /);
  assert.deepEqual((await run([''])).err, []);
  const banner = await run(['> wsgate@0.1.0 start', '', lines[0]!]);
  assert.deepEqual(banner.err, []);
  assert.equal(banner.out.length, 1);
});
