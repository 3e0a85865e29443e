// A reload rotates the admin token (a leaked one stops working at once); the admin API's and the echo server's
// addresses change only with a restart, which the reload says and GET /api/config shows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configFromObject } from '../../../src/config/load.ts';
import { closedPort } from '../../helpers/servers.ts';
import { startTestWsgate } from '../../helpers/wsgate.ts';
import { call, startEchoUpstream } from './helpers.ts';

test('a reload applies inspector.token; inspector.bind and echo.bind wait for a restart, and /api/config says so', async (t) => {
  const echo = await startEchoUpstream(t);
  const base = (token: string, adminPort: number, echoPort: number) => ({
    listeners: [{ name: 'test', bind: '127.0.0.1:0', routes: [{ name: 'echo', upstream: echo.url }] }],
    shutdown: { grace: '200ms' },
    inspector: { bind: `127.0.0.1:${adminPort}`, token },
    echo: { bind: `127.0.0.1:${echoPort}` },
    log: { showSecrets: true },
  });
  const gw = await startTestWsgate(t, base('leaked', 0, 0));
  const admin = gw.running.inspector!.admin.address.port;
  const echoUrl = gw.running.echo!.url;
  const asked = (token: string) => ({ headers: { 'x-wsgate-token': token } });
  assert.equal((await call(admin, 'GET', '/api/connections', asked('leaked'))).status, 200);

  const elsewhere = await closedPort();
  await gw.running.reload(configFromObject(base('rotated', elsewhere, elsewhere + 1)));
  await gw.logs.waitFor('config.reloaded');
  assert.equal((await call(admin, 'GET', '/api/connections', asked('leaked'))).status, 401);
  assert.equal((await call(admin, 'GET', '/api/connections', asked('rotated'))).status, 200);

  assert.equal(gw.logs.events('inspector.unchanged').length, 1);
  assert.equal(gw.logs.events('echo.unchanged').length, 1);
  const shown = (await call(admin, 'GET', '/api/config', asked('rotated'))).json.config;
  assert.equal(shown.inspector.bind.port, 0, 'the address the admin API was started from');
  assert.equal(shown.inspector.token, 'rotated');
  assert.equal(shown.echo.bind.port, 0);
  assert.equal(gw.running.echo!.url, echoUrl);

  // Only the token changing: no warning.
  await gw.running.reload(configFromObject(base('again', 0, 0)));
  await gw.logs.waitFor('config.reloaded');
  assert.equal(gw.logs.events('inspector.unchanged').length, 1);
  assert.equal(gw.logs.events('echo.unchanged').length, 1);
  assert.equal((await call(admin, 'GET', '/api/connections', asked('again'))).status, 200);
});
