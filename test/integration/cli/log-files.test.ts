// wsgate run and its log files as operators handle them: logrotate moves log.file and log.traffic away and sends
// SIGUSR1, after which lines go to new files at the old names (one process, and --workers 2 where every worker
// writes the files too); and a disk that is full: wsgate keeps proxying, says so once on stderr, and still stops.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import WebSocket from 'ws';
import { startEchoServer } from '../../../src/echo/server.ts';
import { type RunningCli, startCli, writeOneRouteConfig } from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/tls.ts';
import { echoSender } from '../../helpers/ws-client.ts';

async function echoUpstream(t: TestContext): Promise<number> {
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  return echo.address.port;
}

function writeConfig(dir: string, upstreamPort: number, log: string[]): string {
  return writeOneRouteConfig(dir, `ws://127.0.0.1:${upstreamPort}`, [
    'tap: { level: payload }',
    'log:',
    ...log.map((l) => `  ${l}`),
    'shutdown: { grace: 300ms }',
  ]);
}

/** Sends one text message and waits for its echo. */
async function echoOnce(url: string, text: string): Promise<void> {
  const ws = new WebSocket(url);
  await once(ws, 'open');
  ws.send(text);
  const [data] = (await once(ws, 'message')) as [Buffer];
  assert.equal(data.toString(), text);
  ws.close(1000);
  await once(ws, 'close');
}

const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function started(cli: RunningCli): Promise<string> {
  const [, port] = await cli.waitForOutput(/web listening on 127\.0\.0\.1:(\d+)/);
  return `ws://127.0.0.1:${port}/`;
}

test('SIGUSR1 after logrotate moved the files: later lines go to new files at the old names, none lost', async (t) => {
  const dir = tempDir(t, 'wsgate-logrotate-');
  const main = join(dir, 'wsgate.log');
  const traffic = join(dir, 'traffic.log');
  const config = writeConfig(dir, await echoUpstream(t), [`file: ${main}`, `traffic: ${traffic}`]);
  const cli = startCli(['run', '-c', config]);
  t.after(() => cli.child.kill('SIGKILL'));
  const url = await started(cli);

  await echoOnce(url, 'before rotation');
  await until(() => read(traffic).includes('before rotation'), 'the first message in the traffic file');
  renameSync(main, `${main}.1`);
  renameSync(traffic, `${traffic}.1`);
  cli.child.kill('SIGUSR1');
  await until(() => read(main).includes('"event":"log.reopened"'), 'the reopened line in the new main log');
  await echoOnce(url, 'after rotation');
  await until(() => read(traffic).includes('after rotation'), 'the second message in the new traffic file');
  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exited, { code: 0, signal: null });

  const reopened = read(main)
    .split('\n')
    .filter((l) => l.includes('"event":"log.reopened"'))
    .map((l) => JSON.parse(l) as { files: string[] });
  assert.deepEqual(
    reopened.map((r) => [...r.files].sort()),
    [[traffic, main].sort()],
  );
  assert.ok(read(`${traffic}.1`).includes('before rotation'));
  assert.ok(!read(`${traffic}.1`).includes('after rotation'), 'nothing after the signal in the moved file');
  assert.ok(!read(traffic).includes('before rotation'));
  assert.match(read(`${main}.1`), /"event":"listener.start"/);
  assert.match(read(main), /"event":"shutdown/);
  // SIGUSR1's default in Node is to start its debugger: wsgate's listener must have kept it from doing so.
  assert.doesNotMatch(cli.stderr(), /Debugger listening/);
});

test('with --workers 2 the primary passes SIGUSR1 on: every process reopens the file', async (t) => {
  const dir = tempDir(t, 'wsgate-logrotate-workers-');
  const main = join(dir, 'wsgate.log');
  const config = writeConfig(dir, await echoUpstream(t), [`file: ${main}`]);
  const cli = startCli(['run', '-c', config, '--workers', '2']);
  t.after(() => cli.child.kill('SIGKILL'));
  await cli.waitForOutput(/2 workers \(pids/);
  const url = await started(cli);
  await echoOnce(url, 'before');
  renameSync(main, `${main}.1`);
  cli.child.kill('SIGUSR1');
  const reopenedBy = () =>
    read(main)
      .split('\n')
      .filter((l) => l.includes('"event":"log.reopened"'))
      .map((l) => (JSON.parse(l) as { worker?: number }).worker ?? 0)
      .sort();
  await until(() => reopenedBy().length === 3, 'three reopened lines (the primary, workers 1 and 2)');
  assert.deepEqual(reopenedBy(), [0, 1, 2]);
  await echoOnce(url, 'after');
  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exited, { code: 0, signal: null });
  assert.doesNotMatch(cli.stderr(), /Debugger listening/);
});

