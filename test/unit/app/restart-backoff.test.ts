// RestartBackoff: replacements for crashed workers wait 100 ms, 200 ms, … up to 30 s; a worker that ran STABLE_MS
// starts the sequence again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RestartBackoff, STABLE_MS } from '../../../src/app/restart-backoff.ts';

test('delays double from 100 ms and stop at 30 s; attempts count the streak', () => {
  const backoff = new RestartBackoff();
  const delays = Array.from({ length: 11 }, () => backoff.next(0)).map((s) => s.delayMs);
  assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000]);
  assert.equal(backoff.next(0).attempt, 12);
});

test('a worker that ran STABLE_MS resets the streak; a shorter run does not', () => {
  const backoff = new RestartBackoff();
  backoff.next(0);
  backoff.next(0);
  assert.deepEqual(backoff.next(STABLE_MS - 1), { delayMs: 400, attempt: 3 });
  assert.deepEqual(backoff.next(STABLE_MS), { delayMs: 100, attempt: 1 });
});
