// Every action and per-message fault on real messages, the hit each rule reports, and the explain strings; the
// handshake and connection faults as the values the edges read.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DOWN, FACTS, msg, ruleSetFrom, sent, text, UP } from './helpers.ts';

/** One rule `r` with these actions and match, on a connection of FACTS. */
function one(actions: string, match = '{}') {
  return ruleSetFrom(`- name: r\n  match: ${match}\n  actions: ${actions}`).forConnection(FACTS, ['r'], { seed: 3 });
}

test('replace: regex with capture groups, first match or every match (g), substring; binary passes', () => {
  const cases: [string, string, string, string][] = [
    [
      "{ pattern: '/(\\w+)@(\\w+)/', with: '$2 at $1' }",
      'a@b c@d',
      'b at a c@d',
      'replaced 1 match of /(\\w+)@(\\w+)/',
    ],
    [
      "{ pattern: '/(\\w+)@(\\w+)/g', with: '$2 at $1' }",
      'a@b c@d',
      'b at a d at c',
      'replaced 2 matches of /(\\w+)@(\\w+)/g',
    ],
    [
      "{ pattern: '/(?<k>t\\w+)/g', with: '<$<k>>' }",
      'type typing',
      '<type> <typing>',
      'replaced 2 matches of /(?<k>t\\w+)/g',
    ],
    ["{ pattern: 'cat', with: 'dog' }", 'cat and cat', 'dog and dog', 'replaced 2 matches of "cat"'],
    ["{ pattern: 'cow', with: 'dog' }", 'cat', 'cat', 'no match of "cow", unchanged'],
  ];
  for (const [spec, input, output, detail] of cases) {
    const v = one(`[{ replace: ${spec} }]`).onMessage(text(DOWN, input));
    assert.deepEqual(sent(v), [output], spec);
    assert.deepEqual(v.hits, [{ rule: 'r', action: 'replace', detail }], spec);
  }
  const bin = one("[{ replace: { pattern: 'a', with: 'b' } }]").onMessage(msg(UP, 'binary', 'a'));
  assert.deepEqual(sent(bin), ['a']);
  assert.equal(bin.hits[0]?.detail, 'binary message, unchanged');
});

test('setJson and deleteJson: nested fields both ways; non-JSON passes and says so', () => {
  const set = one('[{ setJson: { pointer: /user/profile/role, value: { name: admin, level: 3 } } }]');
  for (const dir of [UP, DOWN]) {
    const v = set.onMessage(text(dir, '{"user":{"id":1}}'));
    assert.deepEqual(JSON.parse(sent(v)[0]!), { user: { id: 1, profile: { role: { name: 'admin', level: 3 } } } });
    assert.equal(v.send[0]?.direction, dir);
    assert.equal(v.hits[0]?.detail, 'set "/user/profile/role" to {"name":"admin","level":3}');
  }
  const append = one('[{ setJson: { pointer: /items/-, value: 3 } }]').onMessage(text(UP, '{"items":[1,2]}'));
  assert.deepEqual(JSON.parse(sent(append)[0]!), { items: [1, 2, 3] });
  const notJson = set.onMessage(text(UP, 'hello {'));
  assert.deepEqual(sent(notJson), ['hello {']);
  assert.equal(notJson.hits[0]?.detail, 'not JSON, unchanged');

  const del = one('[{ deleteJson: /a/b }]');
  assert.deepEqual(JSON.parse(sent(del.onMessage(text(DOWN, '{"a":{"b":1,"c":2}}')))[0]!), { a: { c: 2 } });
  const missing = del.onMessage(text(DOWN, '{"a":{}}'));
  assert.deepEqual(sent(missing), ['{"a":{}}']);
  assert.equal(missing.hits[0]?.detail, 'no value at "/a/b", unchanged');
  const arr = one('[{ deleteJson: /items/0 }]').onMessage(text(DOWN, '{"items":["x","y"]}'));
  assert.deepEqual(JSON.parse(sent(arr)[0]!), { items: ['y'] });
});

