// Hostile case 35 at scale (../shared/security/hostile-cases.md): 1,000 clients that reset in the middle of a
// message, on a route whose rules make wsgate terminate and relay every connection (the upstream must still get
// its 1001), and on a passthrough route with the tap on (the upstream sees the connection end). Once they are gone
// wsgate must hold no more memory or sockets than before. Nothing per connection is kept by the test itself (no log
// capture, no peer objects), so growth is wsgate's.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { startWsgate } from '../../src/app/app.ts';
import { configFromObject } from '../../src/config/load.ts';
import { createLogger } from '../../src/log/logger.ts';
import { gcFunction, memoryOnceClosed, settledMemory, tcpHandles } from '../helpers/raw.ts';

const BATCH = 50;

/** Opens a WebSocket through wsgate, sends the first frame of a binary message (FIN unset), then resets. */
function churnOne(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no 101 within 10 s'));
    }, 10_000);
    socket.on('error', () => {});
    socket.on('connect', () => {
      socket.write(
        'GET /churn HTTP/1.1\r\nHost: wsgate.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
    });
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.removeAllListeners('data');
      clearTimeout(timer);
      if (!head.startsWith('HTTP/1.1 101 ')) {
        socket.destroy();
        reject(new Error(`refused: ${head.split('\r\n')[0]}`));
        return;
      }
      // A masked binary frame, FIN unset, 16 payload bytes (key 0: the payload goes as it is).
      socket.write(Buffer.concat([Buffer.from([0x02, 0x80 | 16, 0, 0, 0, 0]), Buffer.alloc(16, 7)]));
      setImmediate(() => {
        socket.resetAndDestroy();
        resolve();
      });
    });
  });
}

async function churn(port: number, count: number, closes: { n: number }, what: string): Promise<void> {
  const target = closes.n + count;
  for (let i = 0; i < count; i += BATCH) {
    await Promise.all(Array.from({ length: Math.min(BATCH, count - i) }, () => churnOne(port)));
  }
  const deadline = Date.now() + 20_000;
  while (closes.n < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(closes.n, target, what);
}

const MODES = [
  {
    name: 'relay',
    rules: ['rewrite'],
    tap: 'off',
    code: 1001,
    what: 'every relayed connection gave the upstream 1001',
  },
  { name: 'passthrough', rules: [], tap: 'frames', code: undefined, what: 'every upstream connection ended' },
] as const;

for (const mode of MODES) {
  test(`${mode.name}, case 35 × 1,000: clients that reset mid-message leave no memory or sockets behind`, {
    timeout: 120_000,
  }, async (t) => {
    const closes = { n: 0 };
    const upstream = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    upstream.on('connection', (ws) => {
      ws.on('error', () => {});
      ws.on('close', (code) => {
        if (mode.code === undefined || code === mode.code) closes.n += 1;
      });
    });
    await new Promise((r) => upstream.once('listening', r));
    t.after(() => new Promise((r) => upstream.close(r)));
    const { port: upPort } = upstream.address() as net.AddressInfo;
    const config = configFromObject(
      {
        listeners: [
          {
            name: 'test',
            bind: '127.0.0.1:0',
            routes: [{ name: 'churn', upstream: `ws://127.0.0.1:${upPort}`, rules: [...mode.rules], tap: mode.tap }],
          },
        ],
        rules: [{ name: 'rewrite', actions: [{ replace: { pattern: '/never/g', with: 'x' } }] }],
        shutdown: { grace: '200ms' },
      },
      '<test>',
    );
    // Warnings only, to a sink that keeps nothing: a captured log would grow with every connection.
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    const running = await startWsgate(config, createLogger({ level: 'warn', format: 'json', stream: sink }));
    t.after(() => running.shutdown());
    const port = [...running.listeners.values()][0]!.port;
    const gc = gcFunction();

    // Warm up every path the measured round takes, at the same concurrency: free lists are baseline, not growth.
    await churn(port, 200, closes, mode.what);
    const before = await settledMemory(gc);
    const handlesBefore = tcpHandles();
    await churn(port, 1000, closes, mode.what);
    const after = await memoryOnceClosed(gc, handlesBefore);
    t.diagnostic(
      `heapUsed ${before.heapUsed} -> ${after.heapUsed}, arrayBuffers ${before.arrayBuffers} -> ${after.arrayBuffers}`,
    );
    assert.ok(after.heapUsed <= before.heapUsed * 1.1, `heapUsed ${after.heapUsed} > ${before.heapUsed} + 10 %`);
    assert.ok(
      after.arrayBuffers <= before.arrayBuffers * 1.1 + 256 * 1024,
      `arrayBuffers ${after.arrayBuffers} vs ${before.arrayBuffers}`,
    );
  });
}
