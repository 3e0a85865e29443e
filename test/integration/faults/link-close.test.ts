// The joiner with a link shaper over real TCP pairs, at the moment one socket closes after its FIN: what the shaper
// still holds toward the other socket is written before that socket is ended (a peer's Close must not be cut off),
// and a lane that never empties (halfOpen, a peer that never reads) holds the other socket no longer than the
// half-close linger.
import assert from 'node:assert/strict';
import type net from 'node:net';
import { test } from 'node:test';
import type { ConnectionFaults } from '../../../src/rules/types.ts';
import { joinSockets } from '../../../src/websocket/joiner.ts';
import { createLinkShaper } from '../../../src/websocket/link-shaper.ts';
import { tcpPair } from '../../helpers/servers.ts';

async function shapedJoin(t: Parameters<typeof tcpPair>[0], faults: ConnectionFaults, halfCloseLinger: number) {
  const client = await tcpPair(t);
  const upstream = await tcpPair(t);
  t.after(() => {
    for (const s of [client.outer, client.inner, upstream.outer, upstream.inner]) s.destroy();
  });
  const shaper = createLinkShaper(faults, {
    client: client.inner,
    upstream: upstream.inner,
    maxBufferedBytes: 1024 * 1024,
    onEnd: () => {},
  });
  t.after(() => shaper.stop());
  const joined = joinSockets(client.inner, upstream.inner, {
    idleTimeout: 0,
    halfCloseLinger,
    forward: (direction, chunk) => shaper.sink(direction).write(chunk),
    endOnward: (direction) => shaper.endOnward(direction),
  });
  return { client, upstream, joined };
}

/** Everything `socket` reads until it ends or closes, and how long that took. */
function readAll(socket: net.Socket): Promise<{ data: string; ended: boolean; ms: number }> {
  const started = performance.now();
  const chunks: Buffer[] = [];
  let ended = false;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('end', () => {
    ended = true;
  });
  socket.on('error', () => {});
  return new Promise((resolve) =>
    socket.once('close', () =>
      resolve({ data: Buffer.concat(chunks).toString(), ended, ms: performance.now() - started }),
    ),
  );
}

test('latency: bytes held toward the client when the upstream closes are written, then the client gets FIN', async (t) => {
  const { client, upstream, joined } = await shapedJoin(t, { latency: { rule: 'far', ms: 200 } }, 10_000);
  const atClient = readAll(client.outer);
  upstream.outer.end('the last words');
  const got = await atClient;
  assert.equal(got.data, 'the last words', 'nothing the shaper held was cut off');
  assert.equal(got.ended, true, 'a FIN, not a reset');
  // The client's end answers: the join is over long before the linger.
  client.outer.end();
  const stats = await joined.done;
  assert.equal(stats.cause.by, 'upstream');
  assert.equal(stats.cause.how, 'fin');
});

test('halfOpen toward the client: the upstream closing holds the client no longer than the half-close linger', async (t) => {
  const { client, upstream, joined } = await shapedJoin(
    t,
    { halfOpen: { rule: 'dead-nat', direction: 'toClient', afterMs: 0 } },
    300,
  );
  await new Promise((r) => setTimeout(r, 20));
  const atClient = readAll(client.outer);
  upstream.outer.end('swallowed');
  const got = await atClient;
  assert.equal(got.data, '', 'the half-open direction passes nothing');
  assert.ok(got.ms >= 200, `the client was let go after ${Math.round(got.ms)} ms, before the linger`);
  assert.ok(got.ms < 5000, `the client was held ${Math.round(got.ms)} ms`);
  await joined.done;
});
