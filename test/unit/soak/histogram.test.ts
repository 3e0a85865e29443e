import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bucketOf, bucketUpper, Histogram } from '../../../scripts/soak/histogram.ts';

const within1pct = (actual: number | null, expected: number) => {
  assert.ok(actual !== null, 'a value');
  assert.ok(Math.abs(actual - expected) / expected <= 0.011, `${actual} not within 1 % of ${expected}`);
};

describe('Histogram', () => {
  test('percentiles of 1..1000 ms are within 1 % of the exact nearest rank', () => {
    const h = new Histogram();
    for (let i = 1; i <= 1000; i++) h.record(i);
    within1pct(h.percentile(50), 500);
    within1pct(h.percentile(99), 990);
    assert.equal(h.percentile(100), 1000);
    assert.equal(h.count, 1000);
    assert.equal(h.mean(), 500.5);
  });
  test('a percentile never understates the true value', () => {
    const h = new Histogram();
    for (const v of [0.25, 0.5, 3.7, 12.9, 80]) h.record(v);
    assert.ok(h.percentile(60)! >= 3.7);
    assert.ok(h.percentile(20)! >= 0.25);
  });
  test('clamped to the exact min and max', () => {
    const h = new Histogram();
    h.record(7);
    assert.equal(h.percentile(50), 7);
    assert.equal(h.percentile(99), 7);
    assert.equal(h.max(), 7);
  });
  test('an empty histogram has no percentile', () => {
    const h = new Histogram();
    assert.equal(h.percentile(50), null);
    assert.equal(h.max(), null);
    assert.equal(h.mean(), null);
  });
  test('zero, negative and huge values land in the end buckets', () => {
    assert.equal(bucketOf(0), 0);
    assert.equal(bucketOf(-5), 0);
    assert.equal(bucketOf(Number.NaN), 0);
    assert.equal(bucketOf(1e12), bucketOf(1e13));
    assert.ok(bucketUpper(bucketOf(2.5)) >= 2.5);
    assert.ok(bucketUpper(bucketOf(2.5) - 1) <= 2.5);
  });
  test('merging two halves (through JSON, as between processes) equals recording everything in one', () => {
    const a = new Histogram();
    const b = new Histogram();
    const all = new Histogram();
    for (let i = 1; i <= 500; i++) {
      a.record(i * 0.1);
      b.record(i * 3);
      all.record(i * 0.1);
      all.record(i * 3);
    }
    const merged = new Histogram();
    merged.merge(JSON.parse(JSON.stringify(a)));
    merged.merge(JSON.parse(JSON.stringify(b)));
    merged.merge(JSON.parse(JSON.stringify(new Histogram()))); // an empty one changes nothing
    for (const p of [1, 50, 90, 99, 100]) assert.equal(merged.percentile(p), all.percentile(p));
    assert.equal(merged.count, 1000);
    assert.equal(merged.max(), 1500);
  });
  test('a bucket index out of range is refused', () => {
    const h = new Histogram();
    assert.throws(() => h.merge({ buckets: [[999_999, 1]], count: 1, sum: 1, min: 1, max: 1 }), /out of range/);
  });
});
