import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createUrlRedactor,
  DEFAULT_REDACTED_QUERY_PARAMS,
  looksLikeToken,
  REDACTED,
  redactUrlPassword,
  redactUserinfo,
} from '../../../src/net/url-credentials.ts';

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

test('a user without a password is kept unless it is a token', () => {
  assert.equal(
    redactUrlPassword('https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/x.git'),
    'https://[redacted]@github.com/x.git',
  );
  assert.equal(
    redactUrlPassword('https://x-access-token:ghp_abc@github.com'),
    'https://x-access-token:[redacted]@github.com',
  );
});

test('the userinfo runs to the last @ of the authority, anywhere in a text', () => {
  assert.equal(redactUrlPassword('http://a:p@ss@host/x'), 'http://a:[redacted]@host/x');
  assert.equal(
    redactUrlPassword('GET http://u:one@h1/ then ws://v:two@h2/p?q=a@b'),
    'GET http://u:[redacted]@h1/ then ws://v:[redacted]@h2/p?q=a@b',
  );
  // Inside a JSON line: an escaped quote does not end the userinfo, a raw one ends the string.
  assert.equal(
    redactUrlPassword('{"url":"http://a\\"b:pw@h/","x":"mail@example.test"}'),
    '{"url":"http://a\\"b:[redacted]@h/","x":"mail@example.test"}',
  );
});

test('createUrlRedactor hides the named query parameters, case-insensitively, and userinfo', () => {
  const redact = createUrlRedactor();
  assert.deepEqual(DEFAULT_REDACTED_QUERY_PARAMS.includes('access_token'), true);
  assert.equal(redact('/ws?token=abc&x=1&API_KEY=2&ApiKey=3'), '/ws?token=[redacted]&x=1&API_KEY=2&ApiKey=[redacted]');
  assert.equal(redact('http://u:p@h/?sig=s1#frag'), 'http://u:[redacted]@h/?sig=[redacted]#frag');
  assert.equal(redact('{"path":"/a?Token=t\\"q&b=1"}'), '{"path":"/a?Token=[redacted]&b=1"}');
  assert.equal(redact('no query: token=abc'), 'no query: token=abc', 'only after ? or &');
  const custom = createUrlRedactor(['session']);
  assert.equal(custom('/x?session=s&token=t'), '/x?session=[redacted]&token=t');
  assert.equal(createUrlRedactor([])('/x?token=t'), '/x?token=t');
});

test('looksLikeToken: long mixed letters-and-digits parts, not protocol names', () => {
  for (const token of [
    'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig',
    'ghp_16C7e42F292c6912E7710c838347Ae178B4a',
    '0123456789abcdef0123456789abcdef',
  ]) {
    assert.ok(looksLikeToken(token), token);
  }
  for (const name of [
    'base64.binary.k8s.io',
    'graphql-transport-ws',
    'v12.stomp',
    'alice',
    'wamp.2.json',
    'a b c d e f g h i j k 1',
  ]) {
    assert.ok(!looksLikeToken(name), name);
  }
});

test('createUrlRedactor also hides user:password@ of an authority without a scheme (a CONNECT target)', () => {
  const redact = createUrlRedactor();
  assert.equal(redact('CONNECT user:pw@example.test:443'), 'CONNECT user:[redacted]@example.test:443');
  assert.equal(
    redact('{"target":"u:p@ss@h:443","msg":"invalid CONNECT target \\"u:p@ss@h:443\\""}'),
    '{"target":"u:[redacted]@h:443","msg":"invalid CONNECT target \\"u:[redacted]@h:443\\""}',
  );
  assert.equal(redact('mail alice@example.test'), 'mail alice@example.test', 'no password, nothing hidden');
  assert.equal(redact('http://u:[redacted]@h/'), 'http://u:[redacted]@h/', 'already redacted stays as it is');
});
