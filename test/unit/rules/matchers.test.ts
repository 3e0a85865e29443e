// Every match key, as a table: the rule, the connection or message, and whether it matches. Rules come from YAML
// through the real config loader, so the shape and the compiled matchers are tested together.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConnectionFacts, RuleMessage } from '../../../src/rules/types.ts';
import { DOWN, FACTS, msg, ruleSetFrom, text, UP } from './helpers.ts';

/** Does a one-rule set with this match (and a mark action) act on the message, on a connection with these facts? */
function acts(match: string, message: RuleMessage, facts: ConnectionFacts = FACTS): boolean {
  const set = ruleSetFrom(`- name: r\n  match: ${match}\n  actions: [{ mark: hit }]`);
  return set.forConnection(facts, ['r'], { seed: 1 }).onMessage(message).hits.length === 1;
}

const hello = text(UP, 'hello');

test('connection keys: host, path, pathPrefix, route, listener, port', () => {
  const cases: [string, Partial<ConnectionFacts>, boolean][] = [
    ['{ host: chat.example.com }', {}, true],
    ['{ host: Chat.Example.COM }', {}, true],
    ['{ host: other.example.com }', {}, false],
    ['{ host: "*.example.com" }', {}, true],
    ['{ host: "*.example.com" }', { host: 'example.com' }, false],
    ['{ host: "*.example.com" }', { host: 'badexample.com' }, false],
    ['{ path: /socket }', {}, true],
    ['{ path: /socket }', { path: '/socket/x' }, false],
    ['{ pathPrefix: /sock }', {}, false],
    ['{ pathPrefix: /socket }', { path: '/socket/1' }, true],
    ['{ pathPrefix: /socket/ }', { path: '/socket/1' }, true],
    ['{ route: chat }', {}, true],
    ['{ route: other }', {}, false],
    ['{ listener: web }', {}, true],
    ['{ listener: proxy }', {}, false],
    ['{ port: 443 }', {}, true],
    ['{ port: "8000-8999" }', { port: 8080 }, true],
    ['{ port: [80, "8000-8999"] }', { port: 443 }, false],
    ['{ host: chat.example.com, path: /other }', {}, false],
    ['[{ host: other.test }, { path: /socket }]', {}, true],
    ['{}', {}, true],
  ];
  for (const [match, facts, expected] of cases) {
    assert.equal(acts(match, hello, { ...FACTS, ...facts }), expected, `${match} with ${JSON.stringify(facts)}`);
  }
});

test('message keys: direction, type, text, json, binaryPrefix, size', () => {
  const json = (dir: typeof UP, v: unknown) => text(dir, JSON.stringify(v));
  const cases: [string, RuleMessage, boolean][] = [
    ['{ direction: toServer }', hello, true],
    ['{ direction: toClient }', hello, false],
    ['{ direction: both }', text(DOWN, 'x'), true],
    ['{ type: text }', hello, true],
    ['{ type: binary }', hello, false],
    ['{ type: [ping, pong] }', msg(UP, 'pong', ''), true],
    ['{ type: close }', msg(UP, 'close', Buffer.from([3, 232])), true],
    ['{ text: ell }', hello, true],
    ['{ text: ELL }', hello, false],
    ["{ text: '/^H(e)l+o$/i' }", hello, true],
    ["{ text: '/^e/' }", hello, false],
    ['{ text: ell }', msg(UP, 'binary', 'hello'), false],
    ['{ json: { pointer: /a/b } }', json(UP, { a: { b: 0 } }), true],
    ['{ json: { pointer: /a/c } }', json(UP, { a: { b: 0 } }), false],
    ['{ json: { pointer: /a/c, exists: false } }', json(UP, { a: { b: 0 } }), true],
    ['{ json: { pointer: /a/c, exists: false } }', text(UP, 'not json'), false],
    ['{ json: { pointer: /a/b, equals: 0 } }', json(UP, { a: { b: 0 } }), true],
    ['{ json: { pointer: /a/b, equals: "0" } }', json(UP, { a: { b: 0 } }), false],
    ['{ json: { pointer: /a, equals: { b: [1, 2] } } }', json(UP, { a: { b: [1, 2] } }), true],
    ['{ json: { pointer: /list/1, equals: y } }', json(UP, { list: ['x', 'y'] }), true],
    ['{ json: { pointer: "/k~1e~0y", equals: 1 } }', json(UP, { 'k/e~y': 1 }), true],
    ["{ json: { pointer: /t, regex: '/^typ/' } }", json(UP, { t: 'typing' }), true],
    ["{ json: { pointer: /t, regex: '/^typ/' } }", json(UP, { t: 5 }), false],
    ['{ json: { pointer: "" } }', json(UP, 1), true],
    ['{ json: { pointer: /a } }', text(UP, '{"a":'), false],
    ['{ binaryPrefix: "1f8b" }', msg(UP, 'binary', Buffer.from([0x1f, 0x8b, 8])), true],
    ['{ binaryPrefix: "0x1F 8B" }', msg(UP, 'binary', Buffer.from([0x1f, 0x8b])), true],
    ['{ binaryPrefix: "1f8b" }', msg(UP, 'binary', Buffer.from([0x1f])), false],
    ['{ binaryPrefix: "1f8b" }', msg(UP, 'text', '\x1f\x8b'), false],
    ['{ size: { min: 5 } }', hello, true],
    ['{ size: { min: 6 } }', hello, false],
    ['{ size: { max: 1KiB } }', hello, true],
    ['{ size: { min: 1, max: 4 } }', hello, false],
  ];
  for (const [match, message, expected] of cases) {
    assert.equal(acts(match, message), expected, `${match} on ${message.type} ${message.data.toString('hex')}`);
  }
});

