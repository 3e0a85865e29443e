// WsgateMetrics from events alone: live message counts corrected by the end event's totals (exact at every tap
// level), open connections by the listener the handshake reported, upstream errors from handshakes and requests,
// and the readiness reasons /readyz gives.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WsEndEvent, WsMessageEvent, WsOpenEvent } from '../../../src/events.ts';
import { notReadyReasons } from '../../../src/inspector/health.ts';
import { aggregateMetrics, isUpstreamError, WsgateMetrics } from '../../../src/inspector/metrics.ts';
import { parsePrometheusText, sampleValue } from '../../helpers/prom-text.ts';
import { EVENT_TIME, endEvent, openEvent } from '../../helpers/ws-events.ts';

const time = EVENT_TIME;
const open = (conn: string): WsOpenEvent => openEvent(conn, { upstream: 'u', path: '/', tap: 'frames' });
const message = (conn: string, size: number): WsMessageEvent => ({
  type: 'message',
  conn,
  route: 'r',
  time,
  dir: 'toUpstream',
  kind: 'text',
  size,
  fragments: 1,
  compressed: false,
});
const end = (conn: string, messages: number, bytes: number): WsEndEvent =>
  endEvent(conn, { upstream: 'u', toUpstream: { frames: messages, messages, bytes } });

async function families(metrics: WsgateMetrics) {
  return parsePrometheusText(await metrics.text());
}

test('messages count live and end exact; open connections carry the listener from the handshake', async () => {
  const m = new WsgateMetrics({ processMetrics: false });
  m.handshake('front', 'w1', '101');
  m.observe(open('w1'));
  m.observe(message('w1', 10));
  m.observe(message('w1', 20));
  let f = await families(m);
  assert.equal(sampleValue(f, 'wsgate_ws_connections_open', { listener: 'front', route: 'r' }), 1);
  assert.equal(sampleValue(f, 'wsgate_ws_messages_total', { direction: 'toUpstream' }), 2);
  assert.equal(sampleValue(f, 'wsgate_ws_bytes_total', { direction: 'toUpstream' }), 30);
  // The end totals include what the live events missed (a shed line, frame headers).
  m.observe(end('w1', 3, 50));
  f = await families(m);
  assert.equal(sampleValue(f, 'wsgate_ws_connections_open', { listener: 'front', route: 'r' }), 0);
  assert.equal(sampleValue(f, 'wsgate_ws_messages_total', { direction: 'toUpstream' }), 3);
  assert.equal(sampleValue(f, 'wsgate_ws_bytes_total', { direction: 'toUpstream' }), 50);
  assert.equal(sampleValue(f, 'wsgate_ws_close_codes_total', { code: '1000' }), 1);
  // Tap off: no message events at all, and the end still counts them.
  m.handshake('front', 'w2', '101');
  m.observe(open('w2'));
  m.observe(end('w2', 7, 100));
  f = await families(m);
  assert.equal(sampleValue(f, 'wsgate_ws_messages_total', { direction: 'toUpstream' }), 10);
  assert.equal(sampleValue(f, 'wsgate_ws_connections_total', { listener: 'front', route: 'r' }), 2);
});

test("wsgate's own sends (admin send, inject, keepalive) are counted as the connection's counters count them: not at all", async () => {
  const m = new WsgateMetrics({ processMetrics: false });
  m.handshake('front', 'w1', '101');
  m.observe(open('w1'));
  m.observe(message('w1', 10));
  m.observe({ ...message('w1', 5), origin: 'wsgate' });
  let f = await families(m);
  assert.equal(sampleValue(f, 'wsgate_ws_messages_total', { direction: 'toUpstream' }), 1);
  assert.equal(sampleValue(f, 'wsgate_ws_bytes_total', { direction: 'toUpstream' }), 10);
  m.observe(end('w1', 1, 12));
  f = await families(m);
  assert.equal(sampleValue(f, 'wsgate_ws_messages_total', { direction: 'toUpstream' }), 1);
  assert.equal(sampleValue(f, 'wsgate_ws_bytes_total', { direction: 'toUpstream' }), 12);
});

