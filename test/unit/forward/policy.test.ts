// Forward access rules as tables: host patterns, port rules, the default port policy, destination classes, and
// deny ranges applied to resolved addresses. The grammar of patterns and port rules is tested in test/unit/net/.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePolicy } from '../../../src/forward/policy.ts';
import { BAD_PORTS } from '../../../src/net/ports.ts';

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

test('allowPorts and the default port policy', () => {
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
