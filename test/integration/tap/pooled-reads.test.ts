// The joiner's pooled reads (websocket/pooled-reads.ts) over real TCP sockets: several joined connections at once,
// bulk and small writes mixed, one receiver that stops reading for a while (so writes stay queued and hold their
// buffers), and every byte arrives in order in both directions, at the far ends and in what observers were shown.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type net from 'node:net';
import { test } from 'node:test';
import { joinSockets } from '../../../src/websocket/joiner.ts';
import { pooledReadStats } from '../../../src/websocket/pooled-reads.ts';
import { tcpPair } from '../../helpers/servers.ts';

/** Chunks of mixed sizes: single bytes, small messages and bulk runs of up to 256 KiB. */
function traffic(total: number): Buffer[] {
  const sizes = [1, 7, 64, 300, 4096, 20_000, 65_536, 262_144];
  const out: Buffer[] = [];
  let sent = 0;
  for (let i = 0; sent < total; i++) {
    const size = Math.min(sizes[(i * 5 + (i >> 3)) % sizes.length]!, total - sent);
    out.push(randomBytes(size));
    sent += size;
  }
  return out;
}

const sha = (parts: Buffer[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/** Writes the chunks with backpressure. */
async function send(socket: net.Socket, chunks: Buffer[]): Promise<void> {
  for (const c of chunks) {
    if (!socket.write(c)) await new Promise((resolve) => socket.once('drain', resolve));
  }
}

/** Reads `total` bytes; with `stallMs`, stops reading for that long after the first 1 MiB. */
function receive(socket: net.Socket, total: number, stallMs: number): Promise<string> {
  const h = createHash('sha256');
  let got = 0;
  let stalled = false;
  return new Promise((resolve, reject) => {
    socket.on('data', (c: Buffer) => {
      h.update(c);
      got += c.length;
      if (stallMs > 0 && !stalled && got > 1024 * 1024) {
        stalled = true;
        socket.pause();
        setTimeout(() => socket.resume(), stallMs);
      }
      if (got >= total) resolve(h.digest('hex'));
    });
    socket.on('end', () => reject(new Error(`ended after ${got} of ${total} bytes`)));
    socket.on('error', reject);
  });
}

test('pooled reads: bytes arrive exactly, both ways, on several connections at once, with a stalled reader', async (t) => {
  const CONNECTIONS = 4;
  const BYTES = 6 * 1024 * 1024;
  const runs = [];
  let sawPooled = 0;
  for (let i = 0; i < CONNECTIONS; i++) {
    const client = await tcpPair(t);
    const upstream = await tcpPair(t);
    const seen = { toUpstream: createHash('sha256'), toClient: createHash('sha256') };
    const joined = joinSockets(client.inner, upstream.inner, {
      idleTimeout: 0,
      halfCloseLinger: 10_000,
      // Observers may only read a chunk during the call: hashing it then checks the view was right at that time.
      onChunk: (direction, chunk) => {
        seen[direction].update(chunk);
        sawPooled = Math.max(sawPooled, pooledReadStats().sockets);
      },
    });
    const up = traffic(BYTES);
    const down = traffic(BYTES);
    runs.push({
      joined,
      seen,
      up,
      down,
      ends: [client.outer, upstream.outer],
      received: Promise.all([
        receive(upstream.outer, BYTES, i === 0 ? 400 : 0),
        receive(client.outer, BYTES, i === 1 ? 400 : 0),
        send(client.outer, up),
        send(upstream.outer, down),
      ]),
    });
  }
  for (const [i, run] of runs.entries()) {
    const [atUpstream, atClient] = await run.received;
    assert.equal(atUpstream, sha(run.up), `connection ${i}: client → upstream`);
    assert.equal(atClient, sha(run.down), `connection ${i}: upstream → client`);
    for (const s of run.ends) s.end();
    const stats = await run.joined.done;
    assert.equal(stats.bytesToUpstream, BYTES);
    assert.equal(stats.bytesToClient, BYTES);
    assert.equal(run.seen.toUpstream.digest('hex'), sha(run.up), `connection ${i}: what the observer saw, up`);
    assert.equal(run.seen.toClient.digest('hex'), sha(run.down), `connection ${i}: what the observer saw, down`);
  }
  // Every joined TCP socket read through the pool on the Node wsgate runs on (engines: node >= 24).
  assert.equal(sawPooled, CONNECTIONS * 2);
  const after = pooledReadStats();
  assert.equal(after.sockets, 0, 'closed sockets leave the pool');
  assert.ok(after.privateBuffers <= 64, `private buffers stay under the cap (${after.privateBuffers})`);
});

test('pooled reads: small chunks held in a write queue stay intact while other connections read', async (t) => {
  // Connection A's upstream socket is corked, so every chunk written to it waits in its queue (as behind a slow
  // peer); connection B keeps reading meanwhile, through the same shared buffer.
  const a = { client: await tcpPair(t), upstream: await tcpPair(t) };
  const b = { client: await tcpPair(t), upstream: await tcpPair(t) };
  const joinedA = joinSockets(a.client.inner, a.upstream.inner, { idleTimeout: 0, halfCloseLinger: 10_000 });
  const joinedB = joinSockets(b.client.inner, b.upstream.inner, { idleTimeout: 0, halfCloseLinger: 10_000 });
  a.upstream.inner.cork();
  const small = Array.from({ length: 400 }, () => randomBytes(100));
  const bulk = traffic(2 * 1024 * 1024);
  const receivedA = receive(a.upstream.outer, small.length * 100, 0);
  const receivedB = receive(b.upstream.outer, 2 * 1024 * 1024, 0);
  // One small write per turn, so that each read is small and lands in the shared buffer.
  for (const chunk of small) {
    a.client.outer.write(chunk);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await send(b.client.outer, bulk);
  await receivedB;
  a.upstream.inner.uncork();
  assert.equal(await receivedA, sha(small));
  for (const s of [a.client.outer, a.upstream.outer, b.client.outer, b.upstream.outer]) s.end();
  await Promise.all([joinedA.done, joinedB.done]);
});

test('pooled reads: a joined socket switches at its first chunk, so an idle connection holds nothing more', async (t) => {
  const client = await tcpPair(t);
  const upstream = await tcpPair(t);
  const before = pooledReadStats().sockets;
  const joined = joinSockets(client.inner, upstream.inner, { idleTimeout: 0, halfCloseLinger: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(pooledReadStats().sockets, before, 'no data yet: still the plain data listener');
  const received = receive(upstream.outer, 3, 0);
  client.outer.write('one');
  assert.equal(await received, sha([Buffer.from('one')]));
  assert.equal(pooledReadStats().sockets, before + 1, 'the reading side switched');
  client.outer.end();
  upstream.outer.end();
  await joined.done;
  assert.equal(pooledReadStats().sockets, before);
});

test('pooled reads: reads on a pooled socket still count as traffic for the idle timeout', async (t) => {
  const client = await tcpPair(t);
  const upstream = await tcpPair(t);
  // The idle timer sits on the client socket; bytes only flow client → upstream, so only its reads can reset it.
  const joined = joinSockets(client.inner, upstream.inner, { idleTimeout: 400, halfCloseLinger: 10_000 });
  const chunks = Array.from({ length: 12 }, () => randomBytes(32));
  const received = receive(upstream.outer, 12 * 32, 0);
  for (const chunk of chunks) {
    client.outer.write(chunk);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(await received, sha(chunks), 'all bytes through, 1.2 s of trickle against a 0.4 s idle timeout');
  assert.ok(pooledReadStats().sockets >= 1, 'the client socket reads pooled');
  const stats = await joined.done;
  assert.equal(stats.cause.how, 'idle', 'cut only once the trickle stopped');
  assert.ok(stats.durationMs >= 1200, `lasted ${stats.durationMs} ms`);
});
