// The PROXY protocol parser, without sockets: v1 and v2 headers whole and in every split, what each names, and the
// reasons it gives for bytes that are not a header.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatProxyV1,
  formatProxyV2,
  type ProxiedAddress,
  type ProxyHeaderParse,
  parseProxyHeader,
  V1_MAX_BYTES,
  V2_MAX_BYTES,
} from '../../../src/net/proxy-protocol.ts';

const CLIENT4: ProxiedAddress = { address: '203.0.113.7', port: 51234, family: 'IPv4' };
const FRONT4: ProxiedAddress = { address: '198.51.100.1', port: 443, family: 'IPv4' };
const CLIENT6: ProxiedAddress = { address: '2001:db8::7', port: 40000, family: 'IPv6' };
const FRONT6: ProxiedAddress = { address: '2001:db8::1', port: 80, family: 'IPv6' };
const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n');

function header(parse: ProxyHeaderParse) {
  assert.equal(parse.kind, 'header', JSON.stringify(parse));
  return (parse as Extract<ProxyHeaderParse, { kind: 'header' }>).header;
}

function reason(parse: ProxyHeaderParse): string {
  assert.equal(parse.kind, 'invalid', JSON.stringify(parse));
  return (parse as Extract<ProxyHeaderParse, { kind: 'invalid' }>).reason;
}

/** Every proper prefix asks for more; the whole (with the request after it) parses to the same header. */
function assertStreams(bytes: Buffer): void {
  for (let n = 0; n < bytes.length; n++) {
    const parse = parseProxyHeader(bytes.subarray(0, n));
    assert.equal(parse.kind, 'more', `prefix of ${n} bytes`);
    // v2 says how long the header is once its preamble is in, so a reader can wait for that much.
    const need = bytes[0] === 0x0d && n >= 16 ? bytes.length : undefined;
    assert.equal((parse as { need?: number }).need, need, `need after ${n} bytes`);
  }
  const whole = header(parseProxyHeader(Buffer.concat([bytes, REQUEST])));
  assert.equal(whole.length, bytes.length);
}

test('v1 TCP4 and TCP6: the client and the address it reached, the length to skip', () => {
  const v4 = Buffer.from(formatProxyV1(CLIENT4, FRONT4));
  assert.deepEqual(header(parseProxyHeader(Buffer.concat([v4, REQUEST]))), {
    version: 1,
    length: v4.length,
    source: CLIENT4,
    destination: FRONT4,
  });
  const v6 = Buffer.from(formatProxyV1(CLIENT6, FRONT6));
  assert.deepEqual(header(parseProxyHeader(v6)).source, CLIENT6);
  // IPv6 text is given in its canonical form.
  const long = Buffer.from('PROXY TCP6 2001:0db8:0000::0007 2001:db8::1 1 2\r\n');
  assert.equal(header(parseProxyHeader(long)).source?.address, '2001:db8::7');
  assertStreams(v4);
  assertStreams(v6);
});

test('v1 UNKNOWN names no address; the longest line the spec allows is taken', () => {
  assert.deepEqual(header(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))), { version: 1, length: 15 });
  const longest = `PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n`;
  assert.equal(header(parseProxyHeader(Buffer.from(longest))).length, longest.length);
  const max = `PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n`;
  assert.equal(max.length, 104);
  assert.equal(header(parseProxyHeader(Buffer.from(max))).source?.port, 65535);
});