test('nth counts the messages the other keys select, per direction; every takes each N-th', () => {
  const set = ruleSetFrom(`
- name: third-text
  match: { type: text, nth: 3 }
  actions: [{ mark: third }]
- name: every-2nd-ping
  match: { type: ping, every: 2 }
  actions: [{ mark: even-ping }]
`);
  const c = set.forConnection(FACTS, ['third-text', 'every-2nd-ping'], { seed: 1 });
  const marks = (m: RuleMessage) => c.onMessage(m).hits.map((h) => h.mark);
  assert.deepEqual(marks(text(UP, '1')), []);
  assert.deepEqual(marks(msg(UP, 'ping', '')), []);
  assert.deepEqual(marks(text(DOWN, '1 down')), [], 'the other direction counts on its own');
  assert.deepEqual(marks(text(UP, '2')), []);
  assert.deepEqual(marks(msg(UP, 'ping', '')), ['even-ping']);
  assert.deepEqual(marks(text(UP, '3')), ['third']);
  assert.deepEqual(marks(text(UP, '4')), []);
  assert.deepEqual(marks(msg(UP, 'ping', '')), []);
  assert.deepEqual(marks(msg(UP, 'ping', '')), ['even-ping']);
});

test('probability is seeded: the same seed selects the same messages, another seed others', () => {
  const rules = `
- name: coin
  match: { probability: 0.5 }
  actions: [{ mark: heads }]
`;
  const run = (options: { seed?: number; conn?: string }) => {
    const c = ruleSetFrom(rules).forConnection(FACTS, ['coin'], options);
    return Array.from({ length: 64 }, (_, i) => (c.onMessage(text(UP, String(i))).hits.length === 1 ? 1 : 0)).join('');
  };
  const a = run({ seed: 7 });
  assert.equal(run({ seed: 7 }), a);
  assert.notEqual(run({ seed: 8 }), a);
  assert.equal(run({ conn: 'w12' }), run({ conn: 'w12' }), 'a connection id seeds the same way each time');
  const heads = [...a].filter((x) => x === '1').length;
  assert.ok(heads > 16 && heads < 48, `about half: ${heads} of 64`);
  // A rule's own seed wins over the connection's.
  const seeded = `
- name: coin
  seed: 99
  match: { probability: 0.5 }
  actions: [{ mark: heads }]
`;
  const own = (conn: string) => {
    const c = ruleSetFrom(seeded).forConnection(FACTS, ['coin'], { conn });
    return Array.from({ length: 32 }, (_, i) => c.onMessage(text(UP, String(i))).hits.length).join('');
  };
  assert.equal(own('w1'), own('w2'));
});

test('probability 0 never and 1 always selects', () => {
  assert.equal(acts('{ probability: 0 }', hello), false);
  assert.equal(acts('{ probability: 1 }', hello), true);
});
