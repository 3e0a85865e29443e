// reorder maxWait: a window is due `maxWait` after its first message (on the clock of the `now` the relay passes),
// deadline() says when, and expire() releases what it holds then, full or not; a window opened without `now` has no
// deadline (the engine keeps no clock of its own).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DOWN, FACTS, ruleSetFrom, sent, text, UP } from './helpers.ts';

const rules = (yaml: string, seed = 3) => ruleSetFrom(yaml).forConnection(FACTS, ['r'], { seed });

test('reorder maxWait: the deadline is the first message plus maxWait, and expire releases the window then', () => {
  const c = rules('- name: r\n  actions: [{ reorder: { window: 5, maxWait: 200ms } }]');
  assert.equal(c.deadline?.(UP), undefined, 'nothing held, nothing due');
  assert.deepEqual(sent(c.onMessage(text(UP, 'a'), 1000)), []);
  assert.deepEqual(sent(c.onMessage(text(UP, 'b'), 1150)), []);
  assert.deepEqual(sent(c.onMessage(text(UP, 'c'), 1190)), []);
  assert.equal(c.deadline?.(UP), 1200, 'due maxWait after the first message, not the last');
  assert.equal(c.deadline?.(DOWN), undefined, 'per direction');
  const early = c.expire?.(UP, 1199);
  assert.deepEqual(early?.send, [], 'not due yet');
  const v = c.expire?.(UP, 1200);
  assert.ok(v);
  assert.deepEqual([...sent(v)].sort(), ['a', 'b', 'c']);
  assert.notDeepEqual(sent(v), ['a', 'b', 'c'], 'released shuffled, as a full window is');
  assert.equal(v.hits.length, 1);
  assert.equal(v.hits[0]!.rule, 'r');
  assert.equal(v.hits[0]!.action, 'reorder');
  assert.match(v.hits[0]!.detail, /^released 3 after 200ms \(maxWait\) in the order /);
  assert.equal(c.deadline?.(UP), undefined, 'released: nothing due');
  assert.deepEqual(c.flush(UP), [], 'nothing left for the close');
  // The next message opens a new window with its own deadline.
  c.onMessage(text(UP, 'd'), 5000);
  assert.equal(c.deadline?.(UP), 5200);
  const one = c.expire?.(UP, 6000);
  assert.deepEqual(one && sent(one), ['d'], 'one message goes out as it is');
});

test('reorder maxWait defaults to 100ms; a window filled in time is released by the fill, not the deadline', () => {
  const c = rules('- name: r\n  actions: [{ reorder: { window: 2 } }]');
  c.onMessage(text(UP, 'a'), 10);
  assert.equal(c.deadline?.(UP), 110);
  assert.deepEqual([...sent(c.onMessage(text(UP, 'b'), 50))].sort(), ['a', 'b']);
  assert.equal(c.deadline?.(UP), undefined);
  assert.deepEqual(c.expire?.(UP, 1000).send, []);
});

test('reorder without a clock: a window opened without `now` has no deadline and waits for the fill or the close', () => {
  const c = rules('- name: r\n  actions: [{ reorder: { window: 3, maxWait: 10ms } }]');
  c.onMessage(text(UP, 'a'));
  assert.equal(c.deadline?.(UP), undefined);
  assert.deepEqual(c.expire?.(UP, Number.MAX_SAFE_INTEGER).send, []);
  assert.deepEqual(
    c.flush(UP).map((m) => m.data.toString()),
    ['a'],
  );
});

test('reorder maxWait: a bad duration is a config error', () => {
  assert.throws(() => rules('- name: r\n  actions: [{ reorder: { window: 3, maxWait: 0ms } }]'), /longer than 0/);
  assert.throws(() => rules('- name: r\n  actions: [{ reorder: { window: 3, maxWiat: 1s } }]'), /maxWait/);
});
