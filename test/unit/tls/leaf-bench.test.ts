// The leaf-issuance benchmark hook runs with bounded counts and reports ordered percentiles (no timing asserted).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchLeafIssuance, formatLeafBench } from '../../../scripts/bench/leaf.ts';

test('benchLeafIssuance measures cold and cached issuance with the counts asked for', async () => {
  const result = await benchLeafIssuance({ cold: 3, cached: 5 });
  assert.equal(result.cold.n, 3);
  assert.equal(result.cached.n, 5);
  for (const p of [result.cold, result.cached]) assert.ok(p.p50 <= p.p99 && p.p50 > 0);
  assert.match(formatLeafBench(result), /^leaf issuance.*\ncold +n= +3 .*\ncached +n= +5 /s);
});
