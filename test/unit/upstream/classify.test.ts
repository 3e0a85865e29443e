// How dialing failures map to codes. DNS failures are built by hand here: a test must not make the
// machine's resolver send queries off the host.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyUpstreamError } from '../../../src/upstream/connect.ts';

const target = { name: 'app', url: new URL('http://app.internal.test:3000') };
const errno = (code: string) => Object.assign(new Error(code), { code });

test('socket error codes map to stable wsgate codes and statuses', () => {
  const cases: [string, string, number][] = [
    ['ECONNREFUSED', 'WSG_UPSTREAM_REFUSED', 502],
    ['ENOTFOUND', 'WSG_UPSTREAM_DNS', 502],
    ['EAI_AGAIN', 'WSG_UPSTREAM_DNS', 502],
    ['ETIMEDOUT', 'WSG_UPSTREAM_TIMEOUT', 504],
    ['ECONNECT_TIMEOUT', 'WSG_UPSTREAM_TIMEOUT', 504],
    ['ECONNRESET', 'WSG_UPSTREAM_RESET', 502],
    ['EHOSTUNREACH', 'WSG_UPSTREAM_UNREACHABLE', 502],
    // The upstream answered, in a way no parser takes: Node's llhttp codes, and undici's own.
    ['HPE_HEADER_OVERFLOW', 'WSG_UPSTREAM_BAD_RESPONSE', 502],
    ['HPE_UNEXPECTED_CONTENT_LENGTH', 'WSG_UPSTREAM_BAD_RESPONSE', 502],
    ['UND_ERR_HEADERS_OVERFLOW', 'WSG_UPSTREAM_BAD_RESPONSE', 502],
    ['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'WSG_UPSTREAM_BAD_RESPONSE', 502],
  ];
  for (const [code, expected, status] of cases) {
    const err = classifyUpstreamError(errno(code), target, 10_000);
    assert.equal(err.code, expected, code);
    assert.equal(err.status, status, code);
  }
});

test('messages name the upstream, host or timeout so a user can act', () => {
  assert.match(classifyUpstreamError(errno('ENOTFOUND'), target, 1).message, /app\.internal\.test/);
  assert.match(classifyUpstreamError(errno('ECONNREFUSED'), target, 1).message, /upstream app refused/);
  assert.match(classifyUpstreamError(errno('ETIMEDOUT'), target, 1500).message, /1500ms/);
  assert.match(classifyUpstreamError(errno('ETIMEDOUT'), target, 2000).message, /2s/);
});
