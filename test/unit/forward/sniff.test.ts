// What the first bytes inside a CONNECT tunnel say: TLS, HTTP/1.x, or opaque; and "not yet" for prefixes that could
// still become either. Every complete input is also fed cut at each offset: a prefix is never decided wrongly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_SNIFF_BYTES, type SniffResult, sniffFirstBytes } from '../../../src/forward/sniff.ts';

const CLIENT_HELLO = Buffer.from('16030100f4010000f00303', 'hex');

test('complete inputs', () => {
  const cases: [string, Buffer, SniffResult][] = [
    ['TLS 1.x ClientHello record', CLIENT_HELLO, 'tls'],
    ['TLS record of SSL 3.0', Buffer.from('160300', 'hex'), 'tls'],
    ['0x16 then not a TLS version', Buffer.from('1604', 'hex'), 'opaque'],
    ['GET request line', Buffer.from('GET /echo HTTP/1.1\r\nHost: a\r\n\r\n'), 'http'],
    ['OPTIONS *', Buffer.from('OPTIONS * HTTP/1.1\r\n'), 'http'],
    ['absolute-form inside', Buffer.from('GET http://a/ HTTP/1.0\r\n'), 'http'],
    ['bare LF', Buffer.from('POST /x HTTP/1.1\n'), 'http'],
    ['custom upper-case method', Buffer.from('PROPFIND /x HTTP/1.1\r\n'), 'http'],
    ['HTTP/2 prior knowledge preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), 'opaque'],
    ['HTTP/2 version', Buffer.from('GET / HTTP/2.0\r\n'), 'opaque'],
    ['lower-case method', Buffer.from('get / HTTP/1.1\r\n'), 'opaque'],
    ['short lower-case word', Buffer.from('ping'), 'opaque'],
    ['SSH banner', Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'), 'opaque'],
    ['binary', Buffer.from([0x00, 0x01, 0x02]), 'opaque'],
    ['request line without version', Buffer.from('GET /\r\n'), 'opaque'],
    ['two spaces', Buffer.from('GET  / HTTP/1.1\r\n'), 'opaque'],
    ['too long a method', Buffer.from(`${'A'.repeat(30)} / HTTP/1.1\r\n`), 'opaque'],
  ];
  for (const [name, bytes, want] of cases) assert.equal(sniffFirstBytes(bytes), want, name);
});

test('prefixes wait, and no prefix is decided differently from the whole', () => {
  const wholes: [Buffer, SniffResult][] = [
    [CLIENT_HELLO, 'tls'],
    [Buffer.from('GET /echo HTTP/1.1\r\n'), 'http'],
    [Buffer.from('PRI * HTTP/2.0\r\n'), 'opaque'],
  ];
  for (const [whole, want] of wholes) {
    for (let cut = 1; cut < whole.length; cut += 1) {
      const got = sniffFirstBytes(whole.subarray(0, cut));
      assert.ok(got === 'incomplete' || got === want, `${whole.toString('latin1')} cut at ${cut}: ${got}`);
    }
    assert.equal(sniffFirstBytes(whole), want);
  }
  assert.equal(sniffFirstBytes(Buffer.alloc(0)), 'incomplete');
  assert.equal(sniffFirstBytes(Buffer.from('GE')), 'incomplete');
  assert.equal(sniffFirstBytes(Buffer.from([0x16])), 'incomplete');
});

test('a request line longer than the sniff window is HTTP (the parser answers 414 itself)', () => {
  const long = Buffer.from(`GET /${'a'.repeat(MAX_SNIFF_BYTES)}`);
  assert.equal(sniffFirstBytes(long), 'http');
});
