// Host patterns (allowHosts, denyHosts, intercept): what parses, what is refused and why, and what matches.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileHostMatcher, parseHostPattern } from '../../../src/net/host-pattern.ts';

test('invalid host patterns say why', () => {
  for (const [text, reason] of [
    ['example.com:443', /ports go in allowPorts/],
    ['http://example.com', /invalid host pattern/],
    ['*.', /invalid host pattern/],
    ['10.0.0.0/33', /invalid address or range/],
    ['a b', /invalid host pattern/],
    ['[1.2.3.4]', /an IPv4 address goes without brackets/],
    ['[10.0.0.0/8]', /brackets hold an IPv6 address/],
  ] as const) {
    const r = parseHostPattern(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.match(r.message, reason, text);
  }
});

test('an IPv6 address or range may be bracketed', () => {
  for (const text of ['[::1]', '[2001:db8::/32]']) assert.equal(parseHostPattern(text).ok, true, text);
});

test('forward.intercept patterns match the CONNECT host as named; an empty list matches nothing', () => {
  const matches = compileHostMatcher(['chat.example.com', '*.example.test', '.corp.test', '10.0.0.0/8', '::1']);
  const cases: [string, boolean][] = [
    ['chat.example.com', true],
    ['CHAT.example.com.', true],
    ['www.chat.example.com', false],
    ['a.example.test', true],
    ['example.test', false],
    ['corp.test', true],
    ['x.y.corp.test', true],
    ['10.1.2.3', true],
    ['11.1.2.3', false],
    ['[::1]', true],
    ['::1', true],
    ['other.test', false],
  ];
  for (const [host, expected] of cases) assert.equal(matches(host), expected, host);
  assert.equal(compileHostMatcher([])('anything.test'), false);
  assert.equal(compileHostMatcher(['*'])('anything.test'), true);
});
