import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProxyHeader } from '../../../src/net/proxy-protocol.ts';
import { localProxyHeader, proxyHeaderFor } from '../../../src/net/proxy-protocol-send.ts';

const ends = (remoteAddress: string, remotePort: number, localAddress: string, localPort: number) => ({
  remoteAddress,
  remotePort,
  localAddress,
  localPort,
});

/** What a receiver makes of the header: parsed whole, nothing left over. */
function received(bytes: Buffer) {
  const parse = parseProxyHeader(bytes);
  assert.equal(parse.kind, 'header');
  if (parse.kind !== 'header') throw new Error('unreachable');
  assert.equal(parse.header.length, bytes.length);
  return parse.header;
}

test('v1: the text line HAProxy send-proxy writes, for IPv4 and IPv6', () => {
  assert.equal(
    proxyHeaderFor('v1', ends('192.0.2.10', 50000, '10.0.0.1', 443)).toString('latin1'),
    'PROXY TCP4 192.0.2.10 10.0.0.1 50000 443\r\n',
  );
  assert.equal(
    proxyHeaderFor('v1', ends('2001:db8::10', 50000, '2001:db8::1', 80)).toString('latin1'),
    'PROXY TCP6 2001:db8::10 2001:db8::1 50000 80\r\n',
  );
});

test('v2: binary, parsed back to the same ends', () => {
  const header = received(proxyHeaderFor('v2', ends('192.0.2.10', 50000, '10.0.0.1', 443)));
  assert.deepEqual(header, {
    version: 2,
    length: 28,
    source: { address: '192.0.2.10', port: 50000, family: 'IPv4' },
    destination: { address: '10.0.0.1', port: 443, family: 'IPv4' },
  });
  const six = received(proxyHeaderFor('v2', ends('2001:db8::10', 1, '::1', 65535)));
  assert.deepEqual([six.source?.address, six.destination?.address, six.length], ['2001:db8::10', '::1', 52]);
});

test('IPv4-mapped addresses from a dual-stack listener travel as IPv4', () => {
  assert.equal(
    proxyHeaderFor('v1', ends('::ffff:192.0.2.10', 50000, '::ffff:127.0.0.1', 8080)).toString('latin1'),
    'PROXY TCP4 192.0.2.10 127.0.0.1 50000 8080\r\n',
  );
});

test('one IPv4 and one IPv6 end: both as IPv6, the IPv4 one mapped', () => {
  const header = received(proxyHeaderFor('v2', ends('192.0.2.10', 50000, '2001:db8::1', 443)));
  assert.equal(header.source?.family, 'IPv6');
  assert.equal(header.source?.address, '::ffff:c000:20a');
  assert.equal(header.destination?.address, '2001:db8::1');
  const v1 = proxyHeaderFor('v1', ends('2001:db8::10', 1, '10.0.0.1', 2)).toString('latin1');
  assert.equal(v1, 'PROXY TCP6 2001:db8::10 ::ffff:a00:1 1 2\r\n');
  assert.equal(received(Buffer.from(v1, 'latin1')).destination?.address, '::ffff:a00:1');
});

test('ends wsgate cannot name (a closed socket, a zone id) and its own connections: UNKNOWN and LOCAL', () => {
  assert.equal(localProxyHeader('v1').toString('latin1'), 'PROXY UNKNOWN\r\n');
  assert.deepEqual(received(localProxyHeader('v2')), { version: 2, length: 16 });
  assert.deepEqual(received(localProxyHeader('v1')), { version: 1, length: 15 });
  assert.equal(proxyHeaderFor('v1', {}).toString('latin1'), 'PROXY UNKNOWN\r\n');
  assert.deepEqual(proxyHeaderFor('v2', ends('fe80::1%eth0', 1, 'fe80::2', 2)), localProxyHeader('v2'));
  assert.deepEqual(
    proxyHeaderFor('v2', { ...ends('192.0.2.1', 1, '10.0.0.1', 2), remotePort: undefined }),
    localProxyHeader('v2'),
  );
});

test('v2 says the client spoke TLS (PP2_TYPE_SSL with its version); v1 has no room for it', () => {
  const tls = { ...ends('192.0.2.10', 50000, '10.0.0.1', 443), tls: true, tlsVersion: 'TLSv1.3' };
  const header = received(proxyHeaderFor('v2', tls));
  assert.equal(header.tls, true);
  assert.equal(header.source?.address, '192.0.2.10');
  assert.equal(received(proxyHeaderFor('v2', ends('192.0.2.10', 1, '10.0.0.1', 2))).tls, undefined);
  assert.equal(proxyHeaderFor('v1', tls).toString('latin1'), 'PROXY TCP4 192.0.2.10 10.0.0.1 50000 443\r\n');
});
