import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { formName, originFormOf, parseRequestTarget, type RequestTarget } from '../../../src/http/request-target.ts';

describe('accepted targets, each in its one form', () => {
  const cases: [method: string, target: string, want: RequestTarget][] = [
    ['GET', '/', { form: 'origin', path: '/', query: '' }],
    ['GET', '/a/b?x=1&y', { form: 'origin', path: '/a/b', query: '?x=1&y' }],
    ['GET', '/a?', { form: 'origin', path: '/a', query: '?' }],
    // Query characters URL parsers take as they are (PHP-style arrays, JSON) are not ours to refuse.
    ['GET', '/s?filter[a]=1&q={"x":1}', { form: 'origin', path: '/s', query: '?filter[a]=1&q={"x":1}' }],
    // Percent-encodings are the path canonicaliser's business (reverse routes), not the target's.
    ['GET', '/a%ZZ', { form: 'origin', path: '/a%ZZ', query: '' }],
    ['GET', '/a/../b', { form: 'origin', path: '/a/../b', query: '' }],
    ['GET', '/a//b', { form: 'origin', path: '/a//b', query: '' }],
    [
      'GET',
      'http://example.test/p?q',
      { form: 'absolute', scheme: 'http', authority: 'example.test', path: '/p', query: '?q' },
    ],
    [
      'GET',
      'HTTP://Example.Test:8080',
      { form: 'absolute', scheme: 'http', authority: 'Example.Test:8080', path: '/', query: '' },
    ],
    ['GET', 'ws://h/chat', { form: 'absolute', scheme: 'ws', authority: 'h', path: '/chat', query: '' }],
    ['GET', 'wss://[::1]:9/', { form: 'absolute', scheme: 'wss', authority: '[::1]:9', path: '/', query: '' }],
    ['GET', 'https://h?x', { form: 'absolute', scheme: 'https', authority: 'h', path: '/', query: '?x' }],
    // The path of an absolute-form target is kept as written, for the canonicaliser to judge.
    ['GET', 'http://h/a/../b', { form: 'absolute', scheme: 'http', authority: 'h', path: '/a/../b', query: '' }],
    ['OPTIONS', '*', { form: 'asterisk' }],
    ['CONNECT', 'example.test:443', { form: 'authority', authority: 'example.test:443' }],
    ['CONNECT', '[::1]:8443', { form: 'authority', authority: '[::1]:8443' }],
  ];
  for (const [method, target, want] of cases) {
    test(`${method} ${target}`, () => {
      assert.deepEqual(parseRequestTarget(method, target), { ok: true, target: want });
    });
  }
});

describe('refused targets, with why', () => {
  const cases: [method: string, target: string, detail: RegExp][] = [
    ['GET', '', /empty/],
    ['GET', '/a b', /whitespace/],
    ['GET', '/a\u0000', /control/],
    ['GET', '/\u00e9', /non-ASCII/],
    ['GET', '/a#frag', /fragment/],
    ['GET', '/a?b#c', /fragment/],
    ['GET', '//[', /must not start with "\/\/"/],
    ['GET', '//', /must not start with "\/\/"/],
    ['GET', '//evil.test/x', /must not start with "\/\/"/],
    ['GET', '//host:99999/', /must not start with "\/\/"/],
    ['GET', '*', /OPTIONS only/],
    ['GET', '?x', /expected a path/],
    ['GET', 'x', /expected a path/],
    ['GET', '\\x', /expected a path/],
    ['GET', 'mailto:x', /expected a path/],
    ['GET', 'http:/x', /expected a path/],
    ['GET', 'ftp://h/x', /ftp: scheme is not served/],
    ['GET', 'javascript://h/x', /javascript: scheme is not served/],
    ['GET', 'http://', /no host/],
    ['GET', 'http:///x', /no host/],
    ['GET', 'http://?x', /no host/],
    ['GET', 'http://u:p@h/', /user info/],
    ['GET', 'http://@h/', /user info/],
    ['GET', 'http://h\\x/y', /backslash/],
    ['GET', 'http://[::1', /does not parse/],
    ['GET', 'http://[v1.x]/', /does not parse/],
    ['GET', 'http://host:99999/', /does not parse/],
    ['GET', 'http://%zz/', /does not parse/],
    ['GET', 'http://h%00/', /does not parse/],
    ['GET', 'http://1.2.3.4.5/', /does not parse/],
    ['CONNECT', '/x', /CONNECT takes host:port/],
    ['CONNECT', 'http://h:1/', /CONNECT takes host:port/],
    ['CONNECT', 'h', /CONNECT takes host:port/],
    ['CONNECT', 'u@h:1', /CONNECT takes host:port/],
    ['CONNECT', 'h:0', /between 1 and 65535/],
    ['CONNECT', 'h:70000', /between 1 and 65535/],
    ['CONNECT', '[zz]:1', /CONNECT takes host:port/],
    ['CONNECT', '[::1:1', /CONNECT takes host:port/],
  ];
  for (const [method, target, detail] of cases) {
    test(`${method} ${JSON.stringify(target)}`, () => {
      const result = parseRequestTarget(method, target);
      assert.equal(result.ok, false, JSON.stringify(result));
      if (!result.ok) assert.match(result.detail, detail);
    });
  }
});

test('every accepted origin-form or absolute-form target parses as a URL the way handlers read it', () => {
  for (const target of ['/', '/a%ZZ', '/a//b?x', '/s?q={}', 'http://h:1/a?b', 'ws://[::1]/']) {
    const result = parseRequestTarget('GET', target);
    assert.ok(result.ok);
    const t = result.target;
    assert.ok(t.form === 'origin' || t.form === 'absolute');
    const origin = originFormOf(t);
    // The way in-tunnel and http-proxy-3 read a path: under some origin, never changing that origin.
    assert.equal(new URL(origin, 'http://upstream.test').host, 'upstream.test');
    if (t.form === 'absolute') assert.ok(URL.canParse(target));
  }
});

test('originFormOf: the path and query as received', () => {
  const abs = parseRequestTarget('GET', 'http://h:8/x/./y?q=1');
  assert.ok(abs.ok && (abs.target.form === 'absolute' || abs.target.form === 'origin'));
  assert.equal(originFormOf(abs.target), '/x/./y?q=1');
});

test('formName names the RFC 9112 forms', () => {
  assert.equal(formName('asterisk'), 'asterisk-form (*)');
  assert.equal(formName('origin'), 'origin-form (/path)');
});

test('request-target.ts stays pure: no sockets, file system or timers', () => {
  const source = readFileSync(new URL('../../../src/http/request-target.ts', import.meta.url), 'utf8');
  assert.doesNotMatch(source, /from 'node:(net|fs|tls|http|timers)/);
  assert.doesNotMatch(source, /setTimeout|setInterval/);
});
