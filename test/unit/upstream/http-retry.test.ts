// When a failed plain request is sent again (src/upstream/http-retry.ts): never once an answer began or its body was
// read; to the next server when the connection was never made; on a new connection of the same server when a
// kept-alive one was closed under an idempotent request; never for a request that may have been acted on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AttemptOutcome, hasNoBody, MAX_STALE_RETRIES, retryChoice } from '../../../src/upstream/http-retry.ts';

const notConnected: AttemptOutcome = { connected: false, reused: false, answered: false, bodyRead: false };
const sentFresh: AttemptOutcome = { connected: true, reused: false, answered: false, bodyRead: false };
const sentReused: AttemptOutcome = { connected: true, reused: true, answered: false, bodyRead: false };
const left = { untriedServers: 1, staleRetries: 0 };
const code = (c: string) => ({ code: c });

test('a connection never made: the next server, for any method, while one is left', () => {
  for (const c of ['WSG_UPSTREAM_REFUSED', 'WSG_UPSTREAM_TIMEOUT', 'WSG_UPSTREAM_UNREACHABLE', 'WSG_UPSTREAM_DNS']) {
    assert.equal(retryChoice(notConnected, 'POST', code(c), left), 'next-server', c);
  }
  assert.equal(
    retryChoice(notConnected, 'GET', code('WSG_UPSTREAM_REFUSED'), { ...left, untriedServers: 0 }),
    undefined,
  );
  // A certificate or an upstream proxy's refusal says nothing of the server: the next one would say the same.
  assert.equal(retryChoice(notConnected, 'GET', code('WSG_UPSTREAM_CERT'), left), undefined);
  assert.equal(retryChoice(notConnected, 'GET', code('WSG_UPSTREAM_PROXY_REFUSED'), left), undefined);
});

test('a body read for the attempt, or any answer, ends the tries', () => {
  assert.equal(retryChoice({ ...notConnected, bodyRead: true }, 'PUT', code('WSG_UPSTREAM_REFUSED'), left), undefined);
  assert.equal(retryChoice({ ...sentReused, answered: true }, 'GET', code('WSG_UPSTREAM_RESET'), left), undefined);
  assert.equal(retryChoice({ ...sentReused, bodyRead: true }, 'PUT', code('WSG_UPSTREAM_RESET'), left), undefined);
});

test('a request sent and reset before an answer: idempotent methods only', () => {
  for (const method of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']) {
    assert.equal(retryChoice(sentReused, method, code('WSG_UPSTREAM_RESET'), left), 'same-server', method);
    assert.equal(retryChoice(sentFresh, method, code('WSG_UPSTREAM_RESET'), left), 'next-server', method);
  }
  for (const method of ['POST', 'PATCH', 'LOCK', 'get']) {
    assert.equal(retryChoice(sentReused, method, code('WSG_UPSTREAM_RESET'), left), undefined, method);
    assert.equal(retryChoice(sentFresh, method, code('WSG_UPSTREAM_RESET'), left), undefined, method);
  }
  // A timeout after sending is a slow server, not a closed connection: sending again would double its load.
  assert.equal(retryChoice(sentReused, 'GET', code('WSG_UPSTREAM_TIMEOUT'), left), undefined);
  assert.equal(retryChoice(sentFresh, 'GET', code('WSG_UPSTREAM_RESET'), { ...left, untriedServers: 0 }), undefined);
});

test('closed kept-alive connections are given up on after a few in a row', () => {
  const reset = code('WSG_UPSTREAM_RESET');
  assert.equal(
    retryChoice(sentReused, 'GET', reset, { untriedServers: 0, staleRetries: MAX_STALE_RETRIES - 1 }),
    'same-server',
  );
  assert.equal(
    retryChoice(sentReused, 'GET', reset, { untriedServers: 0, staleRetries: MAX_STALE_RETRIES }),
    undefined,
  );
});

test('a request has no body when none is announced or it is empty', () => {
  assert.equal(hasNoBody({}), true);
  assert.equal(hasNoBody({ 'content-length': '0' }), true);
  assert.equal(hasNoBody({ 'content-length': '12' }), false);
  assert.equal(hasNoBody({ 'transfer-encoding': 'chunked' }), false);
});
