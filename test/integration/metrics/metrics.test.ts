// GET /metrics against a running wsgate with real WebSocket clients and HTTP requests: the exposition parses with a
// strict Prometheus text parser, every metric has HELP and TYPE, and the counters move as traffic flows —
// connections by listener and route, handshakes by result, messages and bytes by direction, close and termination
// codes, upstream errors, violations, dropped log lines and the event-loop lag.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { startEchoServer } from '../../../src/echo/server.ts';
import { startBlackHole } from '../../helpers/black-hole.ts';
import { sampleSum, sampleValue } from '../../helpers/prom-text.ts';
import { RawWsClient } from '../../helpers/raw-ws.ts';
import { closedPort, startHttpServer } from '../../helpers/servers.ts';
import { openWs, refusedHandshake, roundTrip } from '../../helpers/ws-client.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';
import { rawConnect } from '../forward/helpers.ts';
import { scrape, startAdminFor } from './support.ts';

test('/metrics parses strictly and its counters move as WebSocket and HTTP traffic flows', async (t) => {
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const web = await startHttpServer(t, (_req, res) => res.end('hello'));
  const dead = await closedPort();
  const gw = await startTestWsgate(
    t,
    reverseConfig(
      [
        { name: 'echo', match: { path: '/echo' }, upstream: echo.url },
        { name: 'dead', match: { path: '/dead' }, upstream: `ws://127.0.0.1:${dead}` },
        { name: 'web', match: { pathPrefix: '/web' }, upstream: web.url },
      ],
      { inspector: { bind: '127.0.0.1:0' }, tap: { level: 'frames' } },
    ),
  );
  const admin = await startAdminFor(t, gw.running);

  const before = await scrape(admin);
  assert.match(before.contentType ?? '', /^text\/plain; version=0\.0\.4/);
  for (const family of before.families.values()) {
    assert.ok(family.help !== undefined && family.help.length > 0, `${family.name} has a HELP line`);
    assert.notEqual(family.type, 'untyped', `${family.name} has a TYPE line`);
  }
  for (const name of [
    'wsgate_ws_connections_open',
    'wsgate_ws_connections_total',
    'wsgate_ws_handshakes_total',
    'wsgate_ws_messages_total',
    'wsgate_ws_bytes_total',
    'wsgate_upstream_errors_total',
    'wsgate_ws_close_codes_total',
    'wsgate_ws_terminations_total',
    'wsgate_ws_violations_total',
    'wsgate_store_evictions_total',
    'wsgate_log_dropped_lines_total',
    'wsgate_http_requests_total',
    'wsgate_nodejs_eventloop_lag_seconds',
  ]) {
    assert.ok(before.families.has(name), `${name} is exposed`);
  }
  assert.equal(sampleSum(before.families, 'wsgate_ws_messages_total'), 0);
  assert.equal(
    sampleValue(before.families, 'wsgate_log_dropped_lines_total', { destination: 'main', kind: 'traffic' }),
    0,
  );

  // One WebSocket through the echo route: three messages each way, then a clean close.
  const ws = await openWs(`${gw.ws}/echo`);
  for (const text of ['one', 'two', 'three']) assert.equal((await roundTrip(ws, text)).data.toString(), text);
  const during = await scrape(admin);
  const route = { listener: 'test', route: 'echo' };
  assert.equal(sampleValue(during.families, 'wsgate_ws_connections_open', route), 1);
  assert.equal(sampleValue(during.families, 'wsgate_ws_connections_total', route), 1);
  assert.equal(sampleValue(during.families, 'wsgate_ws_handshakes_total', { listener: 'test', result: '101' }), 1);
  // tap frames: message events count live.
  assert.ok((sampleValue(during.families, 'wsgate_ws_messages_total', { direction: 'toUpstream' }) ?? 0) >= 3);
  assert.ok((sampleValue(during.families, 'wsgate_ws_messages_total', { direction: 'toClient' }) ?? 0) >= 3);
  ws.close(1000, 'done');
  await new Promise((resolve) => ws.once('close', resolve));

  // Refused handshakes: no route, and an upstream that refuses the connection.
  assert.equal((await refusedHandshake(`${gw.ws}/nowhere`)).status, 404);
  assert.equal((await refusedHandshake(`${gw.ws}/dead`)).status, 502);
  // Plain HTTP.
  assert.equal((await fetch(`${gw.http}/web/page`)).status, 200);

  // The end event follows the sockets' close: poll, bounded.
  let after = await scrape(admin);
  for (let i = 0; i < 50 && sampleValue(after.families, 'wsgate_ws_connections_open', route) !== 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    after = await scrape(admin);
  }
  const f = after.families;
  assert.equal(sampleValue(f, 'wsgate_ws_connections_open', route), 0);
  assert.equal(sampleValue(f, 'wsgate_ws_close_codes_total', { code: '1000' }), 1);
  assert.equal(sampleValue(f, 'wsgate_ws_terminations_total', { termination: 'CC' }), 1);
  // Exact after the end: 3 messages and the close each way.
  assert.equal(sampleValue(f, 'wsgate_ws_messages_total', { direction: 'toUpstream' }), 4);
  assert.equal(sampleValue(f, 'wsgate_ws_messages_total', { direction: 'toClient' }), 4);
  // Bytes are the connection's wire totals, as its close line in the traffic log has them.
  const end = (await gw.logs.waitFor('ws.close')) as unknown as Record<'toUpstream' | 'toClient', { bytes: number }>;
  assert.ok(end.toUpstream.bytes > 11 && end.toClient.bytes > 11);
  assert.equal(sampleValue(f, 'wsgate_ws_bytes_total', { direction: 'toUpstream' }), end.toUpstream.bytes);
  assert.equal(sampleValue(f, 'wsgate_ws_bytes_total', { direction: 'toClient' }), end.toClient.bytes);
  assert.equal(sampleValue(f, 'wsgate_ws_handshakes_total', { listener: 'test', result: 'WSG_NO_ROUTE' }), 1);
  assert.equal(sampleValue(f, 'wsgate_ws_handshakes_total', { listener: 'test', result: 'WSG_UPSTREAM_REFUSED' }), 1);
  assert.equal(sampleValue(f, 'wsgate_upstream_errors_total', { code: 'WSG_UPSTREAM_REFUSED' }), 1);
  assert.equal(sampleValue(f, 'wsgate_http_requests_total', { listener: 'test', route: 'web', status: '200' }), 1);
  assert.ok((sampleValue(f, 'wsgate_nodejs_eventloop_lag_seconds') ?? -1) >= 0);
});

