// Server names: normalising, IP literals, wildcard matching (RFC 6125 §6.4.3), SANs as Node prints them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  isIpAddress,
  matchServerName,
  namesFromSubjectAltName,
  normalizeHost,
  upstreamServerName,
} from '../../../src/tls/names.ts';

test('normalizeHost: case, brackets and the trailing dot', () => {
  assert.equal(normalizeHost('App.Example.TEST.'), 'app.example.test');
  assert.equal(normalizeHost('[::1]'), '::1');
  assert.equal(normalizeHost(' 127.0.0.1 '), '127.0.0.1');
});

test('isIpAddress tells IP literals from DNS names', () => {
  for (const ip of ['127.0.0.1', '10.0.0.255', '::1', '2001:db8::1', 'fe80::1%eth0', '::ffff:127.0.0.1']) {
    assert.equal(isIpAddress(ip), true, ip);
  }
  for (const name of ['localhost', 'example.test', '256.1.1.1', '1.2.3', 'a:b.example', '']) {
    assert.equal(isIpAddress(name), false, name);
  }
});

test('a wildcard covers exactly one left-most label', () => {
  assert.equal(matchServerName('*.example.test', 'a.example.test'), true);
  assert.equal(matchServerName('*.example.test', 'a.b.example.test'), false);
  assert.equal(matchServerName('*.example.test', 'example.test'), false);
  assert.equal(matchServerName('*.Example.test', 'a.example.test'), true);
  assert.equal(matchServerName('a.example.test', 'a.example.test'), true);
  assert.equal(matchServerName('a.example.test', 'b.example.test'), false);
});

test('namesFromSubjectAltName reads DNS names and IPs, quoted or not', () => {
  assert.deepEqual(namesFromSubjectAltName('DNS:a.test, DNS:*.B.test, IP Address:127.0.0.1, IP Address:::1'), {
    dns: ['a.test', '*.b.test'],
    ip: ['127.0.0.1', '::1'],
  });
  assert.deepEqual(namesFromSubjectAltName('DNS:"a,b.test", email:x@y'), { dns: ['a,b.test'], ip: [] });
  assert.deepEqual(namesFromSubjectAltName(undefined), { dns: [], ip: [] });
});

test('upstreamServerName: no SNI for an IP literal, a DNS name without its trailing dot', () => {
  assert.equal(upstreamServerName('127.0.0.1'), undefined);
  assert.equal(upstreamServerName('::1'), undefined);
  assert.equal(upstreamServerName('[::1]'), undefined);
  assert.equal(upstreamServerName('Echo.Example.'), 'echo.example');
  assert.equal(upstreamServerName('echo.example'), 'echo.example');
  assert.equal(upstreamServerName('localhost.'), 'localhost');
});
