// The connection filter searches the same text in the inspector's filter box (ui/format.js, browser code run here
// as the browser would) and in `GET /api/connections?text=` (traffic/records.ts): records made by the real store
// from events, open, closed and failed, give the same text both ways, and the API finds a failed handshake by its
// code or status and a connection by its close code, as a person can in the inspector.
import assert from 'node:assert/strict';
import { test } from 'node:test';
// @ts-expect-error: browser code without type declarations.
import { connectionSearchText } from '../../../src/inspector/ui/format.js';
import { connectionText } from '../../../src/traffic/records.ts';
import { TrafficStore } from '../../../src/traffic/store.ts';
import { EVENT_TIME, endEvent, openEvent } from '../../helpers/ws-events.ts';

function storeWithRecords(): TrafficStore {
  const store = new TrafficStore({ maxBytes: 1 << 20, maxMessagesPerConnection: 10, listenerOf: () => 'web' });
  store.ingest(
    openEvent('w1', {
      route: 'web/chat',
      protocol: 'chat.v2',
      extensions: 'permessage-deflate',
      request: [['Host', 'app.test']],
    }),
  );
  store.ingest(openEvent('w2', { route: 'web/feed', request: [['Host', 'feed.test']] }));
  store.ingest(endEvent('w2', { route: 'web/feed', closeCode: 4401, termination: 'UC' }));
  store.ingest({
    type: 'failed',
    conn: 'w3',
    time: EVENT_TIME,
    listener: 'web',
    path: '/slow',
    client: '127.0.0.1',
    handshakeMs: 12,
    status: 499,
    code: 'WSG_CLIENT_GONE',
    reason: 'the client left during the WebSocket handshake, after 12 ms',
    request: [['Host', 'slow.test']],
    forwarded: [],
    response: [],
  });
  return store;
}

test('the inspector and the API search the same text of a connection', () => {
  const store = storeWithRecords();
  const all = store.connections();
  assert.equal(all.length, 3);
  for (const c of all) {
    // Through JSON, as the browser receives it.
    assert.equal(connectionText(c), connectionSearchText(JSON.parse(JSON.stringify(c))), c.id);
  }
});

test('the API finds a failed handshake by code and status, a connection by close code, state or extension', () => {
  const store = storeWithRecords();
  const ids = (text: string) => store.connections({ text }).map((c) => c.id);
  assert.deepEqual(ids('wsg_client_gone'), ['w3']);
  assert.deepEqual(ids('499'), ['w3']);
  assert.deepEqual(ids('4401'), ['w2']);
  assert.deepEqual(ids('failed'), ['w3']);
  assert.deepEqual(ids('permessage-deflate'), ['w1']);
});