test('v1: what is not a valid line is refused with its reason', () => {
  const cases: [string, RegExp][] = [
    ['PROXY TCP4 203.0.113.7 198.51.100.1 51234\r\n', /needs "PROXY TCP4 source destination sport dport"/],
    ['PROXY TCP4  203.0.113.7 198.51.100.1 1 2\r\n', /single spaces/],
    ['PROXY TCP4 2001:db8::7 198.51.100.1 1 2\r\n', /source address "2001:db8::7" is not an IPv4 address/],
    ['PROXY TCP6 2001:db8::7 198.51.100.1 1 2\r\n', /destination address "198.51.100.1" is not an IPv6/],
    ['PROXY TCP4 203.0.113.7 198.51.100.1 65536 2\r\n', /source port "65536" is not a port/],
    ['PROXY TCP4 203.0.113.7 198.51.100.1 1 08\r\n', /destination port "08" is not a port/],
    ['PROXY TCP4 256.0.0.1 198.51.100.1 1 2\r\n', /source address "256.0.0.1"/],
    ['PROXY UDP4 203.0.113.7 198.51.100.1 1 2\r\n', /protocol "UDP4"; expected TCP4, TCP6 or UNKNOWN/],
    ['PROXY TCP4 203.0.113.7 198.51.100.1 1 2\n', /not a line of printable ASCII ending in CRLF/],
    ['PROXY TCP4 203.0.113.7\r198.51.100.1 1 2\r\n', /ends in CR without LF/],
    ['PROXY TCP4 \x01', /printable ASCII/],
  ];
  for (const [text, expected] of cases) {
    assert.match(reason(parseProxyHeader(Buffer.from(text, 'latin1'))), expected, JSON.stringify(text));
  }
  const endless = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_BYTES)}`);
  assert.match(reason(parseProxyHeader(endless)), /no CRLF within 107 bytes/);
  // 106 bytes without CRLF may still end in one.
  assert.equal(parseProxyHeader(endless.subarray(0, V1_MAX_BYTES - 1)).kind, 'more');
});

test('bytes that start neither version are refused at once, shown printable', () => {
  const http = reason(parseProxyHeader(REQUEST));
  assert.match(
    http,
    /does not start with a PROXY protocol header: "GET \/ HTTP\/1\.1\\x0d\\x0aHost: a\\x0d\\x0a\\x0d\\x0a"/,
  );
  assert.match(reason(parseProxyHeader(Buffer.from([0x16, 0x03, 0x01]))), /"\\x16\\x03\\x01"/);
  // One wrong byte after a right start is enough.
  assert.equal(parseProxyHeader(Buffer.from('PROXX')).kind, 'invalid');
  assert.equal(parseProxyHeader(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x00])).kind, 'invalid');
  assert.equal(parseProxyHeader(Buffer.from('PROX')).kind, 'more');
});

test('v2 PROXY over IPv4 and IPv6, with TLVs skipped', () => {
  const v4 = formatProxyV2(CLIENT4, FRONT4);
  assert.deepEqual(header(parseProxyHeader(Buffer.concat([v4, REQUEST]))), {
    version: 2,
    length: 28,
    source: CLIENT4,
    destination: FRONT4,
  });
  const v6 = formatProxyV2(CLIENT6, FRONT6);
  assert.equal(v6.length, 52);
  assert.deepEqual(header(parseProxyHeader(v6)).source, CLIENT6);
  // An AWS-style TLV (type 0xEA, the VPC endpoint id) and a NOOP: skipped with the header.
  const tlvs = Buffer.concat([Buffer.from([0xea, 0x00, 0x05]), Buffer.from('vpce1'), Buffer.from([0x04, 0x00, 0x00])]);
  const withTlvs = formatProxyV2(CLIENT4, FRONT4, tlvs);
  assert.equal(header(parseProxyHeader(Buffer.concat([withTlvs, REQUEST]))).length, 28 + tlvs.length);
  assertStreams(v4);
  assertStreams(withTlvs);
});

test('v2 LOCAL (a balancer’s health check), UNSPEC and UNIX name no address', () => {
  for (const [byte13, block] of [
    [0x00, 0],
    [0x11, 12],
    [0x31, 216],
  ] as const) {
    const local = formatProxyV2(CLIENT4, FRONT4);
    const bytes = Buffer.concat([local.subarray(0, 16), Buffer.alloc(block)]);
    bytes[12] = 0x20;
    bytes[13] = byte13;
    bytes.writeUInt16BE(block, 14);
    assert.deepEqual(header(parseProxyHeader(bytes)), { version: 2, length: 16 + block }, `LOCAL, family ${byte13}`);
    bytes[12] = 0x21;
    if (byte13 !== 0x11) {
      assert.deepEqual(header(parseProxyHeader(bytes)), { version: 2, length: 16 + block }, `PROXY, family ${byte13}`);
    }
  }
});

test('v2: a wrong version, command, family, transport or length is refused with its reason', () => {
  const good = formatProxyV2(CLIENT4, FRONT4);
  const variant = (offset: number, value: number) => {
    const b = Buffer.from(good);
    b[offset] = value;
    return b;
  };
  assert.match(reason(parseProxyHeader(variant(12, 0x11))), /version 1; expected 2/);
  assert.match(reason(parseProxyHeader(variant(12, 0x22))), /command 2; expected 0 \(LOCAL\) or 1 \(PROXY\)/);
  assert.match(reason(parseProxyHeader(variant(13, 0x41))), /address family 4 is unknown/);
  assert.match(reason(parseProxyHeader(variant(13, 0x13))), /transport protocol 3 is unknown/);
  assert.match(reason(parseProxyHeader(variant(13, 0x12))), /datagram \(UDP\)/);
  const short = Buffer.from(good);
  short.writeUInt16BE(8, 14);
  assert.match(reason(parseProxyHeader(short)), /INET header has 8 address bytes; it needs 12/);
  const long = Buffer.from(good);
  long.writeUInt16BE(V2_MAX_BYTES, 14);
  assert.match(reason(parseProxyHeader(long)), /longer than 4096/);
  // Refused from the preamble alone: nothing waits for a 64 KiB block.
  assert.equal(parseProxyHeader(long.subarray(0, 16)).kind, 'invalid');
});