test('log files on a full disk: WebSockets are proxied, stderr says so once, SIGTERM still ends with 0', async (t) => {
  if (!existsSync('/dev/full')) return t.skip('no /dev/full here');
  const dir = tempDir(t, 'wsgate-log-full-');
  const config = writeConfig(dir, await echoUpstream(t), ['file: /dev/full', 'traffic: /dev/full']);
  const cli = startCli(['run', '-c', config]);
  t.after(() => cli.child.kill('SIGKILL'));
  const url = await started(cli);
  for (let i = 0; i < 5; i++) await echoOnce(url, `message ${i}`);
  await cli.waitForOutput(/writes fail \(ENOSPC/);
  await echoOnce(url, 'after the failure');
  const stopping = Date.now();
  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exited, { code: 0, signal: null });
  assert.ok(Date.now() - stopping < 5000, `stopped in ${Date.now() - stopping} ms`);
  assert.equal(cli.stderr().match(/wsgate: log \/dev\/full: writes fail/g)?.length, 1, cli.stderr());
});

const linesOf = (file: string, event: string) =>
  read(file)
    .split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test('a reload applies log.level, log.file and log.traffic at once, to open WebSockets too (nginx applies error_log)', async (t) => {
  const dir = tempDir(t, 'wsgate-log-reload-');
  const [a, b, traffic, traffic2] = ['a.log', 'b.log', 'traffic.log', 'traffic2.log'].map((name) =>
    join(dir, name),
  ) as [string, string, string, string];
  const upstream = await echoUpstream(t);
  const config = writeConfig(dir, upstream, ['level: warn', `file: ${a}`]);
  const cli = startCli(['run', '-c', config]);
  t.after(() => cli.child.kill('SIGKILL'));
  const send = await echoSender(t, await started(cli));
  await send('at warn');

  writeConfig(dir, upstream, ['level: info', `file: ${b}`]);
  cli.child.kill('SIGHUP');
  await until(() => linesOf(b, 'log.changed').length === 1, 'log.changed in the new main log');
  assert.deepEqual(linesOf(b, 'log.changed')[0]?.['keys'], ['log.level', 'log.file']);
  // The connection opened before the reload writes its lines at the new level, into the new file.
  await send('at info');
  await until(() => read(b).includes('at info'), "the open connection's message in the new main log");

  writeConfig(dir, upstream, ['level: info', `file: ${b}`, `traffic: ${traffic}`]);
  cli.child.kill('SIGHUP');
  await until(() => linesOf(b, 'config.reloaded').length === 2, 'the second reload');
  await send('to the traffic file');
  await until(() => read(traffic).includes('to the traffic file'), "the open connection's message in log.traffic");
  // From one traffic file to another: the open connection's lines went into the closed file once.
  writeConfig(dir, upstream, ['level: info', `file: ${b}`, `traffic: ${traffic2}`]);
  cli.child.kill('SIGHUP');
  await until(() => linesOf(b, 'config.reloaded').length === 3, 'the third reload');
  await send('to the second traffic file');
  await until(() => read(traffic2).includes('to the second traffic file'), 'the message in the second traffic file');

  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exited, { code: 0, signal: null }, cli.stderr());
  assert.doesNotMatch(read(a), /at warn|at info|"event":"ws\.|"event":"config\.reloaded"/, 'nothing at info in a');
  assert.doesNotMatch(read(b), /to the traffic file/);
  assert.doesNotMatch(read(traffic), /to the second traffic file/);
  assert.equal(linesOf(traffic2, 'ws.close').length, 1, 'the close line of the connection opened before the reloads');
});

