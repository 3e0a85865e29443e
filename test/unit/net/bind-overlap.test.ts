// Which listening addresses collide: the same address and port, a wildcard against what it covers, never port 0.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bindsOverlap } from '../../../src/net/bind-overlap.ts';

const at = (host: string, port = 8080) => ({ host, port });

test('the same address collides, however it is written', () => {
  assert.equal(bindsOverlap(at('127.0.0.1'), at('127.0.0.1')), true);
  assert.equal(bindsOverlap(at('[::1]'), at('::1')), true);
  assert.equal(bindsOverlap(at('0:0:0:0:0:0:0:1'), at('::1')), true);
  assert.equal(bindsOverlap(at('LocalHost'), at('localhost')), true);
  assert.equal(bindsOverlap(at('127.0.0.1'), at('127.0.0.1', 8081)), false);
  assert.equal(bindsOverlap(at('127.0.0.1'), at('127.0.0.2')), false);
});

test('0.0.0.0 takes every IPv4 address on its port; :: takes every address', () => {
  assert.equal(bindsOverlap(at('0.0.0.0'), at('127.0.0.1')), true);
  assert.equal(bindsOverlap(at('10.0.0.1'), at('0.0.0.0')), true);
  assert.equal(bindsOverlap(at('0.0.0.0'), at('::1')), false);
  assert.equal(bindsOverlap(at('::'), at('127.0.0.1')), true);
  assert.equal(bindsOverlap(at('::1'), at('[::]')), true);
  assert.equal(bindsOverlap(at('::'), at('localhost')), true);
  assert.equal(bindsOverlap(at('0.0.0.0'), at('::', 8081)), false);
});

test('port 0 never collides: each bind picks a free port', () => {
  assert.equal(bindsOverlap(at('127.0.0.1', 0), at('127.0.0.1', 0)), false);
  assert.equal(bindsOverlap(at('::', 0), at('0.0.0.0', 0)), false);
});

test('localhost is loopback of either family: it collides with 127.0.0.1, ::1 and the wildcards, not with another address', () => {
  assert.equal(bindsOverlap(at('localhost'), at('127.0.0.1')), true);
  assert.equal(bindsOverlap(at('[::1]'), at('localhost')), true);
  assert.equal(bindsOverlap(at('0.0.0.0'), at('localhost')), true);
  assert.equal(bindsOverlap(at('localhost'), at('10.0.0.1')), false);
  assert.equal(bindsOverlap(at('localhost'), at('127.0.0.1', 8081)), false);
  assert.equal(bindsOverlap(at('app.example.test'), at('127.0.0.1')), false);
});

test('an IPv4-mapped address binds the IPv4 address it maps (the kernel refuses the pair with EADDRINUSE)', () => {
  assert.equal(bindsOverlap(at('[::ffff:127.0.0.1]'), at('127.0.0.1')), true);
  assert.equal(bindsOverlap(at('127.0.0.1'), at('::ffff:7f00:1')), true);
  assert.equal(bindsOverlap(at('0.0.0.0'), at('[::ffff:10.0.0.1]')), true);
  assert.equal(bindsOverlap(at('[::ffff:127.0.0.1]'), at('::1')), false);
  assert.equal(bindsOverlap(at('[::ffff:127.0.0.1]'), at('127.0.0.2')), false);
});
