// Forward access rules as tables: host patterns, port rules, the default port policy, destination classes, and
// deny ranges applied to resolved addresses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BAD_PORTS,
  compileHostMatcher,
  compilePolicy,
  parseHostPattern,
  parsePortRule,
} from '../../../src/forward/policy.ts';

test('host patterns: exact, *.sub, .domain, addresses, ranges, *', () => {
  const policy = (allowHosts: string[]) => compilePolicy({ allowHosts, destinations: 'any' });
  const cases: [string, string, boolean][] = [
    ['example.com', 'example.com', true],
    ['example.com', 'EXAMPLE.com.', true],
    ['example.com', 'www.example.com', false],
    ['*.example.com', 'www.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'badexample.com', false],
    ['.example.com', 'example.com', true],
    ['.example.com', 'x.example.com', true],
    ['.example.com', 'xexample.com', false],
    ['10.0.0.0/8', '10.1.2.3', true],
    ['10.0.0.0/8', '11.0.0.1', false],
    ['10.1.2.3', '10.1.2.3', true],
    ['::1', '::1', true],
    ['[::1]', '::1', true],
    ['fd00::/8', 'fd12::1', true],
    ['*', 'anything.test', true],
  ];
  for (const [pattern, host, allowed] of cases) {
    assert.equal(policy([pattern]).checkTarget(host, 443).ok, allowed, `${pattern} vs ${host}`);
  }
});

test('invalid host patterns say why', () => {
  for (const [text, reason] of [
    ['example.com:443', /ports go in allowPorts/],
    ['http://example.com', /invalid host pattern/],
    ['*.', /invalid host pattern/],
    ['10.0.0.0/33', /invalid address or range/],
    ['a b', /invalid host pattern/],
  ] as const) {
    const r = parseHostPattern(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.match(r.message, reason, text);
  }
});

test('port rules and the default port policy', () => {
  assert.deepEqual(parsePortRule(443), { ok: true, value: { from: 443, to: 443 } });
  assert.deepEqual(parsePortRule('8000-8999'), { ok: true, value: { from: 8000, to: 8999 } });
  for (const bad of [0, 65536, 1.5, '9000-8000', 'http', '80,443', -1, null]) {
    assert.equal(parsePortRule(bad).ok, false, String(bad));
  }
  const listed = compilePolicy({
    allowPorts: [
      { from: 443, to: 443 },
      { from: 8000, to: 8999 },
    ],
    destinations: 'any',
  });
  assert.deepEqual(
    [443, 8000, 8999, 80, 9000].map((p) => listed.checkTarget('a.test', p).ok),
    [true, true, true, false, false],
  );
  const dflt = compilePolicy({ destinations: 'any' });
  for (const port of [22, 25, 110, 6667]) {
    const v = dflt.checkTarget('a.test', port);
    assert.ok(!v.ok && v.reason === 'port', String(port));
  }
  for (const port of [80, 443, 3000, 8080, 9998]) assert.ok(dflt.checkTarget('a.test', port).ok, String(port));
  assert.ok(BAD_PORTS.has(22) && !BAD_PORTS.has(443));
  // An explicit list wins over the default blocklist.
  assert.ok(compilePolicy({ allowPorts: [{ from: 22, to: 22 }], destinations: 'any' }).checkTarget('a.test', 22).ok);
});

test('denyHosts wins over allowHosts; deny ranges also apply to resolved addresses', () => {
  const p = compilePolicy({
    allowHosts: ['.corp.test'],
    denyHosts: ['admin.corp.test', '10.9.0.0/16'],
    destinations: 'any',
  });
  assert.ok(p.checkTarget('app.corp.test', 443).ok);
  const denied = p.checkTarget('admin.corp.test', 443);
  assert.ok(!denied.ok && denied.reason === 'host');
  assert.ok(p.checksAddresses);
  const resolved = p.checkAddress('app.corp.test', '10.9.1.1');
  assert.ok(!resolved.ok && /resolves to 10\.9\.1\.1, in denyHosts "10\.9\.0\.0\/16"/.test(resolved.detail));
  assert.ok(p.checkAddress('app.corp.test', '10.8.1.1').ok);
  assert.equal(compilePolicy({ destinations: 'any' }).checksAddresses, false);
});

test('destinations: public refuses every non-public class, literal or resolved', () => {
  const p = compilePolicy({ destinations: 'public' });
  const refused = [
    '127.0.0.1',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    'fe80::1',
    'fd00::1',
    '::ffff:10.0.0.1',
    '::ffff:127.0.0.1',
    '64:ff9b::a00:1',
    '224.0.0.1',
    '255.255.255.255',
  ];
  for (const address of refused) {
    const literal = p.checkTarget(address, 443);
    assert.ok(!literal.ok && literal.reason === 'destination', `literal ${address}`);
    const resolved = p.checkAddress('name.test', address);
    assert.ok(!resolved.ok && resolved.reason === 'destination', `resolved ${address}`);
  }
  for (const address of ['93.184.216.34', '2606:4700::1111', '8.8.8.8']) {
    assert.ok(p.checkTarget(address, 443).ok, address);
  }
  const metadata = p.checkAddress('metadata.test', '169.254.169.254');
  assert.ok(!metadata.ok && /metadata\.test \(169\.254\.169\.254\) is a cloud metadata address/.test(metadata.detail));
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
