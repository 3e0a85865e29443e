// What an open WebSocket keeps alive in wsgate: not its handshake request. Node's IncomingMessage carries the
// request's headers, raw header list and stream state (about a kilobyte); a closure made beside the upstream dial
// used to keep it for the connection's whole life. On every entry kind, with connections held open, the number of
// live IncomingMessage objects (counted after a full collection) must not grow with the connections.
import assert from 'node:assert/strict';
import http from 'node:http';
import { type TestContext, test } from 'node:test';
import { queryObjects } from 'node:v8';
import { ENTRY_KINDS, type Entry } from '../helpers/entry-kinds.ts';
import { gcFunction, randomKey } from '../helpers/raw.ts';
import { waitUntil } from '../helpers/raw-ws.ts';

const OPEN = 20;

async function openWebSocket(t: TestContext, entry: Entry, path: string): Promise<void> {
  const channel = await entry.open(t);
  channel.write(
    `GET ${entry.target(path)} HTTP/1.1\r\nHost: ${entry.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomKey()}\r\n\r\n`,
  );
  await waitUntil(() => channel.received.includes('\r\n\r\n'), `${path}: the 101`, 5000);
  assert.match(channel.received.toString('latin1'), /^HTTP\/1\.1 101 /);
}

/** Live IncomingMessage objects after a full collection. */
function liveRequests(gc: () => void): number {
  gc();
  return queryObjects(http.IncomingMessage, { format: 'count' }) as number;
}

for (const kind of ENTRY_KINDS) {
  test(`${kind.name}: open WebSockets do not keep their handshake requests`, async (t) => {
    const gc = gcFunction();
    const entry = await kind.start(t, {}, { config: { tap: { level: 'frames' } } });
    const before = liveRequests(gc);
    for (let i = 0; i < OPEN; i++) await openWebSocket(t, entry, `/held-${i}`);
    // Every connection is joined (its open line is written once the session started).
    await waitUntil(() => entry.logs.events('ws.open').length >= OPEN, 'the open lines', 5000);
    const held = liveRequests(gc) - before;
    assert.ok(
      held < OPEN / 4,
      `${held} IncomingMessage objects alive with ${OPEN} WebSockets open (before: ${before})`,
    );
  });
}
