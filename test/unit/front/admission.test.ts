import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientCounter, isLoopbackAddress } from '../../../src/front/admission.ts';

test('one client address gets at most `limit` connections; closing frees a slot', () => {
  const counter = new ClientCounter();
  assert.equal(counter.admit('203.0.113.7', 2), true);
  assert.equal(counter.admit('203.0.113.7', 2), true);
  assert.equal(counter.admit('203.0.113.7', 2), false, 'the third is refused');
  assert.equal(counter.admit('198.51.100.1', 2), true, 'other clients are not affected');
  counter.release('203.0.113.7'); // the refused one closes
  counter.release('203.0.113.7');
  assert.equal(counter.admit('203.0.113.7', 2), true);
  counter.release('203.0.113.7');
  counter.release('203.0.113.7');
  counter.release('198.51.100.1');
  assert.equal(counter.size, 0, 'no entries left behind');
});

test('loopback clients are exempt and not even counted', () => {
  const counter = new ClientCounter();
  for (let i = 0; i < 10; i++) assert.equal(counter.admit('127.0.0.1', 1), true);
  assert.equal(counter.admit('::1', 1), true);
  assert.equal(counter.admit('::ffff:127.0.0.1', 1), true);
  assert.equal(counter.size, 0);
  assert.equal(isLoopbackAddress('128.0.0.1'), false);
  assert.equal(isLoopbackAddress('::ffff:10.0.0.1'), false);
});

test('a loopback address in any spelling is loopback: a PROXY header gives IPv4-mapped ones in canonical form', () => {
  for (const address of ['127.0.0.1', '127.9.9.9', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::ffff:7f00:1']) {
    assert.equal(isLoopbackAddress(address), true, address);
  }
  for (const address of ['::2', '::ffff:8000:1', '2001:db8::1', '127.example', 'fe80::1%lo', '']) {
    assert.equal(isLoopbackAddress(address), false, address);
  }
});

test('with exemptLoopback false (limits.exemptLoopbackClients: false) loopback clients are counted like others', () => {
  const counter = new ClientCounter();
  assert.equal(counter.admit('127.0.0.1', 1, false), true);
  assert.equal(counter.admit('127.0.0.1', 1, false), false, 'the second is one over the limit');
  assert.equal(counter.size, 1);
  counter.release('127.0.0.1');
  counter.release('127.0.0.1');
  assert.equal(counter.size, 0, 'released on close');
  counter.release('127.0.0.1');
  assert.equal(counter.size, 0, 'a release of an uncounted address changes nothing');
});
