// Basic proxy authentication: header parsing, every way a header can be wrong, and the challenge.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkProxyAuthorization, parseBasicCredentials, proxyAuthenticate } from '../../../src/forward/auth.ts';

const spec = {
  realm: 'wsgate',
  users: [
    { name: 'alice', password: 'wonder:land' },
    { name: 'bob', password: 'pässwörd' },
  ],
};
const basic = (text: string) => `Basic ${Buffer.from(text, 'utf8').toString('base64')}`;

test('credentials are checked per user, the password may contain ":" and any UTF-8', () => {
  const cases: [string | string[] | undefined, ReturnType<typeof checkProxyAuthorization>][] = [
    [basic('alice:wonder:land'), { ok: true, user: 'alice' }],
    [basic('bob:pässwörd'), { ok: true, user: 'bob' }],
    [`basic ${Buffer.from('alice:wonder:land').toString('base64')}`, { ok: true, user: 'alice' }],
    [basic('alice:wrong'), { ok: false, reason: 'invalid' }],
    [basic('bob:wonder:land'), { ok: false, reason: 'invalid' }],
    [basic('mallory:wonder:land'), { ok: false, reason: 'invalid' }],
    [undefined, { ok: false, reason: 'missing' }],
    ['', { ok: false, reason: 'missing' }],
    ['Bearer abc', { ok: false, reason: 'scheme' }],
    ['Negotiate YIIB', { ok: false, reason: 'scheme' }],
    ['Basic', { ok: false, reason: 'scheme' }],
    ['Basic !!!', { ok: false, reason: 'malformed' }],
    [basic('no-colon'), { ok: false, reason: 'malformed' }],
    [[basic('alice:wonder:land'), basic('bob:pässwörd')], { ok: false, reason: 'malformed' }],
  ];
  for (const [header, want] of cases) assert.deepEqual(checkProxyAuthorization(spec, header), want, String(header));
});

test('parseBasicCredentials splits at the first colon', () => {
  assert.deepEqual(parseBasicCredentials(basic('u:p:q')), { user: 'u', password: 'p:q' });
  assert.deepEqual(parseBasicCredentials(basic(':')), { user: '', password: '' });
});

test('the challenge names the realm (quotes escaped) and the charset', () => {
  assert.equal(proxyAuthenticate('dev proxy'), 'Basic realm="dev proxy", charset="UTF-8"');
  assert.equal(proxyAuthenticate('a"b'), 'Basic realm="a\\"b", charset="UTF-8"');
});
