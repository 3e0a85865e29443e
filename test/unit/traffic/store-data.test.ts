// Whole payloads in the traffic store: kept beside the preview as a non-enumerable field (lists, the feed and the
// traffic log's JSON never carry them), counted against the memory budget, read back by messageData() as text or
// base64; rule events with ofMessage name the seq of the message they acted on; origin "wsgate" is kept.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attachMessageData, type WsEvent, type WsMessageEvent } from '../../../src/events.ts';
import { messageData } from '../../../src/traffic/records.ts';
import { TrafficStore } from '../../../src/traffic/store.ts';
import { EVENT_TIME, openEvent } from '../../helpers/ws-events.ts';

const time = EVENT_TIME;

const open = (conn: string): WsEvent => openEvent(conn);

function message(conn: string, kind: string, bytes: Uint8Array, dir: 'toUpstream' | 'toClient' = 'toUpstream') {
  const e: WsMessageEvent = {
    type: 'message',
    conn,
    route: 'r',
    time,
    dir,
    kind,
    size: bytes.length,
    fragments: 1,
    compressed: false,
    preview: kind === 'text' ? Buffer.from(bytes.subarray(0, 4)).toString('utf8') : '',
    truncated: bytes.length > 4,
  };
  attachMessageData(e, { bytes, truncated: false });
  return e;
}

test('whole payloads are kept, never serialised with the record, and read back as text or base64', () => {
  const store = new TrafficStore({ maxBytes: 64 * 1024 * 1024, maxMessagesPerConnection: 100 });
  const fed: string[] = [];
  store.subscribe((e) => fed.push(JSON.stringify(e)));
  store.ingest(open('c1'));
  const event = message('c1', 'text', Buffer.from('hello whole world'));
  assert.equal(JSON.stringify(event).includes('whole'), false, 'the event serialises without its payload');
  store.ingest(event);
  store.ingest(message('c1', 'binary', new Uint8Array([0, 1, 2, 250, 251])));
  const [text, binary] = store.messages('c1', { after: 0, limit: 10 })!.messages;
  assert.equal(text!.dataBytes, 17);
  assert.equal(JSON.stringify(text).includes('whole'), false);
  assert.ok(
    fed.every((line) => !line.includes('whole')),
    'the feed carries previews only',
  );
  assert.deepEqual(messageData(text!), { data: 'hello whole world', encoding: 'text', truncated: false });
  assert.deepEqual(messageData(binary!), { data: 'AAEC+vs=', encoding: 'base64', truncated: false });
  assert.equal(store.message('c1', binary!.seq), binary);
  assert.equal(store.message('c1', 999), undefined);
});

test('whole payloads count against the memory budget', () => {
  const store = new TrafficStore({ maxBytes: 1024 * 1024, maxMessagesPerConnection: 10_000 });
  store.ingest(open('c1'));
  for (let i = 0; i < 20; i++) store.ingest(message('c1', 'binary', new Uint8Array(100 * 1024)));
  const stats = store.stats();
  assert.ok(stats.bytes <= stats.maxBytes, `${stats.bytes} ≤ ${stats.maxBytes}`);
  assert.ok(stats.evictedMessages >= 10, `evicted ${stats.evictedMessages}`);
});

test('a rule event with ofMessage names the last message of its direction; origin is kept', () => {
  const store = new TrafficStore({ maxBytes: 1024 * 1024, maxMessagesPerConnection: 100 });
  store.ingest(open('c1'));
  store.ingest(message('c1', 'text', Buffer.from('up one')));
  const own = message('c1', 'text', Buffer.from('down own'), 'toClient');
  own.origin = 'wsgate';
  store.ingest(own);
  const base = { type: 'rule', conn: 'c1', route: 'r', time, rule: 'r1', action: 'mark', detail: 'd' } as const;
  store.ingest({ ...base, dir: 'toUpstream', ofMessage: true });
  store.ingest({ ...base, dir: 'toClient', ofMessage: true });
  store.ingest({ ...base, dir: 'toUpstream', action: 'reload' });
  const [up, down] = store.messages('c1', { after: 0, limit: 10 })!.messages;
  assert.equal(up!.origin, undefined);
  assert.equal(down!.origin, 'wsgate');
  const rules = store.connection('c1')!.rules;
  assert.equal(rules[0]!.messageSeq, up!.seq);
  assert.equal(rules[1]!.messageSeq, down!.seq);
  assert.equal(rules[2]!.messageSeq, undefined, 'a hit that acted on no message names none');
});
