// Backpressure on a relayed connection: a client that stops reading makes the relay stop reading the upstream
// (limits.maxBufferedBytes, delayed messages included), so the upstream's own send buffer grows instead of wsgate's;
// once the client reads again every message arrives, whole and in order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WebSocket } from 'ws';
import { OPCODE, RawWsClient, waitUntil } from '../helpers/raw-ws.ts';
import { handRules, startGate, startUpstream } from '../integration/relay/support.ts';

const MIB = 1024 * 1024;
const COUNT = 48;

for (const delayed of [false, true]) {
  test(`relay${delayed ? ' with delayed messages' : ''}: a client that does not read stops the upstream, not wsgate's memory`, async (t) => {
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
        handRules({
          onMessage: (m) => ({ send: [delayed && m.type === 'binary' ? { ...m, delayMs: 20 } : m], hits: [] }),
        }),
    });
    const client = await RawWsClient.connect(t, gate.port, { path: '/bp', record: false, maxKeep: 16 });
    client.socket.pause();
    await waitUntil(() => server !== undefined, 'the upstream connection');
    for (let i = 0; i < COUNT; i++) {
      const m = Buffer.alloc(MIB, i);
      server!.send(m);
    }
    // Let everything that can move move.
    await new Promise((r) => setTimeout(r, 1500));
    const stuck = server!.bufferedAmount;
    // Loopback socket buffers (kernel, both hops) hold some MiB; wsgate holds at most about maxBufferedBytes plus
    // one message. The rest must still wait at the upstream.
    assert.ok(stuck >= (COUNT - 28) * MIB, `only ${(stuck / MIB).toFixed(1)} MiB wait at the upstream`);
    client.socket.resume();
    await waitUntil(() => client.frames.length >= COUNT, `${COUNT} messages at the client`, 20_000);
    assert.deepEqual(
      client.frames.map((f) => [f.opcode, f.length]),
      Array.from({ length: COUNT }, () => [OPCODE.BINARY, MIB]),
    );
    assert.equal(server!.bufferedAmount, 0);
    void gate;
  });
}
