// NO_PROXY matching as a table: host suffixes, leading dots and "*.", ports, "*", IP literals and ranges, and the
// implicit loopback bypass that "<-loopback>" turns off.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { noProxyMatch, parseNoProxy } from '../../../src/net/no-proxy.ts';

const list = (text: string) => {
  const parsed = parseNoProxy(text);
  assert.ok(parsed.ok, `invalid: ${parsed.ok ? '' : parsed.invalid.join(', ')}`);
  return parsed.value;
};

test('matching', () => {
  const cases: [string, string, number, boolean][] = [
    ['example.com', 'example.com', 443, true],
    ['example.com', 'api.example.com', 443, true],
    ['example.com', 'EXAMPLE.COM.', 443, true],
    ['example.com', 'badexample.com', 443, false],
    ['.example.com', 'example.com', 443, true],
    ['.example.com', 'a.b.example.com', 443, true],
    ['*.example.com', 'a.example.com', 443, true],
    ['example.com:8080', 'example.com', 8080, true],
    ['example.com:8080', 'example.com', 443, false],
    ['*', 'anything.test', 1, true],
    ['10.1.2.3', '10.1.2.3', 80, true],
    ['10.1.2.3', '10.1.2.4', 80, false],
    ['10.0.0.0/8', '10.200.0.1', 80, true],
    ['10.0.0.0/8', 'ten.example', 80, false],
    ['::1', '[::1]', 80, true],
    ['[2001:db8::1]:8443', '2001:db8:0::1', 8443, true],
    ['[2001:db8::1]:8443', '2001:db8::1', 443, false],
    ['fd00::/8', 'fd00::5', 443, true],
    ['a.test, b.test  c.test', 'c.test', 443, true],
    ['a.test,,b.test', 'b.test', 443, true],
    ['', 'a.test', 443, false],
  ];
  for (const [entries, host, port, want] of cases) {
    assert.equal(
      noProxyMatch(list(`<-loopback>,${entries}`), host, port) !== undefined,
      want,
      `${entries} vs ${host}:${port}`,
    );
  }
});

test('loopback bypasses every proxy unless <-loopback> is listed', () => {
  for (const host of ['localhost', '127.0.0.1', '127.1.2.3', '::1', 'dev.localhost']) {
    assert.match(String(noProxyMatch(list(''), host, 80)), /loopback/, host);
    assert.equal(noProxyMatch(list('<-loopback>'), host, 80), undefined, host);
  }
  assert.match(String(noProxyMatch(list('<-loopback>, 127.0.0.1'), '127.0.0.1', 80)), /"127\.0\.0\.1"/);
});

test('the reason names the entry; invalid entries are reported, valid ones still apply', () => {
  assert.equal(noProxyMatch(list('a.test, .b.test'), 'x.b.test', 1), 'matches no-proxy entry ".b.test"');
  const parsed = parseNoProxy(['http://a.test', 'ok.test', 'a.test:99999', '10.0.0.0/40', '[::1']);
  assert.equal(parsed.ok, false);
  if (!parsed.ok) {
    assert.deepEqual(parsed.invalid, ['http://a.test', 'a.test:99999', '10.0.0.0/40', '[::1']);
    assert.ok(noProxyMatch(parsed.value, 'ok.test', 1) !== undefined);
  }
});
