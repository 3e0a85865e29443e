// The memory budget: 10,000 messages of 10 KiB (tap payload, previews of the whole message) into a 16 MiB store
// leave it under budget, with evictions counted and reported, and every evicted message still readable, in order,
// from the session file through the same API.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { startWsgate } from '../../../src/app/app.ts';
import { configFromObject } from '../../../src/config/load.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { openWs } from '../../helpers/ws-client.ts';
import { LogCapture } from '../../helpers/wsgate.ts';
import { call, eventually } from './helpers.ts';

const COUNT = 10_000;
const SIZE = 10 * 1024;

function payload(i: number): string {
  const head = `message ${String(i).padStart(5, '0')} `;
  return head + 'x'.repeat(SIZE - head.length);
}

test('10,000 messages of 10 KiB into a 16 MiB budget: under budget, evictions reported, evicted ones read from disk', async (t) => {
  // A sink upstream: it reads and drops, so only one direction carries the 100 MiB.
  const sink = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => sink.once('listening', () => resolve()));
  sink.on('connection', (ws) => ws.on('error', () => {}));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const c of sink.clients) c.terminate();
        sink.close(() => resolve());
      }),
  );
  const config = configFromObject(
    {
      listeners: [
        {
          name: 'test',
          bind: '127.0.0.1:0',
          routes: [
            { name: 'sink', upstream: `ws://127.0.0.1:${(sink.address() as { port: number }).port}`, tap: 'payload' },
          ],
        },
      ],
      tap: { previewBytes: '16KiB' },
      inspector: { bind: '127.0.0.1:0', store: { maxBytes: '16MiB', maxMessagesPerConnection: 100_000 } },
      shutdown: { grace: '200ms' },
    },
    '<test>',
  );
  // Warn level: the traffic log writes nothing, so only the store reads the events.
  const running = await startWsgate(config, createLogger({ level: 'warn', format: 'json', stream: new LogCapture() }));
  t.after(() => running.shutdown());
  const adminPort = running.inspector!.admin.address.port;
  const port = [...running.listeners.values()][0]!.port;

  const ws = await openWs(`ws://127.0.0.1:${port}/big`);
  t.after(() => ws.terminate());
  for (let i = 0; i < COUNT; i += 100) {
    await Promise.all(
      Array.from(
        { length: 100 },
        (_, j) =>
          new Promise<void>((resolve, reject) => ws.send(payload(i + j), (err) => (err ? reject(err) : resolve()))),
      ),
    );
  }
  const listed = await eventually(
    () => call(adminPort, 'GET', '/api/connections'),
    (r) => r.json.connections[0]?.toUpstream.messages === COUNT,
    'all messages stored',
    30_000,
  );
  const { stats } = listed.json;
  assert.ok(stats.bytes <= stats.maxBytes, `store ${stats.bytes} B over its budget ${stats.maxBytes} B`);
  assert.equal(stats.maxBytes, 16 * 1024 * 1024);
  assert.ok(stats.evictedMessages > COUNT / 2, `evicted ${stats.evictedMessages}`);
  const conn = listed.json.connections[0];
  assert.equal(conn.evictedMessages, stats.evictedMessages);
  assert.ok(existsSync(running.inspector!.sessionFile!.file));

  // Page through every message from the start: the evicted ones come from the session file, the rest from memory.
  let after = 0;
  let seen = 0;
  const sources = new Set<string>();
  for (let pages = 0; pages < 100; pages++) {
    const page = await call(adminPort, 'GET', `/api/connections/${conn.id}/messages?after=${after}&limit=1000`);
    assert.equal(page.status, 200, page.body);
    sources.add(page.json.source);
    assert.equal(page.json.evicted, conn.evictedMessages);
    for (const m of page.json.messages) {
      assert.equal(m.preview, payload(seen), `message ${seen}`);
      assert.equal(m.size, SIZE);
      seen++;
    }
    if (!page.json.more) break;
    after = page.json.next;
  }
  assert.equal(seen, COUNT);
  assert.deepEqual([...sources].sort(), ['disk', 'memory']);
  // Filters work on the disk side too.
  const found = await call(adminPort, 'GET', `/api/connections/${conn.id}/messages?text=message%2000042`);
  assert.equal(found.json.source, 'disk');
  assert.equal(found.json.messages.length, 1);
  assert.equal(found.json.messages[0].preview, payload(42));
});
