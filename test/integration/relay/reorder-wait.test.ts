// reorder maxWait end to end: the relay arms a timer at the rules' deadline (rules/connection.ts deadline()), so a
// window that does not fill is released once its first message has waited maxWait, instead of at the close. Real
// rules engine (config → RuleSet → ConnectionRules), a `ws` echo upstream and a `ws` client.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FACTS, ruleSetFrom } from '../../unit/rules/helpers.ts';
import { connect, startGate, startUpstream, until } from './support.ts';

const RULES = '- name: r\n  match: { direction: toServer }\n  actions: [{ reorder: { window: 10, maxWait: 150ms } }]';

test('reorder: a window that does not fill is released after maxWait, shuffled, with a rule event', async (t) => {
  const upstream = await startUpstream(t);
  const set = ruleSetFrom(RULES);
  const gate = await startGate(t, {
    upstreamPort: upstream.port,
    rules: () => set.forConnection(FACTS, ['r'], { seed: 7 }),
  });
  const c = await connect(`${gate.url}/quiet`);
  const sentAt = performance.now();
  for (const s of ['a', 'b', 'c']) c.ws.send(s);
  // Held: nothing reaches the upstream before maxWait.
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(upstream.received.length, 0, 'the window holds its messages');
  await until(() => (c.messages.length === 3 ? true : undefined), 'the three echoes', 3000);
  const waited = performance.now() - sentAt;
  assert.ok(waited >= 140, `released after ${waited.toFixed(0)} ms, not before maxWait`);
  const order = upstream.received.map((m) => m.data.toString());
  assert.deepEqual([...order].sort(), ['a', 'b', 'c']);
  assert.notDeepEqual(order, ['a', 'b', 'c'], 'shuffled');
  const hit = gate.of('/quiet').find((e) => e.type === 'rule' && /maxWait/.test(e.detail));
  assert.ok(hit && hit.type === 'rule');
  assert.equal(hit.rule, 'r');
  assert.equal(hit.dir, 'toUpstream');
  // The next message opens a new window with its own deadline.
  c.ws.send('d');
  await until(() => (c.messages.length === 4 ? true : undefined), 'the fourth echo', 3000);
  assert.equal(upstream.received[3]!.data.toString(), 'd');
  c.ws.close(1000);
  await c.closed;
});
