import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fmt, median, percentile, ratio } from '../../../scripts/bench/stats.ts';

describe('percentile (nearest rank)', () => {
  const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  test('p50 of 10 values is the 5th', () => assert.equal(percentile(sorted, 50), 5));
  test('p99 of 10 values is the largest', () => assert.equal(percentile(sorted, 99), 10));
  test('p0 is the smallest, p100 the largest', () => {
    assert.equal(percentile(sorted, 0), 1);
    assert.equal(percentile(sorted, 100), 10);
  });
  test('p99 of 1000 values is the 990th', () => {
    const v = Array.from({ length: 1000 }, (_, i) => i + 1);
    assert.equal(percentile(v, 99), 990);
  });
  test('works on a typed array', () => assert.equal(percentile(Float64Array.from([0.5, 1.5, 2.5]), 50), 1.5));
  test('one value', () => assert.equal(percentile([42], 99), 42));
  test('empty is null', () => assert.equal(percentile([], 50), null));
});

describe('median', () => {
  test('odd count', () => assert.equal(median([3, 1, 2]), 2));
  test('even count averages the middle two', () => assert.equal(median([4, 1, 3, 2]), 2.5));
  test('does not need sorted input and does not mutate it', () => {
    const v = [5, 1, 4];
    assert.equal(median(v), 4);
    assert.deepEqual(v, [5, 1, 4]);
  });
  test('ignores null, undefined and NaN', () => assert.equal(median([null, 7, undefined, Number.NaN, 9]), 8));
  test('nothing usable is null', () => {
    assert.equal(median([]), null);
    assert.equal(median([null, Number.POSITIVE_INFINITY]), null);
  });
});

describe('ratio', () => {
  test('divides', () => assert.equal(ratio(1, 4), 0.25));
  test('null for a zero divisor or missing side', () => {
    assert.equal(ratio(1, 0), null);
    assert.equal(ratio(null, 2), null);
    assert.equal(ratio(2, undefined), null);
  });
});

describe('fmt', () => {
  test('scales its precision', () => {
    assert.equal(fmt(0.7149), '0.71');
    assert.equal(fmt(0.7149, 3), '0.715');
    assert.equal(fmt(12.34), '12.3');
    assert.equal(fmt(123.4), '123');
    assert.equal(fmt(21219.4), '21219');
  });
  test('missing is a dash', () => {
    assert.equal(fmt(null), '–');
    assert.equal(fmt(Number.NaN), '–');
  });
});
