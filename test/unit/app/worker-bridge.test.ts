// The worker's event bridge to the primary: batches, a bound on batches in flight, and when the primary falls
// behind, message events dropped and counted while open and end events are kept; control orders run on the
// worker's session and answer; scrapes answer with the registry.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BATCH_EVENTS, MAX_INFLIGHT, MAX_PENDING, WorkerBridge } from '../../../src/app/worker-bridge.ts';
import { workerOfConn } from '../../../src/app/worker-hub.ts';
import type { FromWorker } from '../../../src/app/worker-ipc.ts';
import type { WsEvent } from '../../../src/events.ts';
import { WsgateMetrics } from '../../../src/inspector/metrics.ts';
import type { LiveSession } from '../../../src/websocket/session.ts';

const message = (i: number) =>
  ({
    type: 'message',
    conn: 'w1-1',
    route: 'r',
    time: '',
    dir: 'toClient',
    kind: 'text',
    size: i,
    fragments: 1,
    compressed: false,
  }) as WsEvent;
const openEvent = (conn: string) => ({ type: 'open', conn, route: 'r', time: '' }) as unknown as WsEvent;

test('events go in batches; with the primary stalled, messages are dropped and counted but open events are kept', async () => {
  const sent: FromWorker[] = [];
  const callbacks: (() => void)[] = [];
  // A primary that never takes anything: no send completes.
  const bridge = new WorkerBridge((m, done) => {
    sent.push(m);
    callbacks.push(() => done(null));
  });
  for (let i = 0; i < BATCH_EVENTS * MAX_INFLIGHT; i++) bridge.ingest(message(i));
  assert.equal(sent.length, MAX_INFLIGHT, 'full batches go at once, up to the in-flight bound');
  for (let i = 0; i < MAX_PENDING; i++) bridge.ingest(message(i));
  assert.equal(sent.length, MAX_INFLIGHT, 'nothing more while every batch is in flight');
  assert.equal(bridge.dropped, 0);
  bridge.ingest(message(0));
  bridge.ingest(openEvent('w1-2'));
  assert.equal(bridge.dropped, 1, 'a message past MAX_PENDING is dropped; an open event is not');
  // The primary catches up: what waited goes, and the count travels with the batches.
  for (const done of callbacks.splice(0)) done();
  await sleep(50);
  const batches = sent.filter((m) => m.wsgate === 'events');
  assert.ok(batches.length > MAX_INFLIGHT);
  const last = batches.at(-1);
  assert.ok(last?.wsgate === 'events' && last.dropped === 1);
  bridge.close();
  while (callbacks.length > 0) for (const done of callbacks.splice(0)) done();
  const all = sent.flatMap((m) => (m.wsgate === 'events' ? m.events : []));
  assert.equal(all.length, BATCH_EVENTS * MAX_INFLIGHT + MAX_PENDING + 1, 'everything not dropped arrived');
  assert.equal(all.filter((e) => e.type === 'open').length, 1);
});

test('a few events go after FLUSH_MS without waiting for a full batch', async () => {
  const sent: FromWorker[] = [];
  const bridge = new WorkerBridge((m, done) => {
    sent.push(m);
    done(null);
  });
  bridge.ingest(message(1));
  assert.equal(sent.length, 0);
  await sleep(60);
  assert.equal(sent.length, 1);
  bridge.close();
});

test('control orders run on the live session; scrapes answer with the registry', async () => {
  const sent: FromWorker[] = [];
  const bridge = new WorkerBridge((m, done) => {
    sent.push(m);
    done(null);
  });
  const calls: string[] = [];
  const session = {
    send: (to: string, m: { data: Buffer }) => {
      calls.push(`send ${to} ${m.data.toString()}`);
      return { ok: true };
    },
    close: (code: number) => (code === 4000 ? { ok: false, reason: 'already closing' } : { ok: true }),
  } as unknown as LiveSession;
  const metrics = new WsgateMetrics({ processMetrics: false });
  const servers = [
    {
      upstream: 'app',
      server: 'ws://127.0.0.1:1',
      open: 2,
      failures: 1,
      skipped: false,
      skippedForMs: 0,
      checkedDown: false,
      drained: true,
    },
  ];
  bridge.attach({
    session: (conn) => (conn === 'w1-1' ? session : undefined),
    metrics,
    servers: () => servers,
    closeServer: () => 3,
  });
  const data = new Uint8Array(Buffer.from('hi'));
  bridge.handle({
    wsgate: 'control',
    id: 1,
    order: { op: 'send', conn: 'w1-1', to: 'client', message: { type: 'text', data } },
  });
  bridge.handle({ wsgate: 'control', id: 2, order: { op: 'close', conn: 'w1-1', code: 4000, reason: '', to: 'both' } });
  bridge.handle({ wsgate: 'control', id: 3, order: { op: 'close', conn: 'w1-9', code: 1000, reason: '', to: 'both' } });
  assert.deepEqual(calls, ['send client hi']);
  assert.deepEqual(
    sent.map((m) => (m.wsgate === 'controlled' ? [m.id, m.answer] : undefined)),
    [
      [1, { ok: true }],
      [2, { ok: false, reason: 'already closing' }],
      [3, { ok: false, reason: 'connection w1-9 is not live', missing: true }],
    ],
  );
  assert.equal(bridge.handle({ wsgate: 'metrics', id: 7 }), true);
  await sleep(10);
  const scrape = sent.find((m) => m.wsgate === 'metrics');
  assert.ok(scrape?.wsgate === 'metrics' && scrape.id === 7 && scrape.metrics.length > 5);
  assert.equal(bridge.handle({ wsgate: 'upstreams', id: 8 }), true);
  const answer = sent.find((m) => m.wsgate === 'upstreams');
  assert.deepEqual(answer, { wsgate: 'upstreams', id: 8, servers }, 'the pools as the worker sees them');
  bridge.handle({ wsgate: 'close-server', id: 9, upstream: 'app', server: 'ws://127.0.0.1:1', code: 1012, reason: '' });
  assert.deepEqual(
    sent.find((m) => m.wsgate === 'server-closed'),
    { wsgate: 'server-closed', id: 9, closed: 3 },
  );
  assert.equal(bridge.handle({ wsgate: 'stop' }), false, 'lifecycle messages are not the bridge’s');
});

test('a connection id names its worker', () => {
  assert.equal(workerOfConn('w2-1a'), 2);
  assert.equal(workerOfConn('w12-zz'), 12);
  assert.equal(workerOfConn('w1a'), undefined, 'an id made outside a worker');
});