test('a reload naming a log.file or log.traffic wsgate cannot write keeps both where they were; the rest applies', async (t) => {
  const dir = tempDir(t, 'wsgate-log-reload-bad-');
  const [main, traffic] = ['wsgate.log', 'traffic.log'].map((name) => join(dir, name)) as [string, string];
  writeFileSync(join(dir, 'plain'), '');
  const upstream = await echoUpstream(t);
  const config = writeConfig(dir, upstream, ['level: info', `file: ${main}`, `traffic: ${traffic}`]);
  const cli = startCli(['run', '-c', config]);
  t.after(() => cli.child.kill('SIGKILL'));
  const url = await started(cli);
  const bad = join(dir, 'plain', 'x.log');
  writeConfig(dir, upstream, ['level: warn', `file: ${bad}`, `traffic: ${bad}`]);
  cli.child.kill('SIGHUP');
  await until(() => linesOf(main, 'log.traffic_unchanged').length === 1, 'log.traffic_unchanged in the main log');
  const [file] = linesOf(main, 'log.file_unchanged');
  assert.equal(file?.['code'], 'WSG_LOG_FILE');
  assert.match(String(file?.['msg']), new RegExp(`${bad}.*the log still goes to ${main}`));
  assert.match(String(linesOf(main, 'log.traffic_unchanged')[0]?.['msg']), /traffic lines still go to .*traffic\.log/);
  // log.level applied: no config.reloaded (info) line after the change, and no warn line for log.changed either.
  assert.equal(linesOf(main, 'config.reloaded').length, 0);
  await echoOnce(url, 'still logged');
  await until(() => read(traffic).includes('still logged'), 'traffic lines in the old traffic file');
  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exited, { code: 0, signal: null }, cli.stderr());
});

test('with --workers 2 an edited log.file moves the primary and both workers to the new file', async (t) => {
  const dir = tempDir(t, 'wsgate-log-reload-workers-');
  const [a, b] = ['a.log', 'b.log'].map((name) => join(dir, name)) as [string, string];
  const upstream = await echoUpstream(t);
  const config = writeConfig(dir, upstream, [`file: ${a}`]);
  const cli = startCli(['run', '-c', config, '--workers', '2']);
  t.after(() => cli.child.kill('SIGKILL'));
  await cli.waitForOutput(/2 workers \(pids/);
  const url = await started(cli);
  // An edit (not SIGHUP, which replaces the workers) reloads each worker in place.
  writeConfig(dir, upstream, [`file: ${b}`]);
  const changedBy = () => linesOf(b, 'log.changed').map((l) => (l['worker'] as number | undefined) ?? 0);
  await until(() => changedBy().length === 3, 'log.changed from the primary and workers 1 and 2');
  assert.deepEqual(changedBy().sort(), [0, 1, 2]);
  await echoOnce(url, 'after the edit');
  await until(() => read(b).includes('after the edit'), 'the message in the new file');
  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exited, { code: 0, signal: null }, cli.stderr());
  assert.doesNotMatch(read(a), /after the edit/);
});

test('a log file wsgate cannot write stops the start, and wsgate check, with exit 2, naming the file', async (t) => {
  const dir = tempDir(t, 'wsgate-log-unwritable-');
  writeFileSync(join(dir, 'plain'), '');
  for (const command of ['run', 'check']) {
    for (const key of ['file', 'traffic']) {
      const bad = join(dir, 'plain', `${key}.log`);
      const config = writeConfig(dir, 9, [`${key}: ${bad}`]);
      const cli = startCli([command, '-c', config]);
      t.after(() => cli.child.kill('SIGKILL'));
      assert.deepEqual(await cli.exited, { code: 2, signal: null }, cli.stderr());
      assert.ok(cli.stderr().startsWith(`wsgate: cannot write the log file ${bad}: `), cli.stderr());
      assert.match(cli.stderr(), /hint: Point log\.file \/ log\.traffic at a directory/);
      assert.doesNotMatch(cli.stderr() + cli.stdout(), /listening on|listeners:/);
    }
  }
  // One `run` could create passes check, which creates nothing: neither the file nor its directories.
  const good = join(dir, 'logs', 'nested', 'wsgate.log');
  const cli = startCli(['check', '-q', '-c', writeConfig(dir, 9, [`file: ${good}`, `traffic: ${good}.traffic`])]);
  assert.deepEqual(await cli.exited, { code: 0, signal: null }, cli.stderr());
  assert.equal(existsSync(join(dir, 'logs')), false);
  // A directory where the file should be is refused, without touching it.
  const folder = join(dir, 'logs-dir');
  mkdirSync(folder);
  const onDir = startCli(['check', '-q', '-c', writeConfig(dir, 9, [`file: ${folder}`])]);
  assert.deepEqual(await onDir.exited, { code: 2, signal: null }, onDir.stderr());
  assert.ok(
    onDir.stderr().startsWith(`wsgate: cannot write the log file ${folder}: it is a directory`),
    onDir.stderr(),
  );
});
