import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { summarize } from '../../../scripts/bench/report.ts';
import { issue16Targets } from '../../../scripts/bench/targets-16.ts';
import { matrix, SCENARIOS } from './helpers.ts';

type Spec = { thr: number | ((sc: string, rep: number) => number); hsOver?: number; kib?: number; cpu?: number };

function evaluate(proxies: Record<string, Spec>) {
  const raw = matrix({ reps: 3, proxies });
  const names = ['direct', ...Object.keys(proxies)];
  return issue16Targets({
    summary: summarize(raw, names, SCENARIOS),
    raw,
    proxies: names,
    scenarios: SCENARIOS,
    skipped: [],
  });
}

const row = (rows: ReturnType<typeof evaluate>, text: string) => {
  const found = rows.find((r) => r.target.includes(text));
  assert.ok(found, `no target row containing "${text}"`);
  return found;
};

const ALL_MET: Record<string, Spec> = {
  'wsgate-off': { thr: 0.8 },
  'wsgate-frames': { thr: 0.6, hsOver: 0.3, kib: 15, cpu: 100 },
  'wsgate-frames+log': { thr: 0.7 },
  'wsgate-payload+log': { thr: 0.65 },
  nginx: { thr: 0.63, cpu: 80 },
};

describe('issue 16 targets', () => {
  test('every row measured and met when wsgate is within the slack, the CPU bound and the line cost', () => {
    const rows = evaluate(ALL_MET);
    // 6 ratio rows, 4 CPU rows (64 KiB and 1 MiB), 6 + 6 line rows, the handshake, idle memory.
    assert.equal(rows.length, 6 + 4 + 12 + 1 + 1);
    assert.ok(
      rows.every((r) => r.status === 'met' && r.target.startsWith('16: ')),
      JSON.stringify(rows.filter((r) => r.status !== 'met')),
    );
    assert.equal(row(rows, 'nginx − 0.05 ratio at 64B-c1').detail, '0.60 vs 0.63');
    assert.match(row(rows, "1.3 × nginx's at 1MiB-c4").detail, /^100 vs 80\.0 µs \(1\.25 ×\)$/);
    assert.doesNotMatch(rows.map((r) => r.target).join('\n'), /CPU .* at 64B-/);
    assert.match(row(rows, 'wsgate-payload+log ≥ 0.8 × wsgate-off throughput at 64B-c50').detail, /^0\.81 of off/);
    assert.equal(row(rows, 'handshake p50').detail, 'cold +0.300 ms; warm +0.150 ms');
    assert.equal(row(rows, 'KiB per idle connection').detail, '15.0 KiB (wsgate-off 5.00, nginx 5.00)');
  });

  test('each bound fails on its own side', () => {
    const rows = evaluate({
      ...ALL_MET,
      'wsgate-frames': { thr: 0.57, hsOver: 0.45, kib: 17, cpu: 105 },
      'wsgate-frames+log': { thr: 0.63 },
    });
    const status = (text: string) => row(rows, text).status;
    assert.equal(status('ratio at 64KiB-c4'), 'not met'); // 0.57 < 0.63 − 0.05
    assert.equal(status("nginx's at 64KiB-c1"), 'not met'); // 105 > 1.3 × 80
    assert.equal(status('wsgate-frames+log ≥ 0.8 × wsgate-off throughput at 1MiB-c1'), 'not met'); // 0.79
    assert.equal(status('handshake p50'), 'not met');
    assert.equal(status('KiB per idle connection'), 'not met');
    assert.equal(status('wsgate-payload+log ≥ 0.8 × wsgate-off throughput at 1MiB-c1'), 'met');
  });

  test('rows without their proxies are n/a and say which one is missing', () => {
    const rows = evaluate({ 'wsgate-frames': { thr: 0.7 } });
    assert.equal(row(rows, 'ratio at 64B-c1').status, 'n/a');
    assert.equal(row(rows, 'ratio at 64B-c1').detail, 'nginx not in this run');
    assert.equal(row(rows, 'wsgate-frames+log').detail, 'wsgate-frames+log, wsgate-off not in this run');
    assert.equal(row(rows, 'handshake p50').status, 'met');
  });
});
