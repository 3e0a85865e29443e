// The rule set: which rules a connection gets (connection keys, top-level probability, profiles), whether it must
// be relayed, reload of live rules, and the explanations `wsgate check --explain` prints.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NO_RULES } from '../../../src/rules/connection.ts';
import { mulberry32, seedOf, shuffledOrder } from '../../../src/rules/prng.ts';
import { PROFILES } from '../../../src/rules/profiles.ts';
import { compileRules } from '../../../src/rules/rule-set.ts';
import { FACTS, ruleSetFrom, sent, text, UP } from './helpers.ts';

const RULES = `
- name: chat-only
  match: { host: "*.example.com", direction: toClient }
  actions: [{ replace: { pattern: a, with: b } }]
- name: elsewhere
  match: { host: other.test }
  actions: [{ drop: true }]
- name: cut
  match: { pathPrefix: /socket }
  actions: [{ idleCut: 30s }]
`;

test('a connection gets the named rules whose connection keys hold; needsRelay only for message rules', () => {
  const set = ruleSetFrom(RULES);
  const c = set.forConnection(FACTS, ['chat-only', 'elsewhere', 'cut']);
  assert.deepEqual(c.names, ['chat-only', 'cut']);
  assert.equal(c.needsRelay, true);
  assert.deepEqual(c.connection, { idleCut: { rule: 'cut', ms: 30_000 } });
  const faultsOnly = set.forConnection(FACTS, ['elsewhere', 'cut']);
  assert.deepEqual(faultsOnly.names, ['cut']);
  assert.equal(faultsOnly.needsRelay, false);
  assert.equal(set.forConnection(FACTS, ['elsewhere']), NO_RULES, 'nothing applies: the shared empty rules');
  assert.equal(set.forConnection(FACTS, []), NO_RULES);
  assert.deepEqual(sent(NO_RULES.onMessage(text(UP, 'x'))), ['x']);
  assert.equal(set.forConnection(FACTS, ['chat-only', 'chat-only']).names.length, 1, 'listed twice, applied once');
});

test('each connection has its own counters', () => {
  const set = ruleSetFrom('- name: r\n  actions: [{ dropEvery: 2 }]');
  const a = set.forConnection(FACTS, ['r']);
  const b = set.forConnection(FACTS, ['r']);
  assert.deepEqual(sent(a.onMessage(text(UP, '1'))), ['1']);
  assert.deepEqual(sent(b.onMessage(text(UP, '1'))), ['1']);
  assert.deepEqual(sent(a.onMessage(text(UP, '2'))), []);
});

test('a top-level probability selects whole connections, repeatably per connection id', () => {
  const set = ruleSetFrom('- name: flaky\n  probability: 0.3\n  actions: [{ idleCut: 5s }]');
  const picked = (conn: string) => set.forConnection(FACTS, ['flaky'], { conn }).names.length;
  const ids = Array.from({ length: 200 }, (_, i) => `w${i}`);
  const first = ids.map(picked);
  assert.deepEqual(ids.map(picked), first);
  const n = first.reduce((s, x) => s + x, 0);
  assert.ok(n > 30 && n < 90, `about 30% of 200: ${n}`);
});

test('profile:NAME expands to the profile rules, which all compile', () => {
  const set = compileRules([]);
  for (const [name, profile] of Object.entries(PROFILES)) {
    const rules = set.expand([`profile:${name}`]);
    assert.deepEqual(
      rules.map((r) => r.name),
      profile.rules.map((r) => r.name),
      name,
    );
  }
  const squid = set.forConnection({ ...FACTS, port: 8080 }, ['profile:squid-default']);
  assert.deepEqual(squid.handshake.rejectConnect, {
    rule: 'squid-default/ssl-ports',
    status: 403,
    exceptPorts: [443],
  });
});

test('live rules: reload swaps in their new definition for open connections, others keep theirs', () => {
  const v1 = ruleSetFrom(`
- name: hot
  live: true
  actions: [{ replace: { pattern: a, with: one } }]
- name: cold
  actions: [{ replace: { pattern: b, with: one } }]
`);
  const v2 = ruleSetFrom(`
- name: hot
  live: true
  actions: [{ replace: { pattern: a, with: two } }]
- name: cold
  actions: [{ replace: { pattern: b, with: two } }]
`);
  assert.equal(v1.hasLive, true);
  const c = v1.forConnection(FACTS, ['hot', 'cold']);
  assert.deepEqual(sent(c.onMessage(text(UP, 'a b'))), ['one one']);
  assert.deepEqual(c.reload(v2), ['hot']);
  assert.deepEqual(sent(c.onMessage(text(UP, 'a b'))), ['two one']);
  assert.equal(ruleSetFrom('- name: x\n  actions: [{ drop: true }]').hasLive, false);
});

test('explain: which rules apply to a connection, why, and whether they relay', () => {
  const set = ruleSetFrom(RULES);
  assert.deepEqual(set.explain(FACTS, ['chat-only', 'elsewhere', 'cut']), [
    {
      rule: 'chat-only',
      applies: true,
      relays: true,
      why: 'host "chat.example.com" ✓ (host is a subdomain of "example.com"); messages: direction toClient; does: replace "a" with "b"',
    },
    {
      rule: 'elsewhere',
      applies: false,
      relays: false,
      why: 'host "chat.example.com" ✗ (host is "other.test"); messages: every message; does: drop the message',
    },
    {
      rule: 'cut',
      applies: true,
      relays: false,
      why: 'path "/socket" ✓ (path starts with "/socket"); does: cut TCP after 30s idle',
    },
  ]);
  const inject = ruleSetFrom(`
- name: greet
  actions: [{ inject: { to: client, text: hi, on: open } }, { inject: { to: server, text: tick, every: 10s } }]
- name: answer
  actions: [{ inject: { to: client, text: seen } }]`);
  const [greet, answer] = inject.explain(FACTS, ['greet', 'answer']);
  assert.equal(greet!.relays, false, 'injections at open and every: are inserted by the passthrough');
  assert.equal(answer!.relays, true, 'an injection on a match is a message step: the relay writes it');
});

test('mulberry32 repeats per seed; seedOf is stable; shuffledOrder is a permutation that moves something', () => {
  const a = mulberry32(1);
  const b = mulberry32(1);
  const xs = Array.from({ length: 5 }, () => a());
  assert.deepEqual(
    Array.from({ length: 5 }, () => b()),
    xs,
  );
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.notDeepEqual(Array.from({ length: 5 }, mulberry32(2)), xs);
  assert.equal(seedOf('w1'), seedOf('w1'));
  assert.notEqual(seedOf('w1'), seedOf('w2'));
  for (let seed = 0; seed < 50; seed++) {
    const order = shuffledOrder(2 + (seed % 5), mulberry32(seed));
    assert.deepEqual(
      [...order].sort((x, y) => x - y),
      order.map((_, i) => i),
    );
    assert.ok(
      order.some((v, i) => v !== i),
      `seed ${seed}: ${order}`,
    );
  }
});
