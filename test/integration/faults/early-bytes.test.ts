// Connection faults from the first byte: a frame the upstream sends with its 101 (in the same write, so it arrives
// in the same read as the head) goes through the link shaper like every later byte. halfOpen after 0s lets not even
// that one through, and latency holds it back too; without a link fault it reaches the client at once.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { type TestContext, test } from 'node:test';
import WebSocket from 'ws';
import type { ConnectionFaults } from '../../../src/rules/types.ts';
import { faultRules, startFaultGate } from './harness.ts';

/** An upstream whose 101 carries a text frame "hello" in the same write, then records what the client sends. */
async function startEagerUpstream(t: TestContext): Promise<{ url: string; received: () => number }> {
  const server = http.createServer();
  const sockets = new Set<net.Socket>();
  let bytes = 0;
  server.on('upgrade', (req, socket: net.Socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    const accept = createHash('sha1')
      .update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest('base64');
    const head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
    socket.write(Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from([0x81, 0x05]), Buffer.from('hello')]));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as net.AddressInfo;
  return { url: `ws://127.0.0.1:${port}`, received: () => bytes };
}

/** The client's messages within `ms` of the open, with when each came (ms after the open). */
async function messagesAfterOpen(t: TestContext, connection: ConnectionFaults, ms: number) {
  const up = await startEagerUpstream(t);
  const gate = await startFaultGate(t, up.url, faultRules({}, connection));
  const got: { text: string; at: number }[] = [];
  // Listening before the open: a frame that came with the 101 is emitted in the same turn as 'open'.
  const ws = new WebSocket(gate.url);
  t.after(() => ws.terminate());
  let opened = 0;
  ws.on('message', (data: Buffer) => got.push({ text: data.toString(), at: performance.now() - opened }));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => {
      opened = performance.now();
      resolve();
    });
    ws.once('error', reject);
  });
  ws.send('from the client');
  await new Promise((r) => setTimeout(r, ms));
  return { got, upstreamBytes: up.received() };
}

test('without a link fault the frame sent with the 101 reaches the client', async (t) => {
  const { got } = await messagesAfterOpen(t, {}, 200);
  assert.deepEqual(
    got.map((m) => m.text),
    ['hello'],
  );
});

test('halfOpen toward the client after 0s: not even the frame sent with the 101 gets through; the other way flows', async (t) => {
  const { got, upstreamBytes } = await messagesAfterOpen(
    t,
    { halfOpen: { rule: 'dead-nat', direction: 'toClient', afterMs: 0 } },
    300,
  );
  assert.deepEqual(got, [], 'nothing reached the client');
  assert.ok(upstreamBytes > 0, 'the client’s frame reached the upstream');
});

test('latency: the frame sent with the 101 is held back like every later one', async (t) => {
  const { got } = await messagesAfterOpen(t, { latency: { rule: 'slow-link', ms: 250 } }, 600);
  assert.deepEqual(
    got.map((m) => m.text),
    ['hello'],
  );
  // The client opened on the 101 (which is not delayed); the frame came with it but left wsgate 250 ms later.
  assert.ok(got[0]!.at >= 200, `arrived ${Math.round(got[0]!.at)} ms after the open`);
});
