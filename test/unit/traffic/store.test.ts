// The traffic store on its own: records from events, the byte budget (oldest closed connections first, then the
// oldest messages), the per-connection cap, counts of what was evicted, and the feed ring's replay with its cursor.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WsEvent, WsFailedEvent } from '../../../src/events.ts';
import { TrafficStore } from '../../../src/traffic/store.ts';
import { EVENT_TIME, endEvent, openEvent } from '../../helpers/ws-events.ts';

const time = EVENT_TIME;

function open(conn: string, route = 'r'): WsEvent {
  return openEvent(conn, { route, request: [['Host', `${conn}.example`]] });
}

function end(conn: string): WsEvent {
  return endEvent(conn);
}

function message(conn: string, preview: string, dir: 'toUpstream' | 'toClient' = 'toUpstream'): WsEvent {
  return {
    type: 'message',
    conn,
    route: 'r',
    time,
    dir,
    kind: 'text',
    size: preview.length,
    fragments: 1,
    compressed: false,
    preview,
  };
}

test('connections and messages are recorded from events, with listener, host and counters', () => {
  const store = new TrafficStore({ maxBytes: 1 << 20, maxMessagesPerConnection: 100, listenerOf: () => 'web' });
  store.ingest(open('w1'));
  store.ingest(message('w1', 'hello'));
  store.ingest(message('w1', 'back', 'toClient'));
  const c = store.connection('w1')!;
  assert.equal(c.listener, 'web');
  assert.equal(c.host, 'w1.example');
  assert.equal(c.state, 'open');
  assert.equal(c.toUpstream.messages, 1);
  assert.equal(c.toClient.messages, 1);
  store.ingest(end('w1'));
  assert.equal(store.connection('w1')!.state, 'closed');
  assert.equal(store.connection('w1')!.end?.closeCode, 1000);
  const page = store.messages('w1', { after: 0, limit: 10 })!;
  assert.deepEqual(
    page.messages.map((m) => m.preview),
    ['hello', 'back'],
  );
  assert.deepEqual(
    store.messages('w1', { after: 0, limit: 10, direction: 'toClient' })!.messages.map((m) => m.preview),
    ['back'],
  );
});

test('past the budget the oldest closed connection goes first, whole; then the oldest messages of open ones', () => {
  const store = new TrafficStore({ maxBytes: 80_000, maxMessagesPerConnection: 10_000 });
  const big = 'x'.repeat(5000);
  store.ingest(open('old'));
  store.ingest(open('open1'));
  for (let i = 0; i < 3; i++) store.ingest(message('old', big));
  store.ingest(end('old'));
  for (let i = 0; i < 3; i++) store.ingest(message('open1', big));
  assert.ok(store.connection('old'));
  // More than the budget on the open connection: the closed one is evicted first.
  for (let i = 0; i < 8; i++) store.ingest(message('open1', big));
  assert.equal(store.connection('old'), undefined);
  const stats = store.stats();
  assert.equal(stats.evictedConnections, 1);
  assert.equal(stats.evictedMessages >= 3, true);
  assert.ok(stats.bytes <= stats.maxBytes, `${stats.bytes} > ${stats.maxBytes}`);
  // Only open connections left: their oldest messages go, and the connection counts them.
  for (let i = 0; i < 20; i++) store.ingest(message('open1', big));
  const c = store.connection('open1')!;
  assert.ok(c.evictedMessages > 0);
  assert.ok(store.stats().bytes <= 80_000);
  const page = store.messages('open1', { after: 0, limit: 1000 })!;
  assert.equal(page.messages.length + c.evictedMessages, 31);
  assert.equal(page.oldestSeq, page.messages[0]!.seq);
});

test('the per-connection cap drops the oldest messages of that connection', () => {
  const store = new TrafficStore({ maxBytes: 1 << 24, maxMessagesPerConnection: 5 });
  store.ingest(open('w1'));
  for (let i = 0; i < 12; i++) store.ingest(message('w1', `m${i}`));
  const page = store.messages('w1', { after: 0, limit: 100 })!;
  assert.deepEqual(
    page.messages.map((m) => m.preview),
    ['m7', 'm8', 'm9', 'm10', 'm11'],
  );
  assert.equal(store.connection('w1')!.evictedMessages, 7);
});

