// limits.maxBufferedBytes on the relay's own queues, with a client that reads: (1) delayed messages wait in the
// writer toward the client, and that queue counts toward the limit, so an upstream that keeps sending is not read
// while it is full — the upstream's own buffer grows, not wsgate's — and every message still arrives, in order;
// (2) a periodic injection toward a peer that does not read is skipped while the writer is full (one `inject` rule
// event saying so per skipped tick), instead of piling up in wsgate — on the relay, and on the passthrough, where
// injections at open and every: go when no message rule relays the connection.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WebSocket } from 'ws';
import { OPCODE, RawWsClient, waitUntil } from '../helpers/raw-ws.ts';
import { connect, handRules, startGate, startUpstream } from '../integration/relay/support.ts';

const KIB = 1024;
const MIB = 1024 * KIB;

test('relay: a delay queue that reaches maxBufferedBytes stops reading the upstream, then everything arrives in order', async (t) => {
  const SIZE = 256 * KIB;
  const COUNT = 64; // 16 MiB
  let server: WebSocket | undefined;
  const upstream = await startUpstream(t, {
    onConnection: (ws) => {
      server = ws;
    },
  });
  const gate = await startGate(t, {
    upstreamPort: upstream.port,
    maxBufferedBytes: MIB,
    rules: () =>
      handRules({ onMessage: (m) => ({ send: [m.type === 'binary' ? { ...m, delayMs: 300 } : m], hits: [] }) }),
  });
  const c = await connect(`${gate.url}/delay-bp`);
  await waitUntil(() => server !== undefined, 'the upstream connection');
  for (let i = 0; i < COUNT; i++) server!.send(Buffer.alloc(SIZE, i));
  // Before the first delay is over nothing has left wsgate toward the client: what wsgate read sits in its queue.
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(c.messages.length, 0, 'nothing is released before its delay');
  const stuck = server!.bufferedAmount;
  // wsgate holds about maxBufferedBytes plus one message; loopback kernel buffers hold a few MiB more.
  assert.ok(stuck >= 8 * MIB, `only ${(stuck / MIB).toFixed(1)} MiB wait at the upstream: wsgate read on`);
  await waitUntil(() => c.messages.length >= COUNT, `${COUNT} messages at the client`, 30_000);
  assert.deepEqual(
    c.messages.map((m) => [m.data.length, m.data[0]]),
    Array.from({ length: COUNT }, (_, i) => [SIZE, i]),
  );
  assert.equal(server!.bufferedAmount, 0);
  c.ws.close(1000);
  await c.closed;
});

for (const mode of ['relay', 'passthrough'] as const) {
  test(`${mode}: periodic injections toward a client that does not read are skipped while its buffer is full`, async (t) => {
    const upstream = await startUpstream(t);
    const payload = Buffer.alloc(64 * KIB, 7);
    const gate = await startGate(t, {
      upstreamPort: upstream.port,
      maxBufferedBytes: MIB,
      rules: () =>
        handRules({
          needsRelay: mode === 'relay',
          injections: [{ rule: 'tick', everyMs: 2, message: { direction: 'toClient', type: 'binary', data: payload } }],
        }),
    });
    const client = await RawWsClient.connect(t, gate.port, { path: '/inject-bp', record: false, maxKeep: 16 });
    client.socket.pause();
    assert.equal((await gate.session('/inject-bp')).mode, mode);
    const ticks = () => gate.of('/inject-bp').filter((e) => e.type === 'rule' && e.rule === 'tick');
    const skipped = () => ticks().filter((e) => e.type === 'rule' && e.detail.startsWith('skipped'));
    // Bounded by time: about 500 ticks of 64 KiB (32 MiB) would be due in a second.
    await waitUntil(() => skipped().length >= 50, '50 skipped ticks', 10_000);
    assert.ok(
      skipped().every(
        (e) => e.type === 'rule' && e.detail === 'skipped: the client is not reading (limits.maxBufferedBytes)',
      ),
    );
    const sent = ticks().length - skipped().length;
    // What went out fits in maxBufferedBytes plus the loopback buffers (a few MiB), far below every tick's worth.
    assert.ok(sent * payload.length <= 24 * MIB, `${sent} injections (${((sent * 64) / 1024).toFixed(1)} MiB) queued`);
    assert.ok(sent >= 1, 'injections went out while there was room');
    // Once the client reads, the buffer drains and ticks go out again.
    client.socket.resume();
    const before = client.frames.length;
    await waitUntil(() => client.frames.length > before + sent, 'injections after the client reads', 10_000);
    assert.ok(client.frames.every((f) => f.opcode === OPCODE.BINARY && f.length === payload.length));
  });
}
