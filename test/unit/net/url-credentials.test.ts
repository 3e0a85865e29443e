import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REDACTED, redactUrlPassword, redactUserinfo } from '../../../src/net/url-credentials.ts';

test('messages drop the whole userinfo of a URL', () => {
  assert.equal(redactUserinfo('http://user:pw@h:1/'), 'http://***@h:1/');
  assert.equal(redactUserinfo('user:pw@h:1'), '***@h:1');
  assert.equal(redactUserinfo('http://h:1/'), 'http://h:1/');
});

test('printed config keeps the user of a URL and hides its password', () => {
  assert.equal(REDACTED, '[redacted]');
  assert.equal(redactUrlPassword('http://alice:s3cret@proxy.test:3128'), 'http://alice:[redacted]@proxy.test:3128');
  assert.equal(redactUrlPassword('https://:tok@proxy.test'), 'https://:[redacted]@proxy.test');
  assert.equal(redactUrlPassword('http://alice@proxy.test'), 'http://alice@proxy.test', 'no password, nothing hidden');
  assert.equal(redactUrlPassword('not a url: a:b@c'), 'not a url: a:b@c');
});
