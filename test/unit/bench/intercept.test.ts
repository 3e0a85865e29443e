import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { interceptConfig, interceptMarkdown, summarizeRow } from '../../../scripts/bench/intercept.ts';

describe('intercept bench helpers', () => {
  test('the config is one loopback forward listener intercepting 127.0.0.1', () => {
    const yaml = interceptConfig(8888, '/tmp/a b/ca.pem', '/tmp/ca');
    assert.match(yaml, /bind: 127\.0\.0\.1:8888/);
    assert.match(yaml, /intercept: \["127\.0\.0\.1"\]/);
    assert.match(yaml, /upstreamCa: "\/tmp\/a b\/ca\.pem"/);
    assert.match(yaml, /tls: \{ caDir: "\/tmp\/ca" \}/);
    assert.match(yaml, /log: \{ level: warn \}/);
  });

  test('the ratio is the median of per-rep ratios, not the ratio of medians', () => {
    const s = summarizeRow({ id: 'x', direct: [100, 200, 1000], intercepted: [50, 60, 900] });
    assert.equal(s.direct, 200);
    assert.equal(s.intercepted, 60);
    assert.equal(s.ratio, 0.5);
  });

  test('a missing side gives dashes', () => {
    const md = interceptMarkdown([{ id: '64B-c1', direct: [], intercepted: [] }], 'h');
    assert.match(md, /\| 64B-c1 \| – \| – \| – \|/);
  });
});
