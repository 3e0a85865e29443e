// Proxy URLs: credentials become Proxy-Authorization and never show in messages.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProxyUrl } from '../../../src/net/proxy-url.ts';

test('proxy URLs', () => {
  const withCreds = parseProxyUrl('http://us%40er:p%3Ass@proxy.corp:3128');
  assert.ok(withCreds.ok);
  assert.equal(withCreds.url.href, 'http://proxy.corp:3128/');
  assert.equal(withCreds.authorization, `Basic ${Buffer.from('us@er:p:ss').toString('base64')}`);
  const bare = parseProxyUrl('proxy.corp:8080');
  assert.ok(bare.ok && bare.url.href === 'http://proxy.corp:8080/' && bare.authorization === undefined);
  const https = parseProxyUrl('https://proxy.corp');
  assert.ok(https.ok && https.url.protocol === 'https:');
  for (const [text, reason] of [
    ['socks5://u:secret@h:1080', /socks5:\/\/ proxies are not supported \(socks5:\/\/\*\*\*@h:1080\)/],
    ['http://h:3128/path', /no path/],
    ['', /empty/],
    ['http://', /invalid proxy URL/],
  ] as const) {
    const r = parseProxyUrl(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) {
      assert.match(r.message, reason, text);
      assert.doesNotMatch(r.message, /secret/);
    }
  }
});
