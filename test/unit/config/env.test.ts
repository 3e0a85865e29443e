// ${VAR} substitution on parsed values: set, default, missing, escape, and what it must not touch.
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} inside plain strings is what is under test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandEnv, substituteEnv } from '../../../src/config/env.ts';
import { loadConfigText } from '../../../src/config/load.ts';
import { failLines } from './helpers.ts';

const env = { HOST: '0.0.0.0', EMPTY: '', PORT: '9000' };
const expand = (text: string) => {
  const r = expandEnv(text, env);
  return r.ok ? r.value : assert.fail(r.messages.join('; '));
};
const problems = (text: string) => {
  const r = expandEnv(text, env);
  return r.ok ? assert.fail(`expected problems, got ${r.value}`) : r.messages;
};

test('a set variable is substituted, anywhere in the string and more than once', () => {
  assert.equal(expand('${HOST}'), '0.0.0.0');
  assert.equal(expand('${HOST}:${PORT}'), '0.0.0.0:9000');
  assert.equal(expand('http://${HOST}/x'), 'http://0.0.0.0/x');
  assert.equal(expand('${EMPTY}'), '');
  assert.equal(expand('no references'), 'no references');
});

test('a default applies when the variable is unset or empty', () => {
  assert.equal(expand('${NOPE:-127.0.0.1}:8080'), '127.0.0.1:8080');
  assert.equal(expand('${EMPTY:-fallback}'), 'fallback');
  assert.equal(expand('${HOST:-fallback}'), '0.0.0.0');
  assert.equal(expand('${NOPE:-}'), '');
  assert.equal(expand('${NOPE:-a:-b}'), 'a:-b');
});

test('a missing variable without a default is an error naming it', () => {
  assert.deepEqual(problems('${WSGATE_X}'), ['environment variable WSGATE_X is not set']);
  assert.deepEqual(problems('${A}-${B}'), ['environment variable A is not set', 'environment variable B is not set']);
});

test('$${ is a literal ${, and a lone $ stays', () => {
  assert.equal(expand('$${HOST}'), '${HOST}');
  assert.equal(expand('cost: $5 and $$'), 'cost: $5 and $$');
  assert.equal(expand('$${HOST} is ${HOST}'), '${HOST} is 0.0.0.0');
});

test('malformed references are reported, not guessed at', () => {
  assert.match(problems('${HOST')[0]!, /unterminated "\$\{"/);
  assert.match(problems('${}')[0]!, /invalid variable reference "\$\{\}"/);
  assert.match(problems('${1ABC}')[0]!, /invalid variable reference/);
  assert.match(problems('${A:-${B}}')[0]!, /nested references are not supported/);
});

test('only string values are substituted; keys, numbers and the input stay untouched', () => {
  const input = { '${HOST}': '${HOST}', list: ['${PORT}', 5, true, null], nested: { a: '${NOPE:-x}' } };
  const r = substituteEnv(input, env);
  assert.deepEqual(r.issues, []);
  assert.deepEqual(r.value, { '${HOST}': '0.0.0.0', list: ['9000', 5, true, null], nested: { a: 'x' } });
  assert.equal(input.list[0], '${PORT}');
});

test('issues carry the path of the value', () => {
  const r = substituteEnv({ a: [{ b: 'x${MISSING}' }] }, env);
  assert.deepEqual(r.issues, [{ path: ['a', 0, 'b'], message: 'environment variable MISSING is not set' }]);
});

test('a variable cannot inject YAML structure: it stays one string', () => {
  const text = 'listeners:\n  - bind: "${EVIL}"\n    routes: [{ upstream: "ws://a:1" }]\n';
  const lines = failLines(() => loadConfigText(text, 'c.yaml', { EVIL: '127.0.0.1:1\n    name: injected' }));
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^c\.yaml:2:11 listeners\[0\]\.bind: invalid address/);
});

test('a missing variable is reported at the line:col of its value', () => {
  const text = 'listeners:\n  - name: web\n    bind: ${WSGATE_X}\n    routes: [{ upstream: "ws://a:1" }]\n';
  assert.deepEqual(
    failLines(() => loadConfigText(text, 'config/wsgate.yaml', {})),
    ['config/wsgate.yaml:3:11 listeners[0].bind: environment variable WSGATE_X is not set'],
  );
  const ok = loadConfigText(text, 'config/wsgate.yaml', { WSGATE_X: '127.0.0.1:0' });
  assert.deepEqual(ok.listeners[0]!.bind, { host: '127.0.0.1', port: 0 });
});
