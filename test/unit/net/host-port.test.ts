// host:port: what listeners accept, and the one formatter (IPv6 in brackets) every message and CONNECT uses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatHostPort, parseHostPort, unbracketedIpv6Message } from '../../../src/net/host-port.ts';

test('formatHostPort brackets IPv6 and nothing else', () => {
  assert.equal(formatHostPort('127.0.0.1', 8080), '127.0.0.1:8080');
  assert.equal(formatHostPort('example.com', 443), 'example.com:443');
  assert.equal(formatHostPort('::1', 0), '[::1]:0');
  assert.equal(formatHostPort('fe80::1', 80), '[fe80::1]:80');
});

test('parseHostPort reads what formatHostPort writes', () => {
  for (const [host, port] of [
    ['127.0.0.1', 8080],
    ['::1', 0],
    ['localhost', 65535],
    ['2001:db8::5', 443],
  ] as const) {
    assert.deepEqual(parseHostPort(formatHostPort(host, port)), { ok: true, value: { host, port } });
  }
});

test('parseHostPort accepts objects built in code and says what is wrong otherwise', () => {
  assert.deepEqual(parseHostPort({ host: '[::1]', port: '80' }), { ok: true, value: { host: '::1', port: 80 } });
  for (const [input, reason] of [
    ['127.0.0.1', /the port is missing/],
    ['::1:80', /IPv6 address in brackets/],
    ['[::1]80', /expected "\[ipv6\]:port"/],
    ['[zz::1]:80', /invalid IPv6 address/],
    ['a b:80', /invalid host/],
    ['127.0.0.1:65536', /invalid port/],
    [':80', /the host is required/],
    [{ host: 'a', port: 1, extra: 1 }, /unknown key "extra"/],
    [8080, /expected "host:port"/],
  ] as const) {
    const r = parseHostPort(input);
    assert.equal(r.ok, false, JSON.stringify(input));
    if (!r.ok) assert.match(r.message, reason, JSON.stringify(input));
  }
});

test('unbracketedIpv6Message: a URL whose host is an IPv6 address without brackets, and the URL meant', () => {
  const cases: [string, string | undefined][] = [
    ['ws://::1:9000', 'the host "::1:9000" is not bracketed: IPv6 addresses go in brackets, e.g. ws://[::1]:9000'],
    [
      'WSS://fe80::1/chat?x=1',
      'the host "fe80::1" is not bracketed: IPv6 addresses go in brackets, e.g. wss://[fe80::1]',
    ],
    [
      'http://u:p@2001:db8::1:8080/',
      'the host "2001:db8::1:8080" is not bracketed: IPv6 addresses go in brackets, e.g. http://[2001:db8::1]:8080',
    ],
    // Not an address at all: the general example.
    ['ws://a:b:c', 'the host "a:b:c" is not bracketed: IPv6 addresses go in brackets, e.g. ws://[::1]:9000'],
    ['ws://[::1]:9000', undefined],
    ['ws://[::1', undefined],
    ['ws://127.0.0.1:9000', undefined],
    ['ws://u:p@host:1/a:b:c', undefined],
    ['::1:9000', undefined],
  ];
  for (const [url, want] of cases) assert.equal(unbracketedIpv6Message(url), want, url);
});
