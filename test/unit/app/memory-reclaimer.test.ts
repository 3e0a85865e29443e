// The memory reclaimer runs one full collection after a busy period followed by quiet ones, and nothing while the
// process stays quiet. Sampling every 200 ms (5 s in wsgate) so the test is short.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startMemoryReclaimer } from '../../../src/app/memory-reclaimer.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a burst then quiet: one collection; quiet alone: none', async (t) => {
  const reclaims: { ms: number; rssBefore: number; rssAfter: number }[] = [];
  const stop = startMemoryReclaimer({
    // Short periods are noisy (a test runner message, a GC): thresholds far apart keep the test about the rule.
    periodMs: 200,
    busy: 0.3,
    quiet: 0.03,
    quietPeriods: 2,
    onReclaim: (r) => reclaims.push(r),
  });
  t.after(stop);
  // Loading this test may itself have been a burst: let that settle, then count from there.
  await sleep(1000);
  const settled = reclaims.length;
  await sleep(500);
  assert.equal(reclaims.length, settled, 'quiet, nothing collected');
  // A busy period: the event loop is blocked for longer than one sampling period. The garbage stays small: half a
  // second of retained objects made V8's own collecting and sweeping of them a second busy period on a loaded CI
  // run (two reclaims where one was due).
  const until = performance.now() + 500;
  let garbage: unknown[] = [];
  while (performance.now() < until) {
    garbage.push({ at: performance.now() });
    if (garbage.length >= 10_000) garbage = [];
  }
  garbage = [];
  const deadline = Date.now() + 5000;
  while (reclaims.length === settled && Date.now() < deadline) await sleep(50);
  assert.equal(reclaims.length, settled + 1, 'collected once the loop went quiet');
  assert.ok(reclaims[settled]!.rssBefore > 0 && reclaims[settled]!.rssAfter > 0);
  await sleep(500);
  assert.equal(reclaims.length, settled + 1, 'once per burst');
  assert.equal(garbage.length, 0);
});
