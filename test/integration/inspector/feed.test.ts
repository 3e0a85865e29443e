// The live feed over Server-Sent Events and over WebSocket: a message event arrives within 200 ms of the
// message, and a feed connection that drops and resumes with its cursor (Last-Event-ID or ?since=) misses nothing
// and repeats nothing.
// biome-ignore-all lint/suspicious/noExplicitAny: API answers are JSON that the assertions read field by field.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import WebSocket from 'ws';
import { openWs, roundTrip } from '../../helpers/ws-client.ts';
import { startEchoUpstream, startInspected } from './helpers.ts';

type FeedItem = { id: number | undefined; event: string; data: any };

/** A raw SSE reader: every event as it is parsed, and a way to wait for one. */
function openSse(port: number, path: string, headers: Record<string, string> = {}) {
  const items: FeedItem[] = [];
  const waiters: (() => void)[] = [];
  let buffer = '';
  const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false });
  const ready = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let cut = buffer.indexOf('\n\n');
        while (cut >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const item: FeedItem = { id: undefined, event: 'message', data: undefined };
          let data: string | undefined;
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) item.id = Number(line.slice(4));
            else if (line.startsWith('event: ')) item.event = line.slice(7);
            else if (line.startsWith('data: ')) data = line.slice(6);
          }
          if (data !== undefined) {
            item.data = JSON.parse(data);
            items.push(item);
            for (const w of waiters.splice(0)) w();
          }
          cut = buffer.indexOf('\n\n');
        }
      });
      res.on('error', () => {});
      resolve(res);
    });
    req.on('error', reject);
  });
  const waitFor = async (pred: (i: FeedItem) => boolean, ms = 5000): Promise<FeedItem> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = items.find(pred);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no such feed event within ${ms} ms; saw ${items.map((i) => i.event).join(',')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  return { items, ready, waitFor, close: () => req.destroy() };
}

function openWsFeed(port: number, query = '') {
  const items: any[] = [];
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/events/ws${query}`);
  ws.on('message', (d) => items.push(JSON.parse(String(d))));
  const ready = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const waitFor = async (pred: (i: any) => boolean, ms = 5000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = items.find(pred);
      if (found) return found;
      if (Date.now() > deadline) throw new Error('no such feed event');
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  return { ws, items, ready, waitFor };
}

test('SSE: a message event arrives within 200 ms; a dropped feed resumes with Last-Event-ID and loses nothing', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url);
  const feed = openSse(gate.adminPort, '/api/events');
  t.after(() => feed.close());
  const res = await feed.ready;
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/event-stream/);
  const client = await openWs(`${gate.ws}/feed`);
  t.after(() => client.terminate());
  await feed.waitFor((i) => i.event === 'open');
  const sent = performance.now();
  client.send('ping-1');
  const got = await feed.waitFor((i) => i.event === 'message' && i.data.message.preview === 'ping-1', 1000);
  const elapsed = performance.now() - sent;
  assert.ok(elapsed < 200, `the message event took ${elapsed.toFixed(1)} ms`);
  assert.equal(got.data.message.dir, 'toUpstream');
  await feed.waitFor((i) => i.event === 'message' && i.data.message.dir === 'toClient');
  const lastSeen = Math.max(...feed.items.map((i) => i.id ?? 0));
  feed.close();

  // While no feed is connected: more traffic.
  for (let i = 0; i < 20; i++) await roundTrip(client, `while-away-${i}`);

  const resumed = openSse(gate.adminPort, '/api/events', { 'last-event-id': String(lastSeen) });
  t.after(() => resumed.close());
  await resumed.ready;
  await resumed.waitFor(
    (i) => i.event === 'message' && i.data.message.preview === 'while-away-19' && i.data.message.dir === 'toClient',
  );
  client.send('after-resume');
  await resumed.waitFor((i) => i.event === 'message' && i.data.message.preview === 'after-resume');
  const ids = resumed.items.map((i) => i.id!);
  assert.equal(ids[0], lastSeen + 1, 'resumes right after the last event seen');
  for (let i = 1; i < ids.length; i++) assert.equal(ids[i], ids[i - 1]! + 1, 'no gap, no repeat');
  const previews = resumed.items
    .filter((i) => i.event === 'message' && i.data.message.dir === 'toUpstream')
    .map((i) => i.data.message.preview);
  assert.deepEqual(previews, [...Array.from({ length: 20 }, (_, i) => `while-away-${i}`), 'after-resume']);
});

test('WebSocket feed: a message event within 200 ms; resume with ?since= loses nothing', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url);
  const feed = openWsFeed(gate.adminPort);
  await feed.ready;
  t.after(() => feed.ws.terminate());
  const client = await openWs(`${gate.ws}/wsfeed`);
  t.after(() => client.terminate());
  await feed.waitFor((e) => e.type === 'open');
  const sent = performance.now();
  client.send('hello-ws-feed');
  await feed.waitFor((e) => e.type === 'message' && e.message.preview === 'hello-ws-feed', 1000);
  const elapsed = performance.now() - sent;
  assert.ok(elapsed < 200, `the message event took ${elapsed.toFixed(1)} ms`);
  await feed.waitFor((e) => e.type === 'message' && e.message.dir === 'toClient');
  const last = Math.max(...feed.items.map((e) => e.seq));
  feed.ws.terminate();

  for (let i = 0; i < 10; i++) await roundTrip(client, `gap-${i}`);
  client.close(1000);

  const resumed = openWsFeed(gate.adminPort, `?since=${last}`);
  await resumed.ready;
  t.after(() => resumed.ws.terminate());
  await resumed.waitFor((e) => e.type === 'end');
  const seqs = resumed.items.map((e) => e.seq);
  assert.equal(seqs[0], last + 1);
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1);
  assert.deepEqual(
    resumed.items
      .filter((e) => e.type === 'message' && e.message.dir === 'toUpstream' && e.message.kind === 'text')
      .map((e) => e.message.preview),
    Array.from({ length: 10 }, (_, i) => `gap-${i}`),
  );
  assert.equal(resumed.items.find((e) => e.type === 'end').connection.end.closeCode, 1000);
});

test('a cursor from before a restart (past the store’s last seq) replays everything after a gap with reset', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url);
  const client = await openWs(`${gate.ws}/restarted`);
  t.after(() => client.terminate());
  await roundTrip(client, 'before-the-feed-came-back');
  // The inspector saw seq 5000 from the wsgate that ran before; this one has a handful of events.
  const sse = openSse(gate.adminPort, '/api/events', { 'last-event-id': '5000' });
  t.after(() => sse.close());
  await sse.ready;
  await sse.waitFor((e) => e.event === 'message' && e.data.message.preview === 'before-the-feed-came-back');
  assert.equal(sse.items[0]!.event, 'gap');
  assert.equal(sse.items[0]!.data.reset, true);
  assert.equal(sse.items[1]!.event, 'open', 'replayed from the store’s first event');

  const ws = openWsFeed(gate.adminPort, '?since=5000');
  await ws.ready;
  t.after(() => ws.ws.terminate());
  await ws.waitFor((e) => e.type === 'message' && e.message.preview === 'before-the-feed-came-back');
  assert.deepEqual(ws.items[0], { type: 'gap', missed: 0, reset: true });
  // A live event still follows.
  client.send('after');
  await ws.waitFor((e) => e.type === 'message' && e.message.preview === 'after');
});
