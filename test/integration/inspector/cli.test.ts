// `wsgate run --admin HOST:PORT` without a config: the admin API answers beside a one-route proxy, a non-loopback
// --admin is refused at start, and POST /api/reload re-reads the config file (a bad file answers 400 and the
// running config stays).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, startCli } from '../../helpers/cli.ts';
import { call, startEchoUpstream } from './helpers.ts';

test('run --admin serves the API without a config; a non-loopback --admin is a usage error', async (t) => {
  const echo = await startEchoUpstream(t);
  const cli = startCli(['run', '--listen', '127.0.0.1:0', '--upstream', echo.url, '--admin', '127.0.0.1:0']);
  t.after(() => cli.child.kill('SIGKILL'));
  const [, port] = await cli.waitForOutput(/http:\/\/127\.0\.0\.1:(\d+)\//, 15_000);
  const list = await call(Number(port), 'GET', '/api/connections');
  assert.equal(list.status, 200);
  assert.deepEqual(list.json.connections, []);
  const reload = await call(Number(port), 'POST', '/api/reload', { body: {} });
  assert.equal(reload.status, 409);

  const refused = await runCli(['run', '--listen', '127.0.0.1:0', '--upstream', echo.url, '--admin', '0.0.0.0:0']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--admin 0\.0\.0\.0:0 is beyond loopback/);
});

test('POST /api/reload re-reads the file; an invalid file answers 400 and keeps the running config', async (t) => {
  const echo = await startEchoUpstream(t);
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-admin-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'wsgate.yaml');
  const config = (route: string) =>
    `listeners:\n  - name: web\n    bind: 127.0.0.1:0\n    routes:\n      - name: ${route}\n        upstream: ${echo.url}\ninspector:\n  bind: 127.0.0.1:0\nshutdown:\n  grace: 200ms\n`;
  writeFileSync(file, config('first'));
  const cli = startCli(['run', '-c', file, '--log-format', 'json']);
  t.after(() => cli.child.kill('SIGKILL'));
  const [, port] = await cli.waitForOutput(/http:\/\/127\.0\.0\.1:(\d+)\//, 15_000);
  const admin = Number(port);
  const shown = await call(admin, 'GET', '/api/config');
  assert.equal(shown.json.config.listeners[0].routes[0].name, 'first');

  writeFileSync(file, 'listeners: [oops\n');
  const bad = await call(admin, 'POST', '/api/reload', { body: {} });
  assert.equal(bad.status, 400, bad.body);
  assert.match(bad.json.error.message, /config reload failed/);
  assert.equal((await call(admin, 'GET', '/api/config')).json.config.listeners[0].routes[0].name, 'first');

  writeFileSync(file, config('second'));
  const good = await call(admin, 'POST', '/api/reload', { body: {} });
  assert.equal(good.status, 200, good.body);
  assert.equal((await call(admin, 'GET', '/api/config')).json.config.listeners[0].routes[0].name, 'second');
});
