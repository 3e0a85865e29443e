// An upstream with several servers (upstreams[].servers): WebSockets spread by open connections, HTTP requests in
// turn; a server that stops is skipped (an upgrade or a request moves on to the next server at once: retries of
// plain requests are in http-retry.test.ts), each failure logged once with the server and counted in the metrics;
// with every server down, 502.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import WebSocket from 'ws';
import { startBlackHole } from '../../helpers/black-hole.ts';
import { namedServer, whoAnswers } from '../../helpers/named-server.ts';
import { parsePrometheusText, sampleValue } from '../../helpers/prom-text.ts';
import { refusedHandshake } from '../../helpers/ws-client.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

test('WebSockets spread over the servers by open connections; HTTP requests take them in turn', async (t) => {
  const [a, b] = [await namedServer(t, 'A'), await namedServer(t, 'B')];
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app', tap: 'meta' }], { upstreams: [{ name: 'app', servers: [a.url, b.url] }] }),
  );
  const answers: string[] = [];
  for (let i = 0; i < 4; i++) answers.push(await whoAnswers(t, `${gw.ws}/`));
  assert.deepEqual(answers.toSorted(), ['A', 'A', 'B', 'B']);
  const servers = gw.logs.events('ws.open').map((e) => e['server']);
  assert.deepEqual(servers.toSorted(), [a.url, a.url, b.url, b.url].toSorted());
  const bodies = [];
  for (let i = 0; i < 4; i++) bodies.push((await get(`${gw.http}/`)).body);
  assert.deepEqual(bodies.toSorted(), ['A', 'A', 'B', 'B']);
});

test('a stopped server is skipped: upgrades move on at once, requests after the first failure go elsewhere', async (t) => {
  const [a, b] = [await namedServer(t, 'A'), await namedServer(t, 'B')];
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app', tap: 'meta' }], {
      upstreams: [{ name: 'app', servers: [a.url, b.url], balance: 'round-robin', failTimeout: '30s' }],
      inspector: { bind: '127.0.0.1:0' },
    }),
  );
  await b.close();
  const answers: string[] = [];
  for (let i = 0; i < 4; i++) answers.push(await whoAnswers(t, `${gw.ws}/`));
  assert.deepEqual(answers, ['A', 'A', 'A', 'A'], 'every upgrade succeeds on A');
  const failed = gw.logs.events('upstream.server_failed');
  assert.equal(failed.length, 1, 'B failed once, then was skipped');
  assert.deepEqual(
    { server: failed[0]!['server'], code: failed[0]!['code'], next: failed[0]!['next'], level: failed[0]!['level'] },
    { server: b.url, code: 'WSG_UPSTREAM_REFUSED', next: true, level: 'warn' },
  );
  for (let i = 0; i < 4; i++) assert.deepEqual(await get(`${gw.http}/`), { status: 200, body: 'A' });
  // The metrics say the same: A holds the four WebSockets, B failed once and is skipped.
  const metrics = parsePrometheusText((await get(`${gw.running.inspector!.admin.url}/metrics`)).body);
  const of = (server: string) => ({ upstream: 'app', server });
  assert.equal(sampleValue(metrics, 'wsgate_upstream_server_connections', of(a.url)), 4);
  assert.equal(sampleValue(metrics, 'wsgate_upstream_server_connections', of(b.url)), 0);
  assert.equal(sampleValue(metrics, 'wsgate_upstream_server_failures_total', of(b.url)), 1);
  assert.equal(sampleValue(metrics, 'wsgate_upstream_server_failures_total', of(a.url)), 0);
  assert.equal(sampleValue(metrics, 'wsgate_upstream_server_skipped', of(b.url)), 1);
  assert.equal(sampleValue(metrics, 'wsgate_upstream_server_skipped', of(a.url)), 0);

  await a.close();
  const refused = await refusedHandshake(`${gw.ws}/`);
  assert.equal(refused.status, 502);
  assert.equal((await get(`${gw.http}/`)).status, 502);
});

test('ip-hash keeps a client on one server for its WebSockets and requests (behind a trusted proxy: its X-Forwarded-For)', async (t) => {
  const [a, b] = [await namedServer(t, 'A'), await namedServer(t, 'B')];
  const config = reverseConfig([{ upstream: 'app', tap: 'meta' }], {
    upstreams: [{ name: 'app', servers: [a.url, b.url], balance: 'ip-hash' }],
  });
  (config['listeners'] as Record<string, unknown>[])[0]!['trustForwarded'] = ['127.0.0.1/32'];
  const gw = await startTestWsgate(t, config);
  const serverOf = async (client: string) => {
    const headers = { 'x-forwarded-for': client };
    const ws = new WebSocket(`${gw.ws}/`, { headers });
    t.after(() => ws.terminate());
    await once(ws, 'open');
    ws.send('who');
    const [data] = (await once(ws, 'message')) as [Buffer];
    const bodies = new Set<string>();
    for (let i = 0; i < 3; i++) bodies.add(await (await fetch(`${gw.http}/`, { headers })).text());
    assert.deepEqual([...bodies], [data.toString()], `client ${client}: its requests go where its WebSocket went`);
    return data.toString();
  };
  const seen = new Map<string, string>();
  for (let i = 1; i <= 12; i++) seen.set(`198.51.100.${i}`, await serverOf(`198.51.100.${i}`));
  assert.deepEqual(new Set(seen.values()), new Set(['A', 'B']), 'clients spread over both servers');
  for (const [client, server] of [...seen].slice(0, 4)) assert.equal(await serverOf(client), server, 'and come back');
});

