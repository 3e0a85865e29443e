// Issue 11, item 3: every relay path honours limits.maxBufferedBytes. An upstream that answers with a 200 MiB body
// to a client that never reads may only push what wsgate's per-socket high-water mark (1 MiB here) and the kernel's
// loopback buffers hold: its socket's bytesWritten stalls far below the body, wsgate's buffers do not grow by the
// body, and a parallel healthy connection is still served. Checked for a refused WebSocket handshake (a 403 with
// the body, relayed by wsgate's own forwarder) on a reverse listener and on a forward listener's absolute-form
// upgrade, and for plain responses through a reverse listener (http-proxy-3), a forward listener's absolute-form
// relay and a CONNECT tunnel's in-tunnel relay (undici). A refusal whose client never reads is also cut: the
// upstream is closed once limits.handshakeTimeout has passed, and the client a linger later.
//
// The upstream behaves: it writes only while its socket accepts more (bounded loop, 'drain' between), so whatever
// it managed to push went into the kernel or into wsgate. Loopback buffers are a few MiB per socket (the receive
// side autotunes), so the bound asserted is 16 MiB pushed of 200 MiB.
import assert from 'node:assert/strict';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { assertHealthy, gcFunction, RawClient, settledMemory, startRawSink, wsHandshake } from '../helpers/raw.ts';
import { reverseConfig, startTestWsgate } from '../helpers/wsgate.ts';
import { forwardConfig, rawConnect, startProxy } from '../integration/forward/helpers.ts';

const MiB = 1024 * 1024;
const BODY = 200 * MiB;
const CHUNK = Buffer.alloc(MiB, 0x61);
const LIMITS = { maxBufferedBytes: '1MiB', handshakeTimeout: '3s' };
/** What the upstream may push into a client that never reads: 1 MiB in wsgate plus loopback kernel buffers. */
const PUSH_BOUND = 16 * MiB;
const gc = gcFunction();

type FloodConnection = { socket: net.Socket; head: string; pushed(): number; closed: boolean };

type Flood = { port: number; connections: FloodConnection[] };

/**
 * A TCP upstream that answers the first request head on each connection with `status` and a BODY-byte body
 * (Content-Length), written one chunk at a time while the socket accepts more.
 */
async function startFlood(t: TestContext, status: string): Promise<Flood> {
  const connections: FloodConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    let buffered = '';
    const conn: FloodConnection = { socket, head: '', pushed: () => socket.bytesWritten, closed: false };
    socket.on('close', () => {
      conn.closed = true;
      sockets.delete(socket);
    });
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      socket.resume();
      conn.head = buffered.slice(0, end);
      connections.push(conn);
      socket.write(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${BODY}\r\n\r\n`);
      let sent = 0;
      const pump = () => {
        // Bounded: at most BODY / CHUNK iterations over the whole connection.
        while (sent < BODY && !socket.destroyed) {
          sent += CHUNK.length;
          if (!socket.write(CHUNK)) {
            socket.once('drain', pump);
            return;
          }
        }
      };
      pump();
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, connections };
}

async function waitFor<T>(what: string, get: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = get();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A client that sends `request` and never reads a byte of the answer. */
async function neverReading(port: number, request: string | ((socket: net.Socket) => Promise<void>)) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.pause();
  let closed = false;
  socket.once('close', () => {
    closed = true;
  });
  await new Promise((resolve) => socket.once('connect', resolve));
  if (typeof request === 'string') socket.write(request);
  else await request(socket);
  return { socket, closed: () => closed };
}

/**
 * Waits until the flood's connection has pushed what it can, then asserts that it stalled below PUSH_BOUND and
 * that this process's buffers did not take the body.
 */
async function assertStalled(flood: Flood, baseline: NodeJS.MemoryUsage): Promise<FloodConnection> {
  const conn = await waitFor('the upstream received the request', () => flood.connections[0]);
  await sleep(1500);
  const first = conn.pushed();
  await sleep(500);
  const second = conn.pushed();
  assert.ok(second < PUSH_BOUND, `the upstream pushed ${(second / MiB).toFixed(1)} MiB into a client that never reads`);
  assert.ok(second - first < 2 * MiB, `still flowing: ${first} → ${second} bytes`);
  const now = await settledMemory(gc);
  const grown = now.heapUsed + now.arrayBuffers - (baseline.heapUsed + baseline.arrayBuffers);
  assert.ok(grown < PUSH_BOUND, `heap and buffers grew by ${(grown / MiB).toFixed(1)} MiB`);
  return conn;
}

test('a refused upgrade with a 200 MiB body to a client that never reads stalls the upstream, then is cut', async (t) => {
  const flood = await startFlood(t, '403 Forbidden');
  const sink = await startRawSink(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig(
      [{ match: { pathPrefix: '/refused' }, upstream: `ws://127.0.0.1:${flood.port}` }, { upstream: sink.wsUrl }],
      {
        limits: LIMITS,
      },
    ),
  );
  const baseline = await settledMemory(gc);
  const started = performance.now();
  const client = await neverReading(gw.port, wsHandshake('/refused'));
  const conn = await assertStalled(flood, baseline);
  await assertHealthy(t, gw.port);
  assert.equal((await gw.logs.waitFor('ws.refused')).status, 403);
  // A client that never reads cannot hold the relay: the upstream goes at handshakeTimeout (3 s), the client after
  // the refusal linger (5 s) at most.
  await waitFor('the upstream connection closed', () => (conn.closed ? true : undefined), 6000);
  const upstreamClosedAfter = performance.now() - started;
  assert.ok(upstreamClosedAfter < 6000, `upstream closed after ${Math.round(upstreamClosedAfter)} ms`);
  // The client does not read, so it would never see a FIN; a write to a socket wsgate has closed gets a reset.
  await waitFor(
    'the client connection closed',
    () => {
      client.socket.write('x');
      return client.closed() ? true : undefined;
    },
    9000,
  );
  const clientClosedAfter = performance.now() - started;
  assert.ok(clientClosedAfter < 10_000, `client closed after ${Math.round(clientClosedAfter)} ms`);
});

