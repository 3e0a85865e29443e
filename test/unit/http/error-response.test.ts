import assert from 'node:assert/strict';
import { STATUS_CODES } from 'node:http';
import { test } from 'node:test';
import { ERRORS, WsgateError } from '../../../src/errors.ts';
import { errorBody, errorResponseHead } from '../../../src/http/error-response.ts';
import { parseResponseHead } from '../../../src/http/head.ts';
import { reasonPhrase } from '../../../src/http/status.ts';

test('an error answer: status from the table, coded header, nosniff, Connection: close, extra headers first', () => {
  const err = new WsgateError('WSG_PROXY_AUTH_REQUIRED', {});
  const body = errorBody(err);
  assert.match(body, /^wsgate: .+\n(hint: .+\n)?code: WSG_PROXY_AUTH_REQUIRED\n$/);
  const text = errorResponseHead(err, body, [['Proxy-Authenticate', 'Basic realm="wsgate"']]);
  const parsed = parseResponseHead(Buffer.from(text + body), 16384);
  assert.equal(parsed.state, 'complete');
  if (parsed.state !== 'complete') return;
  assert.equal(parsed.head.statusCode, 407);
  assert.equal(parsed.head.statusMessage, 'Proxy Authentication Required');
  assert.deepEqual(parsed.head.headers, [
    ['Proxy-Authenticate', 'Basic realm="wsgate"'],
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['Content-Length', String(Buffer.byteLength(body))],
    ['X-Content-Type-Options', 'nosniff'],
    ['Connection', 'close'],
    ['X-Wsgate-Error', 'WSG_PROXY_AUTH_REQUIRED'],
  ]);
  assert.equal(parsed.head.length, text.length);
});

test('an error without a status is a 502', () => {
  const err = new WsgateError('WSG_USAGE', { detail: 'x' });
  assert.match(errorResponseHead(err, errorBody(err)), /^HTTP\/1\.1 502 Bad Gateway\r\n/);
});

test('reason phrases agree with node:http for every status in the error table', () => {
  const statuses = new Set(Object.values(ERRORS).flatMap((spec) => ('status' in spec ? [spec.status] : [])));
  assert.ok(statuses.size > 5);
  for (const status of [...statuses, 101, 200, 502])
    assert.equal(reasonPhrase(status), STATUS_CODES[status], `${status}`);
  assert.equal(reasonPhrase(599), 'Error');
});
