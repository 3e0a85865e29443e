// listeners[].proxyProtocol under a crowd: 300 connections that start a v2 header announcing a 4 KiB block and then
// trickle it a byte at a time, and 100 that send garbage. The garbage is refused at once, the trickles at
// limits.headersTimeout, each with one coded line; meanwhile a balancer's proper connection is served within a
// second; nothing reaches the upstream but that one; afterwards wsgate's sockets and memory are back at baseline.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { formatProxyV2 } from '../../src/net/proxy-protocol.ts';
import { gcFunction, memoryOnceClosed, RawClient, settledMemory, startRawSink, tcpHandles } from '../helpers/raw.ts';
import { startTestWsgate } from '../helpers/wsgate.ts';

const TRICKLERS = 300;
const GARBAGE = 100;
const CLIENT = { address: '203.0.113.7', port: 40000, family: 'IPv4' } as const;
const FRONT = { address: '198.51.100.1', port: 80, family: 'IPv4' } as const;

function open(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

test('a crowd of trickled and broken PROXY headers: each refused with a line, a proper one served meanwhile, nothing kept', async (t) => {
  const gc = gcFunction();
  const sink = await startRawSink(t);
  const gw = await startTestWsgate(t, {
    listeners: [{ name: 'lb', bind: '127.0.0.1:0', proxyProtocol: true, routes: [{ upstream: sink.wsUrl }] }],
    limits: { headersTimeout: '1500ms' },
    shutdown: { grace: '200ms' },
  });
  // A first connection served, so lazily built state is in the baseline.
  const warm = await RawClient.connect(t, gw.port);
  warm.write(
    Buffer.concat([
      formatProxyV2(CLIENT, FRONT),
      Buffer.from('GET /warm HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'),
    ]),
  );
  assert.equal((await warm.response()).status, 200);
  await warm.waitClosed();
  const handlesBefore = tcpHandles();
  const before = await settledMemory(gc);

  const announce = formatProxyV2(CLIENT, FRONT).subarray(0, 16);
  announce.writeUInt16BE(4000, 14);
  const sockets: net.Socket[] = [];
  const closed: Promise<void>[] = [];
  for (let i = 0; i < TRICKLERS + GARBAGE; i += 1) {
    const socket = await open(gw.port);
    sockets.push(socket);
    closed.push(new Promise((resolve) => socket.once('close', () => resolve())));
    socket.write(i < TRICKLERS ? announce : Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
  }
  const drip = setInterval(() => {
    for (const socket of sockets) if (!socket.destroyed) socket.write(Buffer.from([0x41]));
  }, 100);
  t.after(() => {
    clearInterval(drip);
    for (const socket of sockets) socket.destroy();
  });

  // A balancer's proper connection, while all of them hold on: served promptly.
  const started = Date.now();
  const good = await RawClient.connect(t, gw.port);
  good.write(Buffer.concat([formatProxyV2(CLIENT, FRONT), Buffer.from('GET /good HTTP/1.1\r\nHost: a\r\n\r\n')]));
  assert.equal((await good.response(2000)).status, 200);
  assert.ok(Date.now() - started < 1000, `served in ${Date.now() - started} ms`);
  good.socket.destroy();

  await Promise.all(closed);
  clearInterval(drip);
  assert.equal(gw.logs.events('conn.proxy_header_invalid').length, GARBAGE);
  assert.equal(gw.logs.events('conn.proxy_header_timeout').length, TRICKLERS);
  assert.deepEqual(
    sink.requestLines().map((l) => l.split(' ')[1]),
    ['/warm', '/good'],
    'nothing of the crowd reached the upstream',
  );
  const after = await memoryOnceClosed(gc, handlesBefore);
  const grown = after.heapUsed - before.heapUsed;
  assert.ok(
    grown < 2 * 1024 * 1024,
    `heap grew ${(grown / 1024).toFixed(0)} KiB after ${TRICKLERS + GARBAGE} connections`,
  );
});
