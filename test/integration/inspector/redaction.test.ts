// The admin API and HAR export hide what the logs hide (log.showSecrets off): URL passwords, the values of
// log.redactQueryParams in paths, upstream URLs, header values and failure reasons, and token subprotocols; with
// log.showSecrets on, both show them.
// biome-ignore-all lint/suspicious/noExplicitAny: API answers are JSON that the assertions read field by field.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { closedPort } from '../../helpers/servers.ts';
import { openWs, refusedHandshake } from '../../helpers/ws-client.ts';
import { startTestWsgate } from '../../helpers/wsgate.ts';
import { call, eventually, startEchoUpstream } from './helpers.ts';

const K8S_TOKEN = 'eyJhbGciOiJSUzI1NiJ9Abc123XYZ456';
const SECRETS = ['UPSTREAM_PW', 'WS_TOKEN', 'REF_TOKEN', 'FAIL_TOKEN', K8S_TOKEN];

async function gatewayWithTraffic(t: TestContext, log: Record<string, unknown>) {
  const echo = await startEchoUpstream(t);
  const withPassword = echo.url.replace('ws://', 'ws://alice:UPSTREAM_PW@');
  const gate = await startTestWsgate(t, {
    listeners: [
      {
        name: 'test',
        bind: '127.0.0.1:0',
        routes: [
          { name: 'down', match: { pathPrefix: '/down' }, upstream: `ws://127.0.0.1:${await closedPort()}` },
          { name: 'echo', match: { pathPrefix: '/' }, upstream: withPassword, tap: 'payload' },
        ],
      },
    ],
    log,
    shutdown: { grace: '200ms' },
    inspector: { bind: '127.0.0.1:0' },
  });
  const admin = gate.running.inspector!.admin.address.port;
  const ws = await openWs(
    `${gate.ws}/socket?token=WS_TOKEN&keep=1`,
    { headers: { referer: 'https://app.test/page?access_token=REF_TOKEN' } },
    [`base64url.bearer.authorization.k8s.io.${K8S_TOKEN}`, 'base64.binary.k8s.io'],
  );
  t.after(() => ws.terminate());
  const refused = await refusedHandshake(`${gate.ws}/down?access_token=FAIL_TOKEN`);
  assert.equal(refused.status, 502);
  const list = await eventually(
    () => call(admin, 'GET', '/api/connections'),
    (a) => a.json.connections.length === 2,
    'both records',
  );
  const byRoute = (route: string) => list.json.connections.find((c: any) => c.route === route);
  return { admin, list, open: byRoute('echo'), failed: byRoute('down') };
}

test('connections, their detail and HAR have URL secrets and token subprotocols redacted as the logs have', async (t) => {
  const { admin, list, open, failed } = await gatewayWithTraffic(t, {});
  assert.equal(open.path, '/socket?token=[redacted]&keep=1');
  assert.equal(open.subprotocol, 'base64url.bearer.authorization.k8s.io.[redacted]');
  assert.equal(failed.path, '/down?access_token=[redacted]');
  const detail = await call(admin, 'GET', `/api/connections/${open.id}`);
  const header = (name: string) =>
    detail.json.connection.request.find(([n]: [string, string]) => n.toLowerCase() === name)?.[1];
  assert.equal(header('referer'), 'https://app.test/page?access_token=[redacted]');
  assert.equal(
    header('sec-websocket-protocol'),
    'base64url.bearer.authorization.k8s.io.[redacted],base64.binary.k8s.io',
  );
  const har = await call(admin, 'GET', `/api/connections/${open.id}/har`);
  const request = har.json.log.entries[0].request;
  assert.match(request.url, /^ws:\/\/127\.0\.0\.1:\d+\/socket\?token=\[redacted\]&keep=1$/);
  assert.deepEqual(request.queryString, [
    { name: 'token', value: '[redacted]' },
    { name: 'keep', value: '1' },
  ]);
  const all = await call(admin, 'GET', '/api/har');
  for (const [what, body] of [
    ['the list', list.body],
    ['the detail', detail.body],
    ['the failed detail', (await call(admin, 'GET', `/api/connections/${failed.id}`)).body],
    ['the HAR', har.body],
    ['the whole HAR', all.body],
  ]) {
    for (const secret of SECRETS) assert.ok(!body!.includes(secret), `${what} shows ${secret}: ${body}`);
  }
});

test('with log.showSecrets the admin API and HAR show them, as the logs do', async (t) => {
  const { admin, open, failed } = await gatewayWithTraffic(t, { showSecrets: true });
  assert.equal(open.path, '/socket?token=WS_TOKEN&keep=1');
  assert.equal(failed.path, '/down?access_token=FAIL_TOKEN');
  const har = await call(admin, 'GET', `/api/connections/${open.id}/har`);
  assert.deepEqual(har.json.log.entries[0].request.queryString[0], { name: 'token', value: 'WS_TOKEN' });
});