test('protocol violations and the termination of a connection cut by the upstream are counted', async (t) => {
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ name: 'echo', upstream: echo.url }], { inspector: { bind: '127.0.0.1:0' } }),
  );
  const admin = await startAdminFor(t, gw.running);
  const client = await RawWsClient.connect(t, gw.port, { path: '/echo' });
  // A text frame with a reserved opcode (0x3): WSG_WS_RESERVED_OPCODE; the echo server then closes with 1002.
  await client.write(Buffer.from([0x83, 0x81, 0, 0, 0, 0, 0x78]));
  let families = (await scrape(admin)).families;
  for (let i = 0; i < 100 && sampleSum(families, 'wsgate_ws_terminations_total') === 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    families = (await scrape(admin)).families;
  }
  assert.equal(sampleValue(families, 'wsgate_ws_violations_total', { code: 'WSG_WS_RESERVED_OPCODE' }), 1);
  assert.equal(sampleSum(families, 'wsgate_ws_terminations_total'), 1);
  assert.equal(sampleSum(families, 'wsgate_ws_close_codes_total', { code: '1002' }), 1);
});

test('a forward listener counts its WebSockets and handshakes under its own name', async (t) => {
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const gw = await startTestWsgate(t, {
    listeners: [{ name: 'proxy', bind: '127.0.0.1:0', forward: {} }],
    inspector: { bind: '127.0.0.1:0' },
    shutdown: { grace: '200ms' },
  });
  const admin = await startAdminFor(t, gw.running);
  // An absolute-form WebSocket handshake, as a browser sends it to an HTTP proxy for ws://.
  const client = await RawWsClient.connect(t, gw.port, { path: `http://127.0.0.1:${echo.address.port}/echo` });
  const families = (await scrape(admin)).families;
  assert.equal(sampleValue(families, 'wsgate_ws_handshakes_total', { listener: 'proxy', result: '101' }), 1);
  assert.equal(sampleSum(families, 'wsgate_ws_connections_open', { listener: 'proxy' }), 1);
  client.socket.destroy();
});

