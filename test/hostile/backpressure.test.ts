// A slow reader must never make wsgate buffer without bound: while the client does not read, the upstream
// can only push what the kernel's socket buffers and wsgate's per-socket high-water mark hold; once the client
// reads again, every byte arrives.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { test } from 'node:test';
import { encodeFrame } from '../../src/websocket/encoder.ts';
import { OPCODE } from '../../src/websocket/frame.ts';
import { computeAcceptKey } from '../../src/websocket/handshake.ts';
import { startHttpServer } from '../helpers/servers.ts';
import { reverseConfig, startTestWsgate } from '../helpers/wsgate.ts';

const FRAME = encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(1024 * 1024, 1) });
const TOTAL = 128 * FRAME.length; // 128 MiB of payload

test('a client that stops reading stalls the upstream instead of growing wsgate', { timeout: 60_000 }, async (t) => {
  let pushed = 0;
  const upstream = await startHttpServer(t, () => {});
  upstream.server.on('upgrade', (req, socket: net.Socket) => {
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAcceptKey(String(req.headers['sec-websocket-key']))}\r\n\r\n`,
    );
    // Write only while the socket accepts more: the upstream behaves, so whatever it managed to push went
    // into the kernel or into wsgate.
    const pump = () => {
      while (pushed < TOTAL) {
        pushed += FRAME.length;
        if (!socket.write(FRAME)) return socket.once('drain', pump);
      }
    };
    pump();
  });
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url.replace('http', 'ws') }]));

  const client = net.connect(gw.port, '127.0.0.1');
  t.after(() => client.destroy());
  await new Promise((resolve) => client.once('connect', resolve));
  const key = randomBytes(16).toString('base64');
  client.write(
    `GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`,
  );
  let received = 0;
  await new Promise<void>((resolve) => {
    client.once('data', (chunk: Buffer) => {
      received += chunk.length;
      resolve();
    });
  });
  client.pause();
  await new Promise((r) => setTimeout(r, 1500));
  const heapStalled = process.memoryUsage();
  const stalledAt = pushed;
  // Kernel buffers on loopback (send and receive, both hops) hold a few MiB each; wsgate adds at most
  // one high-water mark per socket. Without backpressure the whole 128 MiB would be through by now.
  assert.ok(stalledAt < 48 * 1024 * 1024, `upstream pushed ${stalledAt} bytes into a stalled client`);
  assert.ok(heapStalled.arrayBuffers < 64 * 1024 * 1024, `buffers held: ${heapStalled.arrayBuffers}`);

  client.on('data', (chunk: Buffer) => {
    received += chunk.length;
  });
  client.resume();
  const deadline = Date.now() + 30_000;
  while (received < TOTAL && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const headLength = received - TOTAL;
  assert.ok(headLength > 0 && headLength < 512, 'every frame byte arrived after the 101 head');
  assert.equal(pushed, TOTAL);
});
