// /healthz and /readyz over real HTTP: both 200 while wsgate runs; /readyz 503 with the reason while it drains
// (a WebSocket whose upstream never answers wsgate's Close 1001 keeps the drain going for the grace period);
// both answer without a token when one is configured, and a foreign Host is refused.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { AdminServer } from '../../../src/inspector/admin-server.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { RawWsClient, startRawUpstream } from '../../helpers/raw-ws.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';
import { scrape, startAdminFor } from './support.ts';

test('/healthz and /readyz are 200 while running; /readyz is 503 while draining and says why', async (t) => {
  const upstream = await startRawUpstream(t, { autoClose: false });
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: upstream.url }], { inspector: { bind: '127.0.0.1:0' }, shutdown: { grace: '1500ms' } }),
  );
  const admin = await startAdminFor(t, gw.running);

  const health = await fetch(`${admin}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(((await health.json()) as { status: string }).status, 'ok');
  const ready = await fetch(`${admin}/readyz`);
  assert.equal(ready.status, 200);
  const readyBody = (await ready.json()) as { ready: boolean; listeners: { name: string; bound: boolean }[] };
  assert.equal(readyBody.ready, true);
  assert.deepEqual(readyBody.listeners, [{ name: 'test', bound: true }]);

  // A connection the upstream will not close: shutdown waits on it.
  await RawWsClient.connect(t, gw.port, { path: '/held', autoClose: false });
  await upstream.connection('/held');
  const stopped = gw.running.shutdown();
  const draining = await fetch(`${admin}/readyz`);
  assert.equal(draining.status, 503);
  const body = (await draining.json()) as { ready: boolean; draining: boolean; reasons: string[] };
  assert.equal(body.ready, false);
  assert.equal(body.draining, true);
  assert.match(body.reasons.join('\n'), /draining/);
  // Alive all the same: the process answers.
  assert.equal((await fetch(`${admin}/healthz`)).status, 200);
  await stopped;
});

test('health checks need no token where /metrics does, and a foreign Host is refused', async (t) => {
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'ws://127.0.0.1:9' }], { inspector: { bind: '127.0.0.1:0' } }),
  );
  const admin = new AdminServer({
    bind: { host: '127.0.0.1', port: 0 },
    token: 'sekret',
    handlers: gw.running.healthAndMetricsHandlers(),
    log: createLogger({ level: 'silent', format: 'json' }),
  });
  await admin.listen();
  t.after(() => admin.close());
  assert.equal((await fetch(`${admin.url}/healthz`)).status, 200);
  assert.equal((await fetch(`${admin.url}/readyz`)).status, 200);
  const noToken = await fetch(`${admin.url}/metrics`);
  assert.equal(noToken.status, 401);
  assert.equal(((await noToken.json()) as { error: { code: string } }).error.code, 'WSG_ADMIN_TOKEN');
  const scraped = await scrape(admin.url, { authorization: 'Bearer sekret' });
  assert.ok(scraped.families.has('wsgate_ws_connections_total'));
  // fetch sets Host itself; node:http sends the one given (what a DNS-rebinding page's request carries).
  const foreign = await new Promise<number>((resolve, reject) => {
    const req = http.get(`${admin.url}/healthz`, { headers: { host: 'evil.example' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
  assert.equal(foreign, 403);
});