test('a forward listener counts its CONNECTs by result: opened, refused by policy or upstream, client gone', async (t) => {
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const hole = await startBlackHole(t);
  const gw = await startTestWsgate(t, {
    listeners: [{ name: 'fwd', bind: '127.0.0.1:0', forward: {} }],
    limits: { connectTimeout: '20s' },
    inspector: { bind: '127.0.0.1:0' },
    shutdown: { grace: '200ms' },
  });
  const admin = await startAdminFor(t, gw.running);
  const opened = await rawConnect(gw.port, `127.0.0.1:${echo.address.port}`);
  assert.equal(opened.status, 200);
  opened.socket.destroy();
  // Port 1: a port browsers block too, refused by the default policy.
  assert.equal((await rawConnect(gw.port, '127.0.0.1:1')).status, 403);
  assert.equal((await rawConnect(gw.port, `127.0.0.1:${await closedPort()}`)).status, 502);
  // A client that leaves while the destination is dialed (it never answers): no result but its leaving.
  const leaving = await new Promise<net.Socket>((resolve) => {
    const s = net.connect(gw.port, '127.0.0.1', () => resolve(s));
  });
  leaving.on('error', () => {});
  leaving.write(`CONNECT 127.0.0.1:${hole} HTTP/1.1\r\nHost: 127.0.0.1:${hole}\r\n\r\n`);
  await new Promise((r) => setTimeout(r, 200));
  leaving.end();
  const results = async () => {
    const families = (await scrape(admin)).families;
    return Object.fromEntries(
      ['200', 'WSG_FORWARD_DENIED', 'WSG_UPSTREAM_REFUSED', 'client_closed'].map((result) => [
        result,
        sampleValue(families, 'wsgate_connect_tunnels_total', { listener: 'fwd', result }),
      ]),
    );
  };
  const deadline = Date.now() + 5000;
  while ((await results()).client_closed !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await results(), { 200: 1, WSG_FORWARD_DENIED: 1, WSG_UPSTREAM_REFUSED: 1, client_closed: 1 });
  const families = (await scrape(admin)).families;
  assert.equal(sampleValue(families, 'wsgate_upstream_errors_total', { code: 'WSG_UPSTREAM_REFUSED' }), 1);
});

test('a request nobody answered (the client left first) is counted with status 0, not 200', async (t) => {
  const silent = await startHttpServer(t, () => {}); // never answers
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ name: 'silent', upstream: silent.url }], { inspector: { bind: '127.0.0.1:0' } }),
  );
  const admin = await startAdminFor(t, gw.running);
  const client = net.connect(gw.port, '127.0.0.1');
  client.on('error', () => {});
  client.write('GET /wait HTTP/1.1\r\nHost: a.test\r\n\r\n');
  for (let i = 0; i < 300 && silent.accepted() === 0; i++) await new Promise((r) => setTimeout(r, 10));
  client.end();
  await gw.logs.waitFor('http.access');
  const f = (await scrape(admin)).families;
  assert.equal(sampleValue(f, 'wsgate_http_requests_total', { listener: 'test', route: 'silent', status: '0' }), 1);
  assert.equal(
    sampleValue(f, 'wsgate_http_requests_total', { listener: 'test', route: 'silent', status: '200' }),
    undefined,
  );
});
