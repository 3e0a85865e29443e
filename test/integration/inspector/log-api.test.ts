// GET and PUT /api/log: the running log's settings, and its level changed without a config edit (Envoy's /logging),
// for this process and, with --workers, for the primary and every worker. Traffic lines of an open WebSocket stop
// and start with it; a bad body answers 400 and changes nothing; a reload applies the file's level again.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startCli, writeOneRouteConfig } from '../../helpers/cli.ts';
import { echoSender } from '../../helpers/ws-client.ts';
import { call, eventually, startEchoUpstream, startWorkersWithAdmin } from './helpers.ts';

const events = (text: string, event: string) =>
  text
    .split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test("PUT /api/log sets the level of the running log: an open WebSocket's traffic lines stop and start", async (t) => {
  const echo = await startEchoUpstream(t);
  const cli = startCli([
    'run',
    '--listen',
    '127.0.0.1:0',
    '--upstream',
    echo.url,
    '--admin',
    '127.0.0.1:0',
    '--tap',
    'payload',
  ]);
  t.after(() => cli.child.kill('SIGKILL'));
  const [, admin] = await cli.waitForOutput(/inspector on http:\/\/127\.0\.0\.1:(\d+)\//);
  const [, port] = await cli.waitForOutput(/cli listening on 127\.0\.0\.1:(\d+)/);
  const adminPort = Number(admin);

  const shown = await call(adminPort, 'GET', '/api/log');
  assert.equal(shown.status, 200);
  assert.deepEqual(shown.json.log, { level: 'info', format: 'auto' });

  const send = await echoSender(t, `ws://127.0.0.1:${port}/`);
  await send('one');
  const quiet = await call(adminPort, 'PUT', '/api/log', { body: { level: 'warn' } });
  assert.equal(quiet.status, 200);
  assert.equal(quiet.json.log.level, 'warn');
  await send('two');
  const loud = await call(adminPort, 'PUT', '/api/log', { body: { level: 'info' } });
  assert.equal(loud.json.log.level, 'info');
  await send('three');
  await eventually(
    async () => events(cli.stdout(), 'ws.message').map((e) => e['preview']),
    (previews) => previews.filter((p) => p === 'three').length === 2,
    'the third message both ways',
  );
  const previews = events(cli.stdout(), 'ws.message').map((e) => e['preview']);
  assert.deepEqual(previews, ['one', 'one', 'three', 'three'], 'nothing while at warn');
  // Said before the level that hides it took effect, and after the one that shows it.
  assert.deepEqual(
    events(cli.stdout(), 'log.changed').map((e) => [e['level'], e['by']]),
    [
      ['warn', 'admin'],
      ['info', 'admin'],
    ],
  );

  for (const body of [{ level: 'loud' }, { level: 'info', file: '/tmp/x' }, {}]) {
    const bad = await call(adminPort, 'PUT', '/api/log', { body });
    assert.equal(bad.status, 400, JSON.stringify(body));
    assert.equal(bad.json.error.code, 'WSG_ADMIN_BAD_REQUEST');
  }
  assert.equal((await call(adminPort, 'GET', '/api/log')).json.log.level, 'info');
});

test("--workers 2: PUT /api/log reaches the primary and both workers; a reload applies the file's level again", async (t) => {
  const upstream = await startEchoUpstream(t);
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-log-api-workers-'));
  const log = join(dir, 'wsgate.log');
  const config = (level: string, idle = '30s') =>
    writeOneRouteConfig(dir, upstream.url, [
      'inspector: { bind: 127.0.0.1:0 }',
      `log: { level: ${level}, file: ${log} }`,
      `limits: { idleTimeout: ${idle} }`,
    ]);
  const { cli, admin } = await startWorkersWithAdmin(t, config('info'), 40_000);
  const adminPort = Number(new URL(admin).port);
  const set = await call(adminPort, 'PUT', '/api/log', { body: { level: 'debug' } });
  assert.equal(set.status, 200);
  const by = () =>
    events(readFileSync(log, 'utf8'), 'log.changed')
      .filter((e) => e['by'] === 'admin')
      .map((e) => (e['worker'] as number | undefined) ?? 0)
      .sort();
  await eventually(
    async () => by(),
    (who) => who.length === 3,
    'log.changed by admin from the primary and workers 1 and 2',
  );
  assert.deepEqual(by(), [0, 1, 2]);
  // An edit reloads every process in place: the file's level (still info) applies again.
  config('info', '31s');
  await eventually(
    async () => events(readFileSync(log, 'utf8'), 'log.changed').filter((e) => e['by'] === undefined).length,
    (n) => n === 3,
    'log.changed from the reload in every process',
    10_000,
  );
  assert.equal((await call(adminPort, 'GET', '/api/log')).json.log.level, 'info');
  // The primary's /api/config shows what the workers run now, not what it started with.
  assert.equal((await call(adminPort, 'GET', '/api/config')).json.config.limits.idleTimeout, 31_000);
  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exitedWithin(), { code: 0, signal: null }, cli.stderr());
});