test('the feed replays from a cursor, dense and in order, and says how many it no longer holds', () => {
  const store = new TrafficStore({ maxBytes: 1 << 24, maxMessagesPerConnection: 1000, feedRing: 10 });
  const seen: number[] = [];
  const stop = store.subscribe((e) => seen.push(e.seq));
  store.ingest(open('w1'));
  for (let i = 0; i < 5; i++) store.ingest(message('w1', `m${i}`));
  stop();
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6]);
  const from3 = store.replay(3);
  assert.deepEqual(
    from3.events.map((e) => e.seq),
    [4, 5, 6],
  );
  assert.equal(from3.missed, 0);
  for (let i = 0; i < 30; i++) store.ingest(message('w1', `n${i}`));
  const old = store.replay(3);
  assert.equal(old.events.length, 10);
  assert.equal(old.missed, old.events[0]!.seq - 4);
  assert.equal(store.replay(store.seq).events.length, 0);
});

test('the proxy a client came through (peer) is kept beside the client and found by the text filter', () => {
  const store = new TrafficStore({ maxBytes: 1 << 20, maxMessagesPerConnection: 10 });
  store.ingest(openEvent('w1', { client: '203.0.113.7', peer: '10.0.0.2' }));
  store.ingest(openEvent('w2', { client: '198.51.100.9' }));
  assert.deepEqual([store.connection('w1')?.client, store.connection('w1')?.peer], ['203.0.113.7', '10.0.0.2']);
  assert.equal('peer' in store.connection('w2')!, false);
  assert.deepEqual(
    store.connections({ text: '10.0.0.2' }).map((c) => c.id),
    ['w1'],
  );
});

test('the server of an upstream with several is kept on the connection and found by the text filter', () => {
  const store = new TrafficStore({ maxBytes: 1 << 20, maxMessagesPerConnection: 10 });
  store.ingest(openEvent('w1', { upstream: 'chat', server: 'ws://10.0.0.12:9000' }));
  store.ingest(openEvent('w2', { upstream: 'chat', server: 'ws://10.0.0.11:9000' }));
  store.ingest(openEvent('w3', { upstream: 'ws://127.0.0.1:1' }));
  assert.equal(store.connection('w1')?.server, 'ws://10.0.0.12:9000');
  assert.equal('server' in store.connection('w3')!, false);
  assert.deepEqual(
    store.connections({ text: '10.0.0.12' }).map((c) => c.id),
    ['w1'],
  );
});

function failed(conn: string, extra: Partial<WsFailedEvent> = {}): WsFailedEvent {
  return {
    type: 'failed',
    conn,
    time,
    path: '/x',
    client: '127.0.0.1',
    handshakeMs: 0,
    status: 404,
    code: 'WSG_NO_ROUTE',
    reason: 'no route',
    request: [['Host', `${conn}.example`]],
    forwarded: [],
    response: [],
    ...extra,
  };
}

test('a handshake refused before routing is a failed record of its listener, without route or upstream', () => {
  const store = new TrafficStore({ maxBytes: 1 << 20, maxMessagesPerConnection: 10, listenerOf: () => 'from-route' });
  store.ingest(failed('w1', { listener: 'web' }));
  const c = store.connection('w1')!;
  assert.deepEqual(
    [c.state, c.listener, c.route, c.upstream, c.host],
    ['failed', 'web', undefined, undefined, 'w1.example'],
  );
  assert.deepEqual(c.failure, { status: 404, code: 'WSG_NO_ROUTE', reason: 'no route' });
  assert.deepEqual(
    store.connections({ route: 'r' }).map((x) => x.id),
    [],
    'a route filter passes over it',
  );
  store.ingest(failed('w2', { route: 'r', upstream: 'u' }));
  assert.equal(store.connection('w2')!.listener, 'from-route', 'with a route, its listener');
});

test('failed records are capped on their own, oldest first: a flood of refusals keeps the connections that opened', () => {
  const store = new TrafficStore({ maxBytes: 1 << 20, maxMessagesPerConnection: 10, maxFailed: 3 });
  store.ingest(open('w0'));
  store.ingest(end('w0'));
  store.ingest(open('w1'));
  for (let i = 2; i <= 7; i++) store.ingest(failed(`w${i}`));
  assert.deepEqual(
    store.connections().map((c) => c.id),
    ['w7', 'w6', 'w5', 'w1', 'w0'],
    'the newest three failed, and both that opened (closed or not)',
  );
  assert.equal(store.stats().evictedConnections, 3);
  // The byte budget evicts failed records too (here it holds three): they leave the cap's count as well, or every
  // newer one would be evicted on arrival.
  const tight = new TrafficStore({ maxBytes: 4000, maxMessagesPerConnection: 10, maxFailed: 5 });
  for (let i = 0; i < 40; i++) tight.ingest(failed(`f${i}`));
  assert.deepEqual(
    tight.connections().map((c) => c.id),
    ['f39', 'f38', 'f37'],
  );
  tight.ingest(open('o1'));
  assert.ok(tight.connection('o1'), 'an opened connection still gets in');
});