test('drop, delay, inject on match, close, mark; one hit per rule naming every action', () => {
  assert.deepEqual(one('[{ drop: true }]').onMessage(text(UP, 'x')), {
    send: [],
    hits: [{ rule: 'r', action: 'drop', detail: 'dropped' }],
  });
  const delayed = one('[{ delay: 250ms }, { delay: 1s }]').onMessage(text(UP, 'x'));
  assert.equal(delayed.send[0]?.delayMs, 1250);
  assert.equal(delayed.hits[0]?.detail, 'delayed 250ms; delayed 1s');
  const inj = one("[{ inject: { to: server, text: 'seen' } }, { inject: { to: client, binary: AAEC } }]").onMessage(
    text(DOWN, 'x'),
  );
  assert.deepEqual(
    inj.send.map((m) => [m.direction, m.type, m.data.toString('hex')]),
    [
      ['toClient', 'text', '78'],
      ['toUpstream', 'text', '7365656e'],
      ['toClient', 'binary', '000102'],
    ],
  );
  const closed = one('[{ close: { code: 4000, reason: bye, to: client } }, { mark: last }]').onMessage(text(UP, 'x'));
  assert.deepEqual(closed.close, { code: 4000, reason: 'bye', to: 'client' });
  assert.deepEqual(sent(closed), ['x']);
  assert.deepEqual(closed.hits, [
    { rule: 'r', action: 'close+mark', detail: 'close 4000 "bye" to the client; marked "last"', mark: 'last' },
  ]);
  const dropThenMore = one('[{ drop: true }, { mark: never }]').onMessage(text(UP, 'x'));
  assert.deepEqual(dropThenMore.hits, [{ rule: 'r', action: 'drop', detail: 'dropped' }], 'a dropped message stops');
});

test('rules apply in order, each to what the one before left; a drop ends the message', () => {
  const set = ruleSetFrom(`
- name: a
  actions: [{ replace: { pattern: x, with: y } }]
- name: b
  match: { text: y }
  actions: [{ replace: { pattern: y, with: z } }]
- name: c
  match: { text: z }
  actions: [{ drop: true }]
- name: d
  actions: [{ mark: after }]
`);
  const v = set.forConnection(FACTS, ['a', 'b', 'c', 'd']).onMessage(text(UP, 'x'));
  assert.deepEqual(sent(v), []);
  assert.deepEqual(
    v.hits.map((h) => h.rule),
    ['a', 'b', 'c'],
  );
});

test('per-message faults: dropEvery, duplicate, refragment, swallowPings, swallowPongs', () => {
  const dropEvery = one('[{ dropEvery: 3 }]');
  const kept = ['1', '2', '3', '4', '5', '6', '7'].flatMap((s) => sent(dropEvery.onMessage(text(UP, s))));
  assert.deepEqual(kept, ['1', '2', '4', '5', '7']);
  assert.deepEqual(sent(dropEvery.onMessage(text(DOWN, 'd1'))), ['d1'], 'counted per direction');

  assert.deepEqual(sent(one('[{ duplicate: true }]').onMessage(text(UP, 'x'))), ['x', 'x']);
  const frag = one('[{ refragment: 4 }]');
  assert.equal(frag.onMessage(text(UP, 'abcdefgh')).send[0]?.fragments, 4);
  assert.equal(frag.onMessage(msg(UP, 'ping', '')).send[0]?.fragments, undefined, 'control frames are never split');

  const swallow = one('[{ swallowPings: true }, { swallowPongs: true }]');
  assert.deepEqual(swallow.onMessage(msg(UP, 'ping', 'p')).send, []);
  assert.deepEqual(swallow.onMessage(msg(DOWN, 'pong', 'p')).send, []);
  assert.deepEqual(sent(swallow.onMessage(text(UP, 't'))), ['t']);
  assert.equal(swallow.onMessage(text(UP, 't')).hits.length, 0, 'a fault that did nothing is not a hit');
});

test('reorder: holds a window, releases it in a seeded order that differs from arrival, flush at close', () => {
  const run = (seed: number) => {
    const c = ruleSetFrom('- name: r\n  actions: [{ reorder: { window: 4 } }]').forConnection(FACTS, ['r'], { seed });
    const out: string[] = [];
    for (let i = 1; i <= 8; i++) out.push(...sent(c.onMessage(text(UP, String(i)))));
    return { c, out };
  };
  const { c, out } = run(5);
  assert.equal(out.length, 8);
  assert.deepEqual([...out].sort(), ['1', '2', '3', '4', '5', '6', '7', '8']);
  assert.notDeepEqual(out.slice(0, 4), ['1', '2', '3', '4']);
  assert.deepEqual(run(5).out, out, 'the same seed, the same order');
  assert.deepEqual(sent(c.onMessage(msg(UP, 'ping', 'p'))), ['p'], 'control messages pass at once');
  assert.deepEqual(sent(c.onMessage(text(UP, 'a'))), []);
  assert.deepEqual(sent(c.onMessage(text(UP, 'b'))), []);
  assert.deepEqual(
    c.flush(UP).map((m) => m.data.toString()),
    ['a', 'b'],
  );
  assert.deepEqual(c.flush(UP), []);
  c.onMessage(text(UP, 'c'));
  const closing = c.onMessage(msg(UP, 'close', Buffer.from([3, 232])));
  assert.deepEqual(
    closing.send.map((m) => m.type),
    ['text', 'close'],
    'a close sends what the window holds first',
  );
});

