// limits.maxPendingPings on a relayed connection (hostile case: a ping flood). The relay counts the pings each peer
// sent that it passed on and the other peer has not answered with a pong (one pong answers them all, RFC 6455
// §5.5.3); one more than the limit fails that peer with 1008 (WSG_WS_TOO_MANY_PENDING_PINGS) and tells the other
// 1001 or 1014, and the ping over the limit is not passed on. Pings a rule swallowed cannot be answered, so they
// do not count. Raw peers on both ends, so nothing answers a ping unless the test does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closeBody, OPCODE, RawWsClient, startRawUpstream, waitUntil } from '../helpers/raw-ws.ts';
import { handRules, startGate } from '../integration/relay/support.ts';

const LIMIT = 3;

async function relayed(t: Parameters<typeof startGate>[0], path: string, swallowPings = false) {
  const upstream = await startRawUpstream(t);
  const gate = await startGate(t, {
    upstreamPort: upstream.port,
    limits: { maxPendingPings: LIMIT },
    rules: () =>
      handRules(swallowPings ? { onMessage: (m) => ({ send: m.type === 'ping' ? [] : [m], hits: [] }) } : {}),
  });
  const client = await RawWsClient.connect(t, gate.port, { path });
  const up = await upstream.connection(path);
  return { gate, client, up };
}

const pingsAt = (frames: readonly { opcode: number }[]) => frames.filter((f) => f.opcode === OPCODE.PING).length;

test('relay, ping flood from the client: the ping over maxPendingPings is not passed on; 1008 to the client, 1001 upstream', async (t) => {
  const { gate, client, up } = await relayed(t, '/flood');
  for (let i = 0; i < LIMIT; i++) await client.send({ opcode: OPCODE.PING, payload: `p${i}` });
  await waitUntil(() => pingsAt(up.frames) === LIMIT, `${LIMIT} pings at the upstream`);
  await client.send({ opcode: OPCODE.PING, payload: 'one too many' });
  assert.equal(closeBody((await client.waitForClose()).payload).code, 1008);
  assert.equal(closeBody((await up.waitForClose()).payload).code, 1001);
  assert.equal(pingsAt(up.frames), LIMIT, 'the ping over the limit stayed in wsgate');
  const end = await gate.end('/flood');
  assert.equal(end.endedBy, 'wsgate');
  assert.equal(end.how, 'limit');
  assert.equal(end.closeCode, 1008);
  const v = gate.of('/flood').find((e) => e.type === 'violation');
  assert.ok(v && v.type === 'violation');
  assert.equal(v.code, 'WSG_WS_TOO_MANY_PENDING_PINGS');
  assert.equal(v.limit, 'limits.maxPendingPings');
  assert.equal(v.dir, 'toUpstream');
});

test('relay, ping flood from the upstream: 1008 to the upstream, 1014 to the client', async (t) => {
  const { gate, client, up } = await relayed(t, '/flood-up');
  for (let i = 0; i <= LIMIT; i++) await up.send({ opcode: OPCODE.PING, payload: `p${i}` });
  assert.equal(closeBody((await up.waitForClose()).payload).code, 1008);
  assert.equal(closeBody((await client.waitForClose()).payload).code, 1014);
  assert.equal(pingsAt(client.frames), LIMIT);
  assert.equal((await gate.end('/flood-up')).how, 'limit');
});

test('relay, pings answered by pongs never reach the limit', async (t) => {
  const { gate, client, up } = await relayed(t, '/answered');
  // Bounded: 4 rounds of LIMIT pings, each round answered by one pong (it answers all pings before it).
  for (let round = 1; round <= 4; round++) {
    for (let i = 0; i < LIMIT; i++) await client.send({ opcode: OPCODE.PING, payload: `r${round}p${i}` });
    await waitUntil(() => pingsAt(up.frames) === round * LIMIT, `round ${round} at the upstream`);
    await up.send({ opcode: OPCODE.PONG, payload: `r${round}` });
    await waitUntil(() => client.frames.filter((f) => f.opcode === OPCODE.PONG).length === round, 'the pong');
  }
  await client.send({ opcode: OPCODE.TEXT, payload: 'still open' });
  await waitUntil(() => up.frames.some((f) => f.opcode === OPCODE.TEXT), 'a message after the pings');
  assert.ok(!gate.of('/answered').some((e) => e.type === 'violation'));
  assert.ok(!client.frames.some((f) => f.opcode === OPCODE.CLOSE));
});

test('relay, pings a rule swallows do not count: they cannot be answered', async (t) => {
  const { gate, client, up } = await relayed(t, '/swallowed', true);
  for (let i = 0; i < LIMIT * 3; i++) await client.send({ opcode: OPCODE.PING, payload: `p${i}` });
  await client.send({ opcode: OPCODE.TEXT, payload: 'after the pings' });
  await waitUntil(() => up.frames.some((f) => f.opcode === OPCODE.TEXT), 'the text message');
  assert.equal(pingsAt(up.frames), 0);
  assert.ok(!gate.of('/swallowed').some((e) => e.type === 'violation'));
  assert.ok(!client.frames.some((f) => f.opcode === OPCODE.CLOSE));
});
