// Hostile case 12: slowloris. A client that sends its request head one byte a second gets 408 once
// limits.headersTimeout has passed (1 s here; Node checks every min(1 s, headersTimeout), so the answer comes
// within two), with a coded `http.client_error` line and nothing sent upstream. Two hundred such clients at once
// (the case says 500; 200 keeps the suite light on small CI machines and is far beyond what one client needs)
// do not stop a normal request or WebSocket handshake from being served, and once they are gone the heap and
// the open sockets are back where they were.
import assert from 'node:assert/strict';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import {
  assertHealthy,
  gcFunction,
  memoryOnceClosed,
  parseResponse,
  settledMemory,
  startRawSink,
  tcpHandles,
} from '../helpers/raw.ts';
import { reverseConfig, startTestWsgate } from '../helpers/wsgate.ts';

const HEAD = 'GET /slow HTTP/1.1\r\nHost: slow.test\r\nX-Slow: and-steady-loses-the-race\r\n\r\n';

async function setup(t: TestContext) {
  const sink = await startRawSink(t);
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: sink.wsUrl }], { limits: { headersTimeout: '1s' } }));
  return { sink, gw };
}

type SlowResult = { status: number | undefined; code: string | undefined; closedByServer: boolean };

/**
 * Opens `count` connections that each send the next byte of HEAD once a second, never finishing in time. Each
 * resolves with what came back once wsgate closes it; the clients keep nothing else, so what stays in memory
 * afterwards is wsgate's.
 */
async function slowClients(t: TestContext, port: number, count: number) {
  const open = new Set<net.Socket>();
  t.after(() => {
    for (const s of open) s.destroy();
  });
  const results: Promise<SlowResult>[] = [];
  for (let i = 0; i < count; i += 1) {
    const socket = net.connect(port, '127.0.0.1');
    open.add(socket);
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    results.push(
      new Promise((resolve) => {
        let received = Buffer.alloc(0);
        socket.on('data', (c: Buffer) => {
          received = Buffer.concat([received, c]).subarray(0, 2048);
        });
        socket.on('close', () => {
          open.delete(socket);
          const response = parseResponse(received);
          // Only primitives are kept: a Buffer slice would pin its whole pool slab and count as growth.
          resolve({
            status: response?.status,
            code: response?.headers['x-wsgate-error'],
            closedByServer: socket.readableEnded,
          });
        });
      }),
    );
  }
  let sent = 0;
  const drip = () => {
    for (const s of open) s.write(HEAD[sent]!);
    sent += 1;
    // Every client is answered within about two seconds; HEAD is never finished.
    if (open.size === 0 || sent >= HEAD.length - 4) clearInterval(timer);
  };
  const timer = setInterval(drip, 1000);
  t.after(() => clearInterval(timer));
  drip();
  return { open, done: Promise.all(results) };
}

/** Waits (bounded) until every client has been closed by wsgate, and checks each got a 408 first. */
async function assertAllTimedOut(clients: { done: Promise<SlowResult[]> }): Promise<void> {
  const results = await Promise.race([
    clients.done,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('slow clients still open after 10 s')), 10_000).unref(),
    ),
  ]);
  for (const r of results) {
    assert.equal(r.status, 408);
    assert.equal(r.code, 'WSG_HEADERS_TIMEOUT');
    assert.ok(r.closedByServer, 'wsgate closed the slow connection');
  }
}

test('case 12: a client sending one header byte a second gets 408 at headersTimeout', async (t) => {
  const { sink, gw } = await setup(t);
  await assertAllTimedOut(await slowClients(t, gw.port, 1));
  const line = await gw.logs.waitFor('http.client_error');
  assert.equal(line.code, 'WSG_HEADERS_TIMEOUT');
  assert.equal(line.status, 408);
  assert.equal(line.reason, 'ERR_HTTP_REQUEST_TIMEOUT');
  assert.equal(sink.accepted(), 0, 'nothing reached the upstream');
  await assertHealthy(t, gw.port);
});

test('case 12: 200 slow clients at once: normal traffic still served, no growth after', {
  timeout: 60_000,
}, async (t) => {
  const { sink, gw } = await setup(t);
  const gc = gcFunction();
  // Warm up every path the measured round takes (parsers, timers, log lines, the healthy request and its agent).
  await assertAllTimedOut(await slowClients(t, gw.port, 20));
  await assertHealthy(t, gw.port);
  const before = await settledMemory(gc);
  const handlesBefore = tcpHandles();

  const clients = await slowClients(t, gw.port, 200);
  // All 200 are connected and mid-head; wsgate still answers a normal request and a WebSocket handshake.
  await assertHealthy(t, gw.port);
  assert.ok(clients.open.size > 0, 'the healthy requests were served while slow clients were still connected');
  await assertAllTimedOut(clients);
  const timeouts = gw.logs.events('http.client_error').filter((l) => l.code === 'WSG_HEADERS_TIMEOUT');
  assert.equal(timeouts.length, 220);
  assert.equal(sink.requestLines().filter((l) => l.includes('/slow')).length, 0, 'no slow request went upstream');

  // Sockets: wsgate's side of every slow connection is closed (bounded wait for the last close events).
  const after = await memoryOnceClosed(gc, handlesBefore);
  t.diagnostic(
    `heapUsed ${before.heapUsed} -> ${after.heapUsed}, arrayBuffers ${before.arrayBuffers} -> ${after.arrayBuffers}`,
  );
  // The log capture keeps 200 parsed lines (about 100 KiB); allow 10 % of the baseline on top.
  assert.ok(after.heapUsed <= before.heapUsed * 1.1, `heapUsed ${after.heapUsed} > baseline ${before.heapUsed} + 10 %`);
  assert.ok(
    after.arrayBuffers <= before.arrayBuffers * 1.1 + 64 * 1024,
    `arrayBuffers ${after.arrayBuffers} vs ${before.arrayBuffers}`,
  );
});
