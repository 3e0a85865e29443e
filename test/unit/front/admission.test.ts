import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientCounter, clientKeyOf, isLoopbackAddress } from '../../../src/front/admission.ts';
import { clientKey } from '../../../src/net/ip.ts';

test('one client gets at most `limit` connections; closing frees a slot', () => {
  const counter = new ClientCounter();
  assert.equal(counter.admit('203.0.113.7', 2), true);
  assert.equal(counter.admit('203.0.113.7', 2), true);
  assert.equal(counter.admit('203.0.113.7', 2), false, 'the third is refused');
  assert.equal(counter.admit('198.51.100.1', 2), true, 'other clients are not affected');
  counter.release('203.0.113.7'); // the refused one closes
  counter.release('203.0.113.7');
  assert.equal(counter.admit('203.0.113.7', 2), true);
  counter.release('203.0.113.7');
  counter.release('203.0.113.7');
  counter.release('198.51.100.1');
  assert.equal(counter.size, 0, 'no entries left behind');
  counter.release('203.0.113.7');
  assert.equal(counter.size, 0, 'a release of an uncounted key changes nothing');
});

test('loopback clients are not counted at all unless exemptLoopbackClients is false', () => {
  for (const address of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
    assert.equal(clientKeyOf(address, {}), undefined, address);
    assert.equal(clientKeyOf(address, { exemptLoopbackClients: true }), undefined, address);
  }
  assert.equal(clientKeyOf('127.0.0.1', { exemptLoopbackClients: false }), '127.0.0.1');
  assert.equal(clientKeyOf('::1', { exemptLoopbackClients: false }), '::/64');
  assert.equal(clientKeyOf('::1', { exemptLoopbackClients: false, clientIpv6Prefix: 128 }), '::1');
  assert.equal(isLoopbackAddress('128.0.0.1'), false);
  assert.equal(isLoopbackAddress('::ffff:10.0.0.1'), false);
});

test('a loopback address in any spelling is loopback: a PROXY header gives IPv4-mapped ones in canonical form', () => {
  for (const address of ['127.0.0.1', '127.9.9.9', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::ffff:7f00:1']) {
    assert.equal(isLoopbackAddress(address), true, address);
  }
  for (const address of ['::2', '::ffff:8000:1', '2001:db8::1', '127.example', 'fe80::1%lo', '']) {
    assert.equal(isLoopbackAddress(address), false, address);
  }
});

test('an IPv6 client is its network (a /64 by default): addresses rotated inside it are one client', () => {
  const a = clientKeyOf('2001:db8:1:2::7', {});
  const b = clientKeyOf('2001:db8:1:2:a:b:c:d', {});
  assert.equal(a, '2001:db8:1:2::/64');
  assert.equal(b, a, 'same /64, same client');
  assert.notEqual(clientKeyOf('2001:db8:1:3::7', {}), a, 'the next /64 is another client');
  assert.equal(clientKeyOf('2001:DB8:1:2:0:0:0:7', {}), a, 'any spelling of the address');
  assert.equal(clientKeyOf('2001:db8:1:2::7', { clientIpv6Prefix: 128 }), '2001:db8:1:2::7', '128: the address');
  assert.equal(clientKeyOf('2001:db8:1:2::7', { clientIpv6Prefix: 48 }), '2001:db8:1::/48');
  // A prefix that ends inside a byte keeps only that byte's high bits.
  assert.equal(clientKey('2001:db8:1:ffff::1', 52), '2001:db8:1:f000::/52');
  // IPv4 clients, mapped ones included, are their address whatever the prefix.
  assert.equal(clientKeyOf('203.0.113.7', { clientIpv6Prefix: 32 }), '203.0.113.7');
  assert.equal(clientKeyOf('::ffff:203.0.113.7', {}), '203.0.113.7');
  assert.equal(clientKey('not an address', 64), 'not an address');
});
