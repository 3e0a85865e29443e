// limits.maxHandshakesPerSecond as a token bucket (src/front/handshake-rate.ts): a second's worth at once, refilled
// continuously, refusals coded WSG_HANDSHAKE_RATE with Retry-After, and logged once when they start and then once a
// second with a count, never once per refusal.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HandshakeRate } from '../../../src/front/handshake-rate.ts';
import { errorResponseHead } from '../../../src/http/error-response.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { LogCapture } from '../../helpers/wsgate.ts';

function rate() {
  const logs = new LogCapture();
  return { logs, bucket: new HandshakeRate('web', createLogger({ level: 'debug', format: 'json', stream: logs })) };
}

test('no limit (0) admits everything', () => {
  const { bucket } = rate();
  for (let i = 0; i < 10_000; i++) assert.equal(bucket.admit(0, 0), undefined);
});

test('a second’s worth at once, then one per 1/rate seconds', () => {
  const { bucket } = rate();
  const admitted = (now: number) => bucket.admit(now, 5) === undefined;
  assert.deepEqual(
    [0, 0, 0, 0, 0, 0].map(() => admitted(1000)),
    [true, true, true, true, true, false],
  );
  assert.equal(admitted(1100), false, 'half a token after 100 ms');
  assert.equal(admitted(1200), true, 'one token after 200 ms');
  assert.equal(admitted(1200), false);
  // A long quiet spell refills to a second's worth, no more.
  assert.deepEqual(
    Array.from({ length: 7 }, () => admitted(60_000)),
    [true, true, true, true, true, false, false],
  );
});

test('a refusal is WSG_HANDSHAKE_RATE, 503 with Retry-After: 1; logged once, then counted once a second', async () => {
  const { bucket, logs } = rate();
  bucket.admit(0, 1);
  const err = bucket.admit(0, 1);
  assert.equal(err?.code, 'WSG_HANDSHAKE_RATE');
  assert.equal(err?.status, 503);
  assert.match(errorResponseHead(err!, ''), /^HTTP\/1\.1 503 Service Unavailable\r\nRetry-After: 1\r\n/);
  for (let i = 0; i < 99; i++) bucket.admit(0, 1);
  assert.equal(logs.events('upgrade.rate_limited').length, 1);
  await new Promise((r) => setTimeout(r, 1100));
  const lines = logs.events('upgrade.rate_limited');
  assert.equal(lines.length, 2);
  assert.deepEqual({ refused: lines[1]!['refused'], level: lines[1]!['level'] }, { refused: 99, level: 'warn' });
  // Quiet afterwards: the next second's report finds nothing and writes nothing.
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal(logs.events('upgrade.rate_limited').length, 2);
});
