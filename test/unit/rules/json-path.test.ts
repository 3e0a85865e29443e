// JSON pointers (RFC 6901) as the config parses them, and reading, setting and deleting by them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseJsonPointer } from '../../../src/config/json-pointer.ts';
import { deleteAt, getAt, type JsonValue, setAt } from '../../../src/rules/json-path.ts';
import { compileRules, ruleSetOf } from '../../../src/rules/rule-set.ts';

test('parseJsonPointer: RFC 6901 tokens and escapes', () => {
  const ok: [string, string[]][] = [
    ['', []],
    ['/', ['']],
    ['/a/0', ['a', '0']],
    ['/a~1b', ['a/b']],
    ['/m~0n', ['m~n']],
    ['/~01', ['~1']],
  ];
  for (const [pointer, tokens] of ok) assert.deepEqual(parseJsonPointer(pointer), { ok: true, tokens }, pointer);
  for (const bad of ['a', 'a/b', '/a~', '/a~2']) assert.equal(parseJsonPointer(bad).ok, false, bad);
});

test('getAt, setAt, deleteAt on objects and arrays (RFC 6901 §4 indices)', () => {
  const doc = (): JsonValue => ({ a: { b: [10, 20] }, '': 1 });
  const t = (p: string) => (parseJsonPointer(p) as { tokens: string[] }).tokens;
  assert.deepEqual(getAt(doc(), t('/a/b/1')), { found: true, value: 20 });
  assert.deepEqual(getAt(doc(), t('/')), { found: true, value: 1 });
  for (const missing of ['/a/b/2', '/a/b/01', '/a/b/-', '/x', '/a/b/0/c']) {
    assert.deepEqual(getAt(doc(), t(missing)), { found: false }, missing);
  }
  const d = doc();
  assert.deepEqual(setAt(d, t('/a/b/-'), 30), { ok: true, doc: { a: { b: [10, 20, 30] }, '': 1 } });
  assert.deepEqual(setAt(doc(), t('/n/e/w'), true), {
    ok: true,
    doc: { a: { b: [10, 20] }, '': 1, n: { e: { w: true } } },
  });
  assert.deepEqual(setAt(doc(), t(''), 5), { ok: true, doc: 5 });
  assert.equal(setAt(doc(), t('/a/b/7'), 1).ok, false);
  const e = doc();
  assert.equal(deleteAt(e, t('/a/b/0')), true);
  assert.deepEqual(e, { a: { b: [20] }, '': 1 });
  assert.equal(deleteAt(e, t('/a/zz')), false);
  assert.equal(deleteAt(e, t('')), false);
});

test('ruleSetOf compiles a config rules list once', () => {
  const rules = Object.freeze([]);
  assert.equal(ruleSetOf(rules), ruleSetOf(rules));
  assert.notEqual(ruleSetOf([]), ruleSetOf([]));
  assert.deepEqual(compileRules([]).names, []);
});
