import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareRuns, type ResultFile } from '../../../scripts/bench/compare.ts';

const run = (ratios: Record<string, number[]>, extra: Record<string, { p50Ms?: number; kib?: number }> = {}) => {
  const ids = ['64B-c1', '64B-c50', '64KiB-c1', '64KiB-c4', '1MiB-c1', '1MiB-c4'];
  const summary: ResultFile['summary'] = {};
  for (const [name, r] of Object.entries(ratios)) {
    summary[name] = Object.fromEntries(ids.map((id, i) => [id, { throughputRatio: r[i]!, proxyCpuUsPerMsg: 10 }]));
    summary[name]!['handshake'] = { p50Ms: extra[name]?.p50Ms ?? 0.5 };
    summary[name]!['idle'] = { kibPerConn: extra[name]?.kib ?? 17 };
  }
  return { summary };
};

describe('compareRuns', () => {
  const a = run({
    direct: [1, 1, 1, 1, 1, 1],
    nginx: [0.5, 0.6, 0.7, 0.7, 0.6, 0.6],
    'wsgate-meta': [0.6, 0.5, 0.7, 0.6, 0.6, 0.7],
  });
  const b = run({
    direct: [1, 1, 1, 1, 1, 1],
    nginx: [0.55, 0.6, 0.7, 0.7, 0.6, 0.45],
    wsgate: [0.6, 0.5, 0.7, 0.6, 0.6, 0.7],
    hp3: [1, 1, 1, 1, 1, 1],
  });

  test('pairs proxies by name and alias, leaves out direct and one-sided proxies', () => {
    const c = compareRuns(a, b, { 'wsgate-meta': 'wsgate' });
    const body = c.rows.join('\n');
    assert.match(body, /\| nginx \| 0\.50 \/ 0\.55 \|/);
    assert.match(body, /\| wsgate-meta \/ wsgate \| 0\.60 \/ 0\.60 \|/);
    assert.doesNotMatch(body, /\| direct \|/);
    assert.doesNotMatch(body, /hp3/);
  });
  test('largest gap and the cells outside the noise band', () => {
    const c = compareRuns(a, b, { 'wsgate-meta': 'wsgate' });
    assert.ok(Math.abs(c.maxRatioGap! - 0.15) < 1e-9);
    assert.deepEqual(c.outside, ['nginx/1MiB-c4 0.60 vs 0.45']);
  });
  test('without the alias wsgate is not compared', () => {
    const c = compareRuns(a, b);
    assert.doesNotMatch(c.rows.join('\n'), /wsgate/);
  });
});
