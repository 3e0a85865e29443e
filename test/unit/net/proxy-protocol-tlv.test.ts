import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatProxyV2, type ProxiedAddress, parseProxyHeader } from '../../../src/net/proxy-protocol.ts';
import { parseProxyTlvs, sslTlv } from '../../../src/net/proxy-protocol-tlv.ts';

const CLIENT: ProxiedAddress = { address: '203.0.113.7', port: 51234, family: 'IPv4' };
const FRONT: ProxiedAddress = { address: '198.51.100.1', port: 443, family: 'IPv4' };

function tlv(type: number, value: Buffer): Buffer {
  const head = Buffer.from([type, value.length >> 8, value.length & 0xff]);
  return Buffer.concat([head, value]);
}

test('PP2_TYPE_SSL with the client bit: the client spoke TLS; without it, it did not', () => {
  assert.deepEqual(parseProxyTlvs(sslTlv('TLSv1.3')), { tls: true });
  assert.deepEqual(parseProxyTlvs(tlv(0x20, Buffer.from([0, 0, 0, 0, 0]))), { tls: false });
  // The sub-TLV carries the version, as HAProxy writes it.
  const ssl = sslTlv('TLSv1.2');
  assert.equal(ssl[0], 0x20);
  assert.equal(ssl.readUInt16BE(1), 5 + 3 + 'TLSv1.2'.length);
  assert.equal(ssl.subarray(11).toString('latin1'), 'TLSv1.2');
});

test('PP2_TYPE_AUTHORITY is read, unknown TLVs (AWS VPC endpoint 0xEA, CRC32C 0x03, NOOP 0x04) are skipped', () => {
  const bytes = Buffer.concat([
    tlv(0xea, Buffer.from('\x01vpce-0123456789abcdef0', 'latin1')),
    tlv(0x03, Buffer.alloc(4)),
    tlv(0x02, Buffer.from('chat.example.com')),
    tlv(0x04, Buffer.alloc(0)),
  ]);
  assert.deepEqual(parseProxyTlvs(bytes), { authority: 'chat.example.com' });
  assert.deepEqual(parseProxyTlvs(Buffer.alloc(0)), {});
});

test('a TLV that runs past the header, or a header that ends inside one, is refused whole', () => {
  assert.match(String(parseProxyTlvs(Buffer.from([0x02, 0x00, 0x10, 0x61]))), /type 0x02 says 16 bytes; only 1/);
  assert.match(String(parseProxyTlvs(Buffer.from([0x02, 0x00]))), /ends inside a TLV/);
  const parse = parseProxyHeader(formatProxyV2(CLIENT, FRONT, Buffer.from([0x20, 0x00, 0x09, 1])));
  assert.equal(parse.kind, 'invalid');
});

test('a v2 header with TLVs: the addresses and what the TLVs say, and the length of the whole', () => {
  const header = formatProxyV2(CLIENT, FRONT, Buffer.concat([tlv(0x02, Buffer.from('a.test')), sslTlv()]));
  const parse = parseProxyHeader(Buffer.concat([header, Buffer.from('GET / HTTP/1.1\r\n')]));
  assert.deepEqual(parse, {
    kind: 'header',
    header: { version: 2, length: header.length, source: CLIENT, destination: FRONT, authority: 'a.test', tls: true },
  });
});
