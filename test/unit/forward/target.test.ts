// CONNECT targets and absolute-form authorities: accepted forms normalised as a browser would (so policy sees the
// address that is dialed), and every malformed shape of hostile-cases 1-4 refused with a reason.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAbsoluteTarget, parseConnectTarget } from '../../../src/forward/target.ts';

test('valid CONNECT targets, normalised', () => {
  const cases: [string, string, number, string][] = [
    ['example.com:443', 'example.com', 443, 'name'],
    ['Example.COM:8443', 'example.com', 8443, 'name'],
    ['example.com.:443', 'example.com', 443, 'name'],
    ['a_b.internal:1', 'a_b.internal', 1, 'name'],
    ['127.0.0.1:65535', '127.0.0.1', 65535, 'ipv4'],
    ['[::1]:443', '::1', 443, 'ipv6'],
    ['[2001:DB8:0:0:0:0:0:1]:443', '2001:db8::1', 443, 'ipv6'],
    ['[::ffff:127.0.0.1]:443', '::ffff:7f00:1', 443, 'ipv6'],
    // Numeric IPv4 spellings that getaddrinfo accepts become the address they mean.
    ['2130706433:443', '127.0.0.1', 443, 'ipv4'],
    ['0x7f.1:443', '127.0.0.1', 443, 'ipv4'],
    ['127.1:443', '127.0.0.1', 443, 'ipv4'],
    ['017700000001:443', '127.0.0.1', 443, 'ipv4'],
  ];
  for (const [input, host, port, kind] of cases) {
    const r = parseConnectTarget(input);
    assert.ok(r.ok, `${input}: ${r.ok ? '' : r.detail}`);
    assert.deepEqual([r.target.host, r.target.port, r.target.kind], [host, port, kind], input);
  }
  const v6 = parseConnectTarget('[::1]:443');
  assert.ok(v6.ok && v6.target.authority === '[::1]:443');
});

test('malformed CONNECT targets are refused with a reason', () => {
  const cases: [string, RegExp][] = [
    ['example.test', /port is missing/],
    ['example.test:', /invalid port ""/],
    ['example.test:0', /invalid port "0"/],
    ['example.test:65536', /invalid port "65536"/],
    ['example.test:-1', /invalid port "-1"/],
    ['example.test:443x', /invalid port "443x"/],
    ['example.test:+443', /invalid port/],
    ['http://example.test:443/', /not a URL/],
    ['example.test:443/path', /without a path/],
    ['example.test:443?x', /without a path/],
    ['user@example.test:443', /user info/],
    ['[::1:443', /closing "\]"/],
    ['[::1]443', /expected ":port"/],
    ['[::1]', /port is missing/],
    ['[fe80::1%eth0]:443', /not an IPv6 address/],
    ['[127.0.0.1]:443', /not an IPv6 address/],
    ['::1:443', /IPv6 address in brackets/],
    ['ex ample:443', /whitespace or control/],
    ['a\x00b:443', /whitespace or control/],
    ['a\tb:443', /whitespace or control/],
    [':443', /host/],
    ['*:443', /DNS name/],
    ['exa$mple:443', /DNS name/],
    ['-lead.test:443', /DNS name/],
    ['a..b:443', /DNS name/],
    [`${'a'.repeat(64)}.test:443`, /DNS name/],
    ['99999999999:443', /IPv4/],
    ['', /empty/],
  ];
  for (const [input, reason] of cases) {
    const r = parseConnectTarget(input);
    assert.equal(r.ok, false, JSON.stringify(input));
    if (!r.ok) assert.match(r.detail, reason, JSON.stringify(input));
  }
});

test('absolute-form targets: scheme, default port, authority; user info and other schemes refused', () => {
  const ok: [string, string, number, string][] = [
    ['http://a.test/x?y', 'a.test', 80, 'http'],
    ['https://A.test:8443/', 'a.test', 8443, 'https'],
    ['ws://[::1]:9000/chat', '::1', 9000, 'ws'],
    ['wss://b.test/', 'b.test', 443, 'wss'],
    ['http://2130706433:8080/', '127.0.0.1', 8080, 'http'],
  ];
  for (const [input, host, port, scheme] of ok) {
    const r = parseAbsoluteTarget(input);
    assert.ok(r.ok, input);
    assert.deepEqual([r.target.host, r.target.port, r.target.scheme], [host, port, scheme], input);
  }
  for (const input of ['ftp://a.test/', 'http://user:pw@a.test/', '/relative', 'http://exa mple/', 'http://[::1/']) {
    assert.equal(parseAbsoluteTarget(input).ok, false, input);
  }
});
