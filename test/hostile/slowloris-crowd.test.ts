// Hostile case 12 on every entry kind: a crowd of slowloris clients (one header byte a second) at once. Each gets 408
// WSG_HEADERS_TIMEOUT at limits.headersTimeout with one coded line; while they are all connected and mid-head, a
// normal request on a connection of the same kind is answered within a second; nothing slow reaches the upstream;
// and once they are gone, wsgate's sockets and memory are back at their baseline.
//
// 500 clients on a listener's own sockets (reverse, forward absolute-form), as the case says. Inside tunnels each
// slow client is also a CONNECT with its own dialled upstream connection (and, intercepted, two TLS handshakes), so
// fewer there (100 and 50): the limit under test is the same front's, and the suite stays light on two cores.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import {
  ABSOLUTE_FORM,
  assertHealthy,
  type Channel,
  CONNECT_TUNNEL,
  type Entry,
  type EntryKind,
  INTERCEPTED_TLS,
  REVERSE,
} from '../helpers/entry-kinds.ts';
import { gcFunction, memoryOnceClosed, parseResponse, settledMemory, tcpHandles } from '../helpers/raw.ts';

const CROWD: readonly [EntryKind, number][] = [
  [REVERSE, 500],
  [ABSOLUTE_FORM, 500],
  [CONNECT_TUNNEL, 100],
  [INTERCEPTED_TLS, 50],
];

type SlowResult = { status: number | undefined; code: string | undefined };

/**
 * Cleanups the crowd's connections register, kept apart from the test's own so that they can be run and dropped
 * before memory is measured (a test context keeps its `after` callbacks, and the sockets they close, to the end).
 */
class Cleanups {
  #fns = new Set<() => void>();
  readonly context = { after: (fn: () => void) => this.#fns.add(fn) } as unknown as TestContext;
  run(): void {
    for (const fn of this.#fns) fn();
    this.#fns.clear();
  }
}

/**
 * Opens `count` connections of the entry's kind (in batches), each sending the next byte of a request head once a
 * second and never finishing in time. Resolves, per client, with what came back once wsgate closed it; only
 * primitives are kept, so what stays in memory afterwards is wsgate's.
 */
async function slowCrowd(entry: Entry, count: number, cleanups: Cleanups) {
  // The request line at once, then the header fields a byte a second: inside a tunnel wsgate must see a whole
  // request line to know the tunnel carries HTTP (one that trickles even that is spliced blindly after a second,
  // bounded by tunnelIdleTimeout like any other protocol: see timeouts.test.ts).
  const line = `GET ${entry.target('/slow')} HTTP/1.1\r\n`;
  const head = `Host: ${entry.host}\r\nX-Slow: and-steady-loses-the-race\r\n\r\n`;
  const open = new Set<Channel>();
  const results: Promise<SlowResult>[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, () => entry.open(cleanups.context)),
    );
    for (const channel of batch) {
      open.add(channel);
      channel.write(line);
      results.push(
        new Promise((resolve) => {
          channel.socket.once('close', () => {
            open.delete(channel);
            const response = parseResponse(channel.received.subarray(0, 2048));
            resolve({ status: response?.status, code: response?.headers['x-wsgate-error'] });
          });
        }),
      );
    }
  }
  let sent = 0;
  const drip = () => {
    for (const channel of open) channel.write(head[sent]!);
    sent += 1;
    // Every client is answered within about two seconds; the head is never finished.
    if (open.size === 0 || sent >= head.length - 4) clearInterval(timer);
  };
  const timer = setInterval(drip, 1000);
  drip();
  const stop = () => clearInterval(timer);
  return { open, done: Promise.all(results), stop };
}

/** Every slow client closed by wsgate (bounded wait), each after a 408. */
async function assertAllTimedOut(crowd: { done: Promise<SlowResult[]> }): Promise<void> {
  const results = await Promise.race([
    crowd.done,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('slow clients still open after 15 s')), 15_000).unref(),
    ),
  ]);
  for (const r of results) {
    assert.equal(r.status, 408);
    assert.equal(r.code, 'WSG_HEADERS_TIMEOUT');
  }
}

/** A plain GET on a connection opened while the crowd is connected, answered within a second. */
async function assertServedFast(entry: Entry, cleanups: Cleanups): Promise<void> {
  const channel = await entry.open(cleanups.context);
  const started = performance.now();
  channel.write(`GET ${entry.target('/fast')} HTTP/1.1\r\nHost: ${entry.host}\r\nConnection: close\r\n\r\n`);
  const res = await channel.response();
  const elapsed = performance.now() - started;
  assert.equal(res.status, 200);
  assert.ok(elapsed < 1000, `a normal request took ${Math.round(elapsed)} ms beside the slow crowd`);
  channel.destroy();
}

for (const [kind, count] of CROWD) {
  test(`case 12: ${count} slowloris clients at once [${kind.name}]: 408 each, normal traffic served, no growth`, {
    timeout: 90_000,
  }, async (t) => {
    const entry = await kind.start(t, { headersTimeout: '1s' });
    const gc = gcFunction();
    const cleanups = new Cleanups();
    t.after(() => cleanups.run());
    // Warm up every path the measured round takes (parsers, timers, log lines, the healthy request), at up to the
    // same concurrency: free lists and TLS buffers sized by the first crowd are baseline, not growth.
    const warmCount = Math.min(count, 100);
    const warm = await slowCrowd(entry, warmCount, cleanups);
    await assertAllTimedOut(warm);
    warm.stop();
    cleanups.run();
    await assertHealthy(t, entry);
    const before = await settledMemory(gc);
    const handlesBefore = tcpHandles(true);

    const crowd = await slowCrowd(entry, count, cleanups);
    await assertServedFast(entry, cleanups);
    assert.ok(crowd.open.size > count / 2, 'the normal request was served while the crowd was still connected');
    await assertAllTimedOut(crowd);
    crowd.stop();
    cleanups.run();
    const timeouts = entry.logs.events('http.client_error').filter((l) => l.code === 'WSG_HEADERS_TIMEOUT');
    assert.equal(timeouts.length, count + warmCount, 'one coded line per slow client');
    assert.ok(timeouts.every((l) => l.status === 408 && l.level === 'warn'));
    assert.doesNotMatch(entry.upstreamText(), /\/slow/, 'no slow request went upstream');

    const after = await memoryOnceClosed(gc, handlesBefore, true);
    t.diagnostic(
      `heapUsed ${before.heapUsed} -> ${after.heapUsed}, arrayBuffers ${before.arrayBuffers} -> ${after.arrayBuffers}`,
    );
    // The log capture keeps one parsed line per client (and, in tunnels, the tunnel's lines): within 10 %.
    assert.ok(
      after.heapUsed <= before.heapUsed * 1.1,
      `heapUsed ${after.heapUsed} > baseline ${before.heapUsed} + 10 %`,
    );
    assert.ok(
      after.arrayBuffers <= before.arrayBuffers * 1.1 + 64 * 1024,
      `arrayBuffers ${after.arrayBuffers} vs ${before.arrayBuffers}`,
    );
  });
}