test('upstream errors come from handshake results and request codes; other codes do not count', async () => {
  const m = new WsgateMetrics({ processMetrics: false });
  m.handshake('l', 'w1', 'WSG_UPSTREAM_TIMEOUT');
  m.handshake('l', 'w2', 'WSG_NO_ROUTE');
  m.handshake('l', 'w3', '503');
  m.request('l', 'web', 502, 'WSG_UPSTREAM_REFUSED');
  m.request('l', undefined, 404, 'WSG_NO_ROUTE');
  const f = await families(m);
  assert.equal(sampleValue(f, 'wsgate_upstream_errors_total', { code: 'WSG_UPSTREAM_TIMEOUT' }), 1);
  assert.equal(sampleValue(f, 'wsgate_upstream_errors_total', { code: 'WSG_UPSTREAM_REFUSED' }), 1);
  assert.equal(sampleValue(f, 'wsgate_upstream_errors_total', { code: 'WSG_NO_ROUTE' }), undefined);
  assert.equal(sampleValue(f, 'wsgate_ws_handshakes_total', { listener: 'l', result: '503' }), 1);
  assert.equal(sampleValue(f, 'wsgate_http_requests_total', { listener: 'l', route: '', status: '404' }), 1);
  assert.equal(isUpstreamError('WSG_HANDSHAKE_TIMEOUT'), true);
});

test('store evictions and external counters are read at scrape time', async () => {
  const m = new WsgateMetrics({ processMetrics: false });
  let evicted = 0;
  m.watchStore(() => ({ evictedConnections: 1, evictedMessages: evicted, bytes: 2048 }));
  let dropped = 0;
  m.addCounter('ipc_events_dropped_total', { help: 'dropped', read: () => dropped });
  evicted = 5;
  dropped = 3;
  const f = await families(m);
  assert.equal(sampleValue(f, 'wsgate_store_evictions_total', { kind: 'messages' }), 5);
  assert.equal(sampleValue(f, 'wsgate_store_bytes'), 2048);
  assert.equal(sampleValue(f, 'wsgate_ipc_events_dropped_total'), 3);
});

test("two workers' registries merge into one exposition with counters summed", async () => {
  const a = new WsgateMetrics({ processMetrics: false });
  const b = new WsgateMetrics({ processMetrics: false });
  for (const [m, conn] of [
    [a, 'w1-1'],
    [b, 'w2-1'],
  ] as const) {
    m.handshake('front', conn, '101');
    m.observe(open(conn));
  }
  const f = parsePrometheusText(await aggregateMetrics([await a.json(), await b.json()]));
  assert.equal(sampleValue(f, 'wsgate_ws_connections_open', { listener: 'front', route: 'r' }), 2);
  assert.equal(sampleValue(f, 'wsgate_ws_handshakes_total', { listener: 'front', result: '101' }), 2);
});

test('readiness reasons name what is missing', () => {
  assert.deepEqual(
    notReadyReasons({ listeners: [{ name: 'a', bound: true }], configLoaded: true, draining: false }),
    [],
  );
  assert.deepEqual(
    notReadyReasons({
      listeners: [
        { name: 'a', bound: false },
        { name: 'b', bound: true },
      ],
      configLoaded: false,
      draining: true,
      workers: { ready: 0, target: 2 },
    }),
    ['config not loaded', 'draining (shutting down)', 'listeners not bound: a', 'no worker is listening'],
  );
});

test('handshake timings: the whole handshake and the upstream connection, per listener and route, merged over workers', async () => {
  const a = new WsgateMetrics({ processMetrics: false });
  const b = new WsgateMetrics({ processMetrics: false });
  a.handshake('front', 'w1', '101');
  a.observe({ ...open('w1'), handshakeMs: 3, dialMs: 1 });
  a.handshake('front', 'w2', '101');
  a.observe({ ...open('w2'), handshakeMs: 700, dialMs: 650 });
  b.handshake('front', 'w3', '101');
  b.observe({ ...open('w3'), handshakeMs: 30 });
  const labels = (le: string) => ({ listener: 'front', route: 'r', le });
  let f = await families(a);
  assert.equal(sampleValue(f, 'wsgate_ws_handshake_duration_seconds_bucket', labels('0.005')), 1);
  assert.equal(sampleValue(f, 'wsgate_ws_handshake_duration_seconds_bucket', labels('1')), 2);
  assert.equal(sampleValue(f, 'wsgate_ws_upstream_connect_seconds_bucket', labels('0.5')), 1, 'the slow way there');
  assert.equal(sampleValue(f, 'wsgate_ws_upstream_connect_seconds_count', { listener: 'front', route: 'r' }), 2);
  f = parsePrometheusText(await aggregateMetrics([await a.json(), await b.json()]));
  assert.equal(sampleValue(f, 'wsgate_ws_handshake_duration_seconds_count', { listener: 'front', route: 'r' }), 3);
  assert.equal(sampleValue(f, 'wsgate_ws_handshake_duration_seconds_bucket', labels('0.05')), 2);
  // No connection time known (an event without dialMs): only the duration counts it.
  assert.equal(sampleValue(f, 'wsgate_ws_upstream_connect_seconds_count', { listener: 'front', route: 'r' }), 2);
});