test('health checks take a failing server out before any client meets it, and back in once it passes', async (t) => {
  const [a, b] = [await namedServer(t, 'A'), await namedServer(t, 'B')];
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app', tap: 'meta' }], {
      upstreams: [
        {
          name: 'app',
          servers: [a.url, b.url],
          balance: 'round-robin',
          healthCheck: { interval: '100ms', timeout: '500ms', path: '/health' },
        },
      ],
    }),
  );
  const until = async (check: () => boolean, what: string) => {
    for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(check(), `timed out waiting for ${what}`);
  };
  await until(() => a.health.checks > 0 && b.health.checks > 0, 'the first checks');
  b.health.ok = false;
  await until(() => gw.logs.events('upstream.server_down').length === 1, 'upstream.server_down');
  const [down] = gw.logs.events('upstream.server_down');
  assert.deepEqual([down!['server'], down!['why']], [b.url, 'GET /health answered 503']);
  // No client meets B now: no 502, no failed connection.
  for (let i = 0; i < 4; i++) assert.deepEqual(await get(`${gw.http}/`), { status: 200, body: 'A' });
  assert.equal(await whoAnswers(t, `${gw.ws}/`), 'A');
  assert.equal(gw.logs.events('upstream.server_failed').length, 0);
  b.health.ok = true;
  await until(() => gw.logs.events('upstream.server_up').length === 1, 'upstream.server_up');
  const bodies = new Set<string>();
  for (let i = 0; i < 4; i++) bodies.add((await get(`${gw.http}/`)).body);
  assert.deepEqual([...bodies].toSorted(), ['A', 'B']);
  // A stopped server fails the connection itself.
  await a.close();
  await until(() => gw.logs.events('upstream.server_down').length === 2, 'A down');
  assert.equal(gw.logs.events('upstream.server_down')[1]!['server'], a.url);
  for (let i = 0; i < 3; i++) assert.deepEqual(await get(`${gw.http}/`), { status: 200, body: 'B' });
});

test('weights share the servers out; a backup takes over only when the others are gone', async (t) => {
  const [a, b, spare] = [await namedServer(t, 'A'), await namedServer(t, 'B'), await namedServer(t, 'S')];
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app', tap: 'meta' }], {
      upstreams: [
        {
          name: 'app',
          servers: [{ url: a.url, weight: 3 }, b.url, { url: spare.url, backup: true }],
          balance: 'round-robin',
          failTimeout: '30s',
        },
      ],
    }),
  );
  const bodies = [];
  for (let i = 0; i < 8; i++) bodies.push((await get(`${gw.http}/`)).body);
  assert.deepEqual(bodies.toSorted(), ['A', 'A', 'A', 'A', 'A', 'A', 'B', 'B']);
  const answers = [];
  for (let i = 0; i < 4; i++) answers.push(await whoAnswers(t, `${gw.ws}/`));
  assert.deepEqual(answers.toSorted(), ['A', 'A', 'A', 'B']);

  await a.close();
  await b.close();
  // The first of each fails over (nothing was sent), then the backup is the only server up.
  assert.equal(await whoAnswers(t, `${gw.ws}/`), 'S');
  assert.deepEqual(await get(`${gw.http}/`), { status: 200, body: 'S' });
  assert.deepEqual(await get(`${gw.http}/`), { status: 200, body: 'S' });
});

test('a server whose connect never completes: after connectTimeout the upgrade and the request go to the next', async (t) => {
  const hole = `ws://127.0.0.1:${await startBlackHole(t)}`;
  const live = await namedServer(t, 'L');
  // handshakeTimeout below connectTimeout: it starts once a connection is made, so the failover is not cut short.
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app', tap: 'meta' }], {
      upstreams: [{ name: 'app', servers: [hole, live.url], balance: 'round-robin', failTimeout: '30s' }],
      limits: { connectTimeout: '500ms', handshakeTimeout: '400ms' },
    }),
  );
  const started = performance.now();
  assert.equal(await whoAnswers(t, `${gw.ws}/`), 'L');
  assert.ok(performance.now() - started >= 450, 'the first server was given its connectTimeout');
  const failed = gw.logs.events('upstream.server_failed');
  assert.deepEqual(
    failed.map((e) => [e['server'], e['code'], e['next']]),
    [[hole, 'WSG_UPSTREAM_TIMEOUT', true]],
  );
  // The hole is skipped now; a fresh gateway's first request meets it and moves on too.
  const gw2 = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app' }], {
      upstreams: [{ name: 'app', servers: [hole, live.url], balance: 'round-robin' }],
      limits: { connectTimeout: '500ms' },
    }),
  );
  assert.deepEqual(await get(`${gw2.http}/`), { status: 200, body: 'L' });
  assert.equal((await gw2.logs.waitFor('http.upstream_retry'))['reason'], 'server failed');
});
