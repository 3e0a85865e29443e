// limits.maxHandshakesPerSecond and maxHandshakesPerClientPerSecond as token buckets (src/front/handshake-rate.ts): a
// second's worth at once, refilled continuously, refusals coded WSG_HANDSHAKE_RATE (503) or WSG_HANDSHAKE_CLIENT_RATE
// (429) with Retry-After, logged once when they start and then once a second with a count, never once per refusal;
// a client over its own limit does not use up the listener's; loopback exempt unless told; idle clients forgotten.
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
  for (let i = 0; i < 10_000; i++) assert.equal(bucket.admit(0, {}, '10.0.0.1'), undefined);
});

test('a second’s worth at once, then one per 1/rate seconds', () => {
  const { bucket } = rate();
  const admitted = (now: number) => bucket.admit(now, { maxHandshakesPerSecond: 5 }, '10.0.0.1') === undefined;
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
  bucket.admit(0, { maxHandshakesPerSecond: 1 }, '10.0.0.1');
  const err = bucket.admit(0, { maxHandshakesPerSecond: 1 }, '10.0.0.1');
  assert.equal(err?.code, 'WSG_HANDSHAKE_RATE');
  assert.equal(err?.status, 503);
  assert.match(errorResponseHead(err!, ''), /^HTTP\/1\.1 503 Service Unavailable\r\nRetry-After: 1\r\n/);
  for (let i = 0; i < 99; i++) bucket.admit(0, { maxHandshakesPerSecond: 1 }, '10.0.0.1');
  assert.equal(logs.events('upgrade.rate_limited').length, 1);
  await new Promise((r) => setTimeout(r, 1100));
  const lines = logs.events('upgrade.rate_limited');
  assert.equal(lines.length, 2);
  assert.deepEqual({ refused: lines[1]!['refused'], level: lines[1]!['level'] }, { refused: 99, level: 'warn' });
  // Quiet afterwards: the next second's report finds nothing and writes nothing.
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal(logs.events('upgrade.rate_limited').length, 2);
});

test('per client: one address over its limit gets 429, others go on, and it does not use up the listener', async () => {
  const { bucket, logs } = rate();
  const limits = { maxHandshakesPerSecond: 10, maxHandshakesPerClientPerSecond: 2 };
  const loop = Array.from({ length: 6 }, () => bucket.admit(0, limits, '10.0.0.9')?.code);
  assert.deepEqual(loop, [undefined, undefined, ...Array(4).fill('WSG_HANDSHAKE_CLIENT_RATE')]);
  const err = bucket.admit(0, limits, '10.0.0.9');
  assert.equal(err?.status, 429);
  assert.match(errorResponseHead(err!, ''), /^HTTP\/1\.1 429 Too Many Requests\r\nRetry-After: 1\r\n/);
  // Eight more clients, one handshake each: the listener had 10, the looping client took only its 2.
  const others = Array.from({ length: 8 }, (_, i) => bucket.admit(0, limits, `10.0.1.${i}`));
  assert.deepEqual(others, Array(8).fill(undefined));
  assert.equal(bucket.admit(0, limits, '10.0.2.1')?.code, 'WSG_HANDSHAKE_RATE', 'then the listener is full');
  // Its bucket refills like the listener's.
  assert.equal(bucket.admit(500, limits, '10.0.0.9'), undefined, 'one token after half a second');
  const first = logs.events('upgrade.client_rate_limited');
  assert.deepEqual([first.length, first[0]?.['client'], first[0]?.['limit']], [1, '10.0.0.9', 2]);
  await new Promise((r) => setTimeout(r, 1100));
  const summary = logs.events('upgrade.client_rate_limited')[1];
  assert.deepEqual([summary?.['refused'], summary?.['clients'], summary?.['client']], [4, 1, undefined]);
});

test('per client: loopback is exempt unless exemptLoopbackClients is false; idle clients are forgotten', () => {
  const { bucket } = rate();
  const limits = { maxHandshakesPerClientPerSecond: 1 };
  for (const address of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
    assert.deepEqual(
      [0, 1, 2].map(() => bucket.admit(0, limits, address)),
      [undefined, undefined, undefined],
      address,
    );
  }
  const counted = { ...limits, exemptLoopbackClients: false };
  assert.equal(bucket.admit(0, counted, '127.0.0.1'), undefined);
  assert.equal(bucket.admit(0, counted, '127.0.0.1')?.code, 'WSG_HANDSHAKE_CLIENT_RATE');
  for (let i = 0; i < 1000; i++) bucket.admit(10, limits, `10.1.${i >> 8}.${i & 255}`);
  assert.equal(bucket.trackedClients, 1001);
  // A second later every bucket is full again: the next handshake's sweep drops them.
  bucket.admit(2000, limits, '10.9.9.9');
  assert.equal(bucket.trackedClients, 1);
});

test('per client: an IPv6 client rotating addresses inside its /64 is one client; the next /64 is another', async () => {
  const { bucket, logs } = rate();
  const limits = { maxHandshakesPerClientPerSecond: 2 };
  // A reconnect loop that takes a fresh temporary address for each handshake.
  const loop = Array.from({ length: 5 }, (_, i) => bucket.admit(0, limits, `2001:db8:7:1::${i + 1}`)?.code);
  assert.deepEqual(loop, [undefined, undefined, ...Array(3).fill('WSG_HANDSHAKE_CLIENT_RATE')]);
  assert.equal(bucket.admit(0, limits, '2001:db8:7:2::1'), undefined, 'another /64');
  const err = bucket.admit(0, limits, '2001:db8:7:1::99');
  assert.match(err?.message ?? '', /from 2001:db8:7:1::99 \(counted as its network 2001:db8:7:1::\/64\)/);
  const first = logs.events('upgrade.client_rate_limited')[0];
  assert.deepEqual([first?.['client'], first?.['clientNetwork']], ['2001:db8:7:1::3', '2001:db8:7:1::/64']);
  // clientIpv6Prefix 128: each address is its own client again.
  const each = { ...limits, clientIpv6Prefix: 128 };
  const fresh = Array.from({ length: 5 }, (_, i) => bucket.admit(0, each, `2001:db8:8:1::${i + 1}`));
  assert.deepEqual(fresh, Array(5).fill(undefined));
  await new Promise((r) => setTimeout(r, 1100));
  const summary = logs.events('upgrade.client_rate_limited')[1];
  assert.deepEqual(
    [summary?.['refused'], summary?.['clients'], summary?.['clientNetwork']],
    [3, 1, undefined],
    'the refusals after the first count one client (its network), and the summary names none',
  );
});
