// IP literals: strict parsing, canonical text (RFC 5952), CIDR membership across mapped forms, address classes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  canonicalHost,
  classifyIp,
  formatIp,
  inCidr,
  isLoopbackHost,
  parseCidr,
  parseIp,
  plainAddress,
} from '../../../src/net/ip.ts';

test('parse and format', () => {
  const cases: [string, string | undefined][] = [
    ['127.0.0.1', '127.0.0.1'],
    ['[::1]', '::1'],
    ['::', '::'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['fe80::1', 'fe80::1'],
    ['256.0.0.1', undefined],
    ['1.2.3', undefined],
    ['01.2.3.4', undefined],
    ['1::2::3', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['fe80::1%eth0', undefined],
    ['example.com', undefined],
    ['12345::', undefined],
  ];
  for (const [text, want] of cases) {
    const ip = parseIp(text);
    assert.equal(ip === undefined ? undefined : formatIp(ip), want, text);
  }
});

test('CIDR membership, including IPv4-mapped IPv6 addresses and ranges', () => {
  const cases: [string, string, boolean][] = [
    ['10.1.2.3', '10.0.0.0/8', true],
    ['11.1.2.3', '10.0.0.0/8', false],
    ['172.31.255.255', '172.16.0.0/12', true],
    ['172.32.0.0', '172.16.0.0/12', false],
    ['::ffff:10.1.2.3', '10.0.0.0/8', true],
    ['10.1.2.3', '::ffff:10.0.0.0/104', true],
    ['fd12::1', 'fc00::/7', true],
    ['fe80::1', 'fc00::/7', false],
    ['1.2.3.4', '0.0.0.0/0', true],
    ['1.2.3.4', '1.2.3.4', true],
    ['::1', '127.0.0.0/8', false],
  ];
  for (const [ip, range, want] of cases)
    assert.equal(inCidr(parseIp(ip)!, parseCidr(range)!), want, `${ip} in ${range}`);
  for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/x', 'a.b/8']) assert.equal(parseCidr(bad), undefined, bad);
});

test('address classes', () => {
  const cases: [string, string][] = [
    ['8.8.8.8', 'public'],
    ['127.0.0.2', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['192.168.0.1', 'private'],
    ['100.100.0.1', 'cgnat'],
    ['169.254.1.1', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['fe80::1', 'link-local'],
    ['fd00::1', 'ula'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['239.1.1.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['2002:7f00:1::', 'loopback'],
    ['2606:4700::1111', 'public'],
  ];
  for (const [ip, cls] of cases) assert.equal(classifyIp(parseIp(ip)!), cls, ip);
});

test('canonical hosts and loopback names', () => {
  assert.equal(canonicalHost('Example.COM.'), 'example.com');
  assert.equal(canonicalHost('[0:0::1]'), '::1');
  for (const host of ['localhost', 'LOCALHOST', 'app.localhost', '127.0.0.1', '127.9.9.9', '::1', '[::1]']) {
    assert.equal(isLoopbackHost(host), true, host);
  }
  for (const host of ['localhost.example', '10.0.0.1', 'example.com', '0.0.0.0']) {
    assert.equal(isLoopbackHost(host), false, host);
  }
});

test('plainAddress: an IPv4-mapped address is its dotted quad, every other address as it was', () => {
  const cases: [string, string][] = [
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['::ffff:7f00:1', '127.0.0.1'],
    ['::FFFF:C000:20A', '192.0.2.10'],
    ['0:0:0:0:0:ffff:192.0.2.1', '192.0.2.1'],
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '::1'],
    ['2001:db8::ffff:1', '2001:db8::ffff:1'],
    // IPv4-compatible (::/96, deprecated) and NAT64 addresses are IPv6 addresses of their own, not mapped ones.
    ['::7f00:1', '::7f00:1'],
    ['64:ff9b::c000:20a', '64:ff9b::c000:20a'],
    ['ffff::1', 'ffff::1'],
    ['', ''],
    ['unknown', 'unknown'],
  ];
  for (const [address, want] of cases) assert.equal(plainAddress(address), want, address);
});