test('explain strings of actions and faults', () => {
  const set = ruleSetFrom(`
- name: all
  actions:
    - replace: { pattern: '/a(b)/g', with: '$1' }
    - setJson: { pointer: /x, value: 1 }
    - deleteJson: /y
    - delay: 1500ms
    - inject: { to: client, text: hi, on: open }
    - inject: { to: server, text: tick, every: 5s }
    - close: { code: 1000 }
    - mark: m
    - dropEvery: 2
    - duplicate: true
    - reorder: { window: 3 }
    - refragment: 2
    - swallowPings: true
    - idleCut: 60s
    - throttle: { toServer: 10KiB }
    - halfOpen: { direction: toClient, after: 2s }
    - stripUpgrade: true
    - rejectConnect: { status: 403, exceptPorts: [443] }
`);
  const [e] = set.explain(FACTS, ['all']);
  assert.equal(
    e?.why,
    'every connection; messages: every message; does: replace /a(b)/g with "$1", set JSON "/x" to 1, delete JSON "/y", delay it 1500ms, inject "hi" to the client at open, inject "tick" to the server every 5s, close 1000 to both sides, mark "m", drop every 2nd matching message, send each matching message twice, reorder within windows of 3 (held 100ms at most), split data messages into 2 frames, swallow pings, cut TCP after 1m idle, throttle to 10KiB/s toward the server, stop forwarding toClient after 2s (no FIN), strip Upgrade from the handshake, answer CONNECT with 403 except to ports 443',
  );
});

test('handshake and connection faults and injections become the values the edges read', () => {
  const set = ruleSetFrom(`
- name: faults
  actions:
    - stripUpgrade: { inTunnels: false }
    - rejectConnect: 407
    - rejectUpgrade: 503
    - untrustedCert: true
    - stripExtensions: true
    - idleCut: 60s
    - maxLifetime: 5m
    - throttle: { toServer: 10KiB, toClient: 1000 }
    - latency: 200ms
    - buffer: 500ms
    - halfOpen: { direction: toServer, after: 1s }
    - resetAfter: 10
- name: later
  actions:
    - idleCut: 1s
    - inject: { to: client, text: hi, on: open }
    - inject: { to: server, binary: AAEC, every: 30s }
`);
  const c = set.forConnection(FACTS, ['faults', 'later']);
  assert.equal(c.needsRelay, false, 'injections at open and every: go on the passthrough, at message boundaries');
  assert.equal(set.forConnection(FACTS, ['faults']).needsRelay, false, 'faults alone stay on the passthrough');
  assert.deepEqual(c.handshake, {
    stripUpgrade: { rule: 'faults', inTunnels: false },
    rejectConnect: { rule: 'faults', status: 407 },
    rejectUpgrade: { rule: 'faults', status: 503 },
    untrustedCert: { rule: 'faults' },
    stripExtensions: { rule: 'faults' },
  });
  assert.deepEqual(c.connection, {
    idleCut: { rule: 'faults', ms: 60_000 },
    maxLifetime: { rule: 'faults', ms: 300_000 },
    throttle: { rule: 'faults', toUpstream: 10_240, toClient: 1000 },
    latency: { rule: 'faults', ms: 200 },
    buffer: { rule: 'faults', everyMs: 500 },
    halfOpen: { rule: 'faults', direction: 'toUpstream', afterMs: 1000 },
    resetAfter: { rule: 'faults', messages: 10 },
  });
  assert.deepEqual(
    c.injections.map((i) => [i.rule, i.message.direction, i.message.type, i.message.data.toString('hex'), i.everyMs]),
    [
      ['later', 'toClient', 'text', '6869', undefined],
      ['later', 'toUpstream', 'binary', '000102', 30_000],
    ],
  );
});

test('hold: the message carries its hold order (default 30 s, forward); a Close is never held', () => {
  const held = one('[{ hold: true }]').onMessage(text(UP, 'x'));
  assert.deepEqual(held.send[0]?.hold, { rule: 'r', timeoutMs: 30_000, onTimeout: 'forward' });
  assert.deepEqual(held.hits, [{ rule: 'r', action: 'hold', detail: 'held for 30s' }]);
  const dropping = one('[{ hold: { timeout: 2s, onTimeout: drop } }]').onMessage(text(UP, 'x'));
  assert.deepEqual(dropping.send[0]?.hold, { rule: 'r', timeoutMs: 2000, onTimeout: 'drop' });
  const rules = one('[{ hold: true }]');
  assert.equal(rules.needsRelay, true, 'a hold rule relays the connection');
  const close = rules.onMessage(msg(UP, 'close', Buffer.from([0x03, 0xe8])));
  assert.equal(close.send[0]?.hold, undefined);
});