test('a refused absolute-form upgrade through a forward listener is bounded the same way', async (t) => {
  const flood = await startFlood(t, '403 Forbidden');
  const sink = await startRawSink(t);
  const gw = await startProxy(t, forwardConfig({}, { limits: LIMITS }));
  const baseline = await settledMemory(gc);
  const target = `127.0.0.1:${flood.port}`;
  await neverReading(
    gw.port(),
    wsHandshake(`http://${target}/refused`).replace('Host: wsgate.test', `Host: ${target}`),
  );
  await assertStalled(flood, baseline);
  const healthy = await RawClient.connect(t, gw.port());
  healthy.write(
    `GET http://127.0.0.1:${sink.port}/ok HTTP/1.1\r\nHost: 127.0.0.1:${sink.port}\r\nConnection: close\r\n\r\n`,
  );
  assert.equal((await healthy.response()).status, 200);
});

test('a 200 MiB plain response through a reverse listener stalls the upstream while the client does not read', async (t) => {
  const flood = await startFlood(t, '200 OK');
  const sink = await startRawSink(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig(
      [{ match: { pathPrefix: '/big' }, upstream: `http://127.0.0.1:${flood.port}` }, { upstream: sink.wsUrl }],
      {
        limits: LIMITS,
      },
    ),
  );
  const baseline = await settledMemory(gc);
  await neverReading(gw.port, 'GET /big HTTP/1.1\r\nHost: wsgate.test\r\n\r\n');
  await assertStalled(flood, baseline);
  await assertHealthy(t, gw.port);
});

test('a 200 MiB plain response through a forward listener (absolute-form) stalls the upstream', async (t) => {
  const flood = await startFlood(t, '200 OK');
  const sink = await startRawSink(t);
  const gw = await startProxy(t, forwardConfig({}, { limits: LIMITS }));
  const baseline = await settledMemory(gc);
  const target = `127.0.0.1:${flood.port}`;
  await neverReading(gw.port(), `GET http://${target}/big HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  await assertStalled(flood, baseline);
  const healthy = await RawClient.connect(t, gw.port());
  healthy.write(
    `GET http://127.0.0.1:${sink.port}/ok HTTP/1.1\r\nHost: 127.0.0.1:${sink.port}\r\nConnection: close\r\n\r\n`,
  );
  assert.equal((await healthy.response()).status, 200);
});

test('a 200 MiB plain response inside a CONNECT tunnel stalls the upstream', async (t) => {
  const flood = await startFlood(t, '200 OK');
  const gw = await startProxy(t, forwardConfig({}, { limits: LIMITS }));
  const baseline = await settledMemory(gc);
  const target = `127.0.0.1:${flood.port}`;
  const tunnel = await rawConnect(gw.port(), target, {}, 3000);
  assert.equal(tunnel.status, 200);
  t.after(() => tunnel.socket.destroy());
  tunnel.socket.on('error', () => {});
  tunnel.socket.pause();
  tunnel.socket.write(`GET /big HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  await assertStalled(flood, baseline);
});
