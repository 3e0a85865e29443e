import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cidrsContain, compileCidrs, formatCidr, parseCidrRange } from '../../../src/net/cidr.ts';

function ok(text: string): string {
  const parsed = parseCidrRange(text);
  assert.ok(parsed.ok, `${text}: ${parsed.ok ? '' : parsed.message}`);
  return formatCidr(parsed.value);
}

function refused(text: string): string {
  const parsed = parseCidrRange(text);
  assert.equal(parsed.ok, false, `${text} was accepted`);
  return parsed.ok ? '' : parsed.message;
}

test('IPv4 and IPv6 ranges, and single addresses as /32 and /128', () => {
  assert.equal(ok('10.0.0.0/8'), '10.0.0.0/8');
  assert.equal(ok('192.0.2.7'), '192.0.2.7/32');
  assert.equal(ok('0.0.0.0/0'), '0.0.0.0/0');
  assert.equal(ok('2001:DB8::/32'), '2001:db8::/32');
  assert.equal(ok('::1'), '::1/128');
  assert.equal(ok('::/0'), '::/0');
  assert.equal(ok('::ffff:192.0.2.0/120'), '::ffff:c000:200/120');
});

test('malformed ranges are refused with a message that names the text', () => {
  assert.match(refused('10.0.0.0/33'), /"10\.0\.0\.0\/33": the prefix length of an IPv4 range is 0 to 32/);
  assert.match(refused('fd00::/129'), /IPv6 range is 0 to 128/);
  assert.match(refused('10.0.0.0/'), /prefix length/);
  assert.match(refused('10.0.0.0/-1'), /prefix length/);
  assert.match(refused('10.0.0.0/8/8'), /prefix length/);
  assert.match(refused('10.0.0/8'), /is not an IP address or CIDR range/);
  assert.match(refused('example.com/24'), /is not an IP address/);
  assert.match(refused('[::1]/128'), /is not an IP address/);
  assert.match(refused('127.1'), /is not an IP address/);
  assert.match(refused(''), /is not an IP address/);
  assert.match(refused('fe80::1%eth0/64'), /zone ids/);
});

test('host bits below the prefix are refused, with the range that was probably meant', () => {
  assert.match(refused('10.1.2.3/8'), /bits set below its \/8 prefix; did you mean "10\.0\.0\.0\/8"\?/);
  assert.match(refused('2001:db8::1/32'), /did you mean "2001:db8::\/32"/);
  assert.match(refused('192.168.1.129/25'), /did you mean "192\.168\.1\.128\/25"/);
  assert.equal(ok('192.168.1.128/25'), '192.168.1.128/25');
});

test('a socket address matches IPv4, IPv6 and IPv4-mapped ranges', () => {
  const ranges = compileCidrs(['10.0.0.0/8', '2001:db8::/32', '::ffff:192.0.2.0/120', 'fe80::/10']);
  assert.equal(cidrsContain(ranges, '10.200.3.4'), true);
  assert.equal(cidrsContain(ranges, '11.0.0.1'), false);
  // A dual-stack listener reports IPv4 peers as IPv4-mapped IPv6.
  assert.equal(cidrsContain(ranges, '::ffff:10.0.0.1'), true);
  assert.equal(cidrsContain(ranges, '::ffff:11.0.0.1'), false);
  assert.equal(cidrsContain(ranges, '2001:db8:1::5'), true);
  assert.equal(cidrsContain(ranges, '2001:db9::5'), false);
  // A mapped range matches the IPv4 peer it maps, however the peer is written.
  assert.equal(cidrsContain(ranges, '192.0.2.44'), true);
  assert.equal(cidrsContain(ranges, '::ffff:192.0.2.44'), true);
  assert.equal(cidrsContain(ranges, '192.0.3.1'), false);
  // Link-local peers carry their zone.
  assert.equal(cidrsContain(ranges, 'fe80::1%eth0'), true);
});

test('no ranges, no address, or not an address: not trusted', () => {
  assert.equal(cidrsContain([], '127.0.0.1'), false);
  assert.equal(cidrsContain(compileCidrs(['0.0.0.0/0']), undefined), false);
  assert.equal(cidrsContain(compileCidrs(['0.0.0.0/0']), 'localhost'), false);
  assert.equal(cidrsContain(compileCidrs(['0.0.0.0/0']), '203.0.113.1'), true);
  assert.equal(cidrsContain(compileCidrs(['127.0.0.1']), '127.0.0.2'), false);
  assert.throws(() => compileCidrs(['10.0.0.1/8']), /did you mean/);
});
