import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  clientFields,
  type ForwardingHop,
  forwardedElement,
  forwardingFields,
  realClientAddress,
} from '../../../src/http/forwarded.ts';

const hop: ForwardingHop = { peer: '127.0.0.1', proto: 'http', host: 'wsgate.test' };

const lookup =
  (fields: Record<string, string>) =>
  (name: string): string | undefined =>
    fields[name];

test('untrusted: only what wsgate saw, whatever the client claimed', () => {
  assert.deepEqual(forwardingFields(hop), [
    ['x-forwarded-for', '127.0.0.1'],
    ['x-forwarded-proto', 'http'],
    ['x-forwarded-host', 'wsgate.test'],
    ['forwarded', 'for=127.0.0.1;proto=http;host=wsgate.test'],
  ]);
});

test('trusted: the peer’s chain is kept and wsgate’s hop appended; its scheme and host win', () => {
  const received = lookup({
    'x-forwarded-for': '203.0.113.7, 198.51.100.2',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'shop.example',
    forwarded: 'for=203.0.113.7;proto=https;host=shop.example',
  });
  assert.deepEqual(forwardingFields({ ...hop, peer: '10.0.0.5' }, received), [
    ['x-forwarded-for', '203.0.113.7, 198.51.100.2, 10.0.0.5'],
    ['x-forwarded-proto', 'https'],
    ['x-forwarded-host', 'shop.example'],
    ['forwarded', 'for=203.0.113.7;proto=https;host=shop.example, for=10.0.0.5;proto=http;host=wsgate.test'],
  ]);
});

test('trusted peer that sent nothing: the same as untrusted', () => {
  assert.deepEqual(forwardingFields(hop, lookup({ 'x-forwarded-for': '  ' })), forwardingFields(hop));
});

test('Forwarded quotes what is not a token: IPv6 nodes in brackets, host:port, quotes escaped', () => {
  assert.equal(
    forwardedElement({ peer: '::1', proto: 'https', host: 'wsgate.test:8443' }),
    'for="[::1]";proto=https;host="wsgate.test:8443"',
  );
  assert.equal(
    forwardedElement({ peer: '2001:db8::ffff:1', proto: 'http', host: 'a"b\\c' }),
    'for="[2001:db8::ffff:1]";proto=http;host="a\\"b\\\\c"',
  );
  assert.equal(forwardedElement({ peer: '', proto: 'http', host: undefined }), 'for=unknown;proto=http');
});

test('no Host: no X-Forwarded-Host and no host= parameter', () => {
  assert.deepEqual(forwardingFields({ peer: '192.0.2.1', proto: 'http', host: undefined }), [
    ['x-forwarded-for', '192.0.2.1'],
    ['x-forwarded-proto', 'http'],
    ['forwarded', 'for=192.0.2.1;proto=http'],
  ]);
});

test('realClientAddress: the peer unless it is trusted; then X-Forwarded-For from the right past trusted hops', () => {
  const trusted = (a: string) => a.startsWith('10.') || a === '127.0.0.1';
  assert.equal(realClientAddress('203.0.113.9', '1.2.3.4', trusted), '203.0.113.9', 'an untrusted peer is the client');
  assert.equal(realClientAddress('10.0.0.2', '198.51.100.7', trusted), '198.51.100.7');
  // A client that writes its own X-Forwarded-For can only add on the left.
  assert.equal(realClientAddress('10.0.0.2', '6.6.6.6, 198.51.100.7, 10.0.0.5', trusted), '198.51.100.7');
  assert.equal(realClientAddress('10.0.0.2', ' , 10.0.0.7 ', trusted), '10.0.0.7', 'only trusted hops: the leftmost');
  assert.equal(realClientAddress('10.0.0.2', undefined, trusted), '10.0.0.2');
});

test('an IPv4-mapped peer is written as its IPv4 address, in X-Forwarded-For and in for=', () => {
  for (const peer of ['::ffff:127.0.0.1', '::ffff:7f00:1']) {
    assert.deepEqual(forwardingFields({ peer, proto: 'http', host: 'h' }), [
      ['x-forwarded-for', '127.0.0.1'],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-host', 'h'],
      ['forwarded', 'for=127.0.0.1;proto=http;host=h'],
    ]);
  }
  // Appended after a trusted proxy's chain, which is kept as it came.
  const fields = forwardingFields(
    { peer: '::ffff:10.0.0.2', proto: 'http', host: undefined },
    lookup({ 'x-forwarded-for': '::ffff:192.0.2.9' }),
  );
  assert.deepEqual(fields[0], ['x-forwarded-for', '::ffff:192.0.2.9, 10.0.0.2']);
});

test('clientFields writes IPv4-mapped clients and peers as IPv4, and leaves a peer out that is then the client', () => {
  assert.deepEqual(clientFields('::ffff:127.0.0.1', '127.0.0.1'), { client: '127.0.0.1' });
  assert.deepEqual(clientFields('::ffff:192.0.2.1', '::ffff:10.0.0.1'), { client: '192.0.2.1', peer: '10.0.0.1' });
  assert.deepEqual(clientFields('2001:db8::1', '::1'), { client: '2001:db8::1', peer: '::1' });
  assert.deepEqual(clientFields(undefined, undefined), { client: undefined });
});
