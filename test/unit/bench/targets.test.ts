import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { summarize } from '../../../scripts/bench/report.ts';
import { evaluateTargets, framesVariant, targetTally } from '../../../scripts/bench/targets.ts';
import { matrix, SCENARIOS } from './helpers.ts';

function evaluate(
  proxies: Record<string, { thr: number | ((sc: string, rep: number) => number); hsOver?: number; kib?: number }>,
  skipped: { name: string; why: string }[] = [],
) {
  const raw = matrix({ reps: 3, proxies });
  const names = ['direct', ...Object.keys(proxies)];
  const summary = summarize(raw, names, SCENARIOS);
  return evaluateTargets({ summary, raw, proxies: names, scenarios: SCENARIOS, skipped });
}

const find = (rows: ReturnType<typeof evaluate>, text: string) => {
  const row = rows.find((r) => r.target.includes(text));
  assert.ok(row, `no target row containing "${text}"`);
  return row;
};

describe('evaluateTargets', () => {
  test('frames beats nginx and hp3 everywhere, small handshake overhead and memory: all met', () => {
    const rows = evaluate({
      'wsgate-off': { thr: 0.8 },
      'wsgate-frames': { thr: 0.75, hsOver: 0.2, kib: 7 },
      'wsgate-payload': { thr: 0.7 },
      hp3: { thr: 0.6 },
      nginx: { thr: 0.62 },
    });
    const measured = rows.filter((r) => r.status !== 'n/a');
    assert.equal(measured.length, 6 + 6 + 1 + 1 + 6);
    assert.ok(
      measured.every((r) => r.status === 'met'),
      JSON.stringify(measured.filter((r) => r.status !== 'met')),
    );
    assert.equal(find(rows, 'wsgate-frames ≥ nginx ratio at 64B-c50').detail, '0.75 vs 0.62');
    assert.match(find(rows, 'at 1MiB-c4').detail, /^0\.75 vs 0\.62/);
    assert.equal(find(rows, 'wsgate-payload ≥ 0.8 × wsgate-off throughput at 64B-c1').detail.slice(0, 4), '0.88');
    assert.match(find(rows, 'handshake p50 within 0.3 ms').detail, /^\+0\.200 ms/);
    assert.match(find(rows, 'idle memory').detail, /^7\.00 KiB \(nginx 5\.00, hp3 5\.00\)/);
    assert.equal(find(rows, 'relay mode').status, 'n/a');
    assert.equal(find(rows, 'leaf certificate').status, 'n/a');
  });

  test('losing to nginx in one scenario is not met there only, with a noise note for small gaps', () => {
    const rows = evaluate({
      'wsgate-frames': { thr: (sc) => (sc === '64B-c1' ? 0.55 : 0.8) },
      nginx: { thr: 0.6 },
      hp3: { thr: 0.3 },
    });
    const r = find(rows, 'wsgate-frames ≥ nginx ratio at 64B-c1');
    assert.equal(r.status, 'not met');
    assert.match(r.detail, /0\.55 vs 0\.60; gap within ±0\.1 noise/);
    assert.equal(find(rows, 'wsgate-frames ≥ nginx ratio at 64B-c50').status, 'met');
    assert.doesNotMatch(find(rows, 'wsgate-frames ≥ hp3 ratio at 64B-c50').detail, /noise/);
  });

  test('handshake overhead and idle memory over the limits are not met', () => {
    const rows = evaluate({ 'wsgate-frames': { thr: 1, hsOver: 0.45, kib: 15.5 } });
    assert.equal(find(rows, 'handshake p50').status, 'not met');
    assert.equal(find(rows, 'idle memory').status, 'not met');
  });

  test('payload below 0.8 of passthrough is not met', () => {
    const rows = evaluate({
      'wsgate-off': { thr: 0.8 },
      'wsgate-frames': { thr: 0.8 },
      'wsgate-payload': { thr: 0.6 },
    });
    const r = find(rows, 'wsgate-payload ≥ 0.8 × wsgate-off throughput at 64KiB-c4');
    assert.equal(r.status, 'not met');
    assert.match(r.detail, /^0\.75 of passthrough/);
  });

  test('a peer that is not installed makes its rows n/a, saying why', () => {
    const rows = evaluate({ 'wsgate-frames': { thr: 0.7 }, hp3: { thr: 0.6 } }, [
      { name: 'nginx', why: 'nginx not installed' },
    ]);
    const r = find(rows, '≥ nginx ratio at 64B-c1');
    assert.equal(r.status, 'n/a');
    assert.equal(r.detail, 'nginx skipped: nginx not installed');
    assert.equal(find(rows, '≥ hp3 ratio at 64B-c1').status, 'met');
  });

  test('without --tap, plain wsgate stands in for frames and the payload rows are n/a', () => {
    const rows = evaluate({ wsgate: { thr: 0.7 }, nginx: { thr: 0.6 } });
    const r = find(rows, '≥ nginx ratio at 64B-c1');
    assert.equal(r.status, 'met');
    assert.match(r.target, /^wsgate \(no --tap yet, stands in for tap frames\)/);
    const p = find(rows, 'wsgate-payload ≥');
    assert.equal(p.status, 'n/a');
    assert.equal(p.detail, 'no --tap option yet');
  });

  test('framesVariant prefers wsgate-frames', () => {
    assert.equal(framesVariant(['direct', 'wsgate', 'wsgate-frames'])?.name, 'wsgate-frames');
    assert.equal(framesVariant(['direct', 'wsgate'])?.name, 'wsgate');
    assert.equal(framesVariant(['direct', 'nginx']), null);
  });

  test('tally', () => {
    assert.equal(
      targetTally([
        { target: 'a', status: 'met', detail: '' },
        { target: 'b', status: 'n/a', detail: '' },
        { target: 'c', status: 'met', detail: '' },
      ]),
      'met 2, not met 0, n/a 1',
    );
  });

  test('leaf certificates: met, not met, skipped, not run', () => {
    const raw = matrix({ reps: 1, proxies: { 'wsgate-frames': { thr: 0.7 } } });
    const names = ['direct', 'wsgate-frames'];
    const summary = summarize(raw, names, SCENARIOS);
    const cert = (certs: Parameters<typeof evaluateTargets>[0]['certs']) =>
      evaluateTargets({ summary, raw, proxies: names, scenarios: SCENARIOS, skipped: [], certs }).find((r) =>
        r.target.startsWith('leaf certificate'),
      )!;
    const ok = { hosts: 200, issueP50Ms: 1.69, issueP99Ms: 4.6, cachedP50Ms: 0.0005, cachedP99Ms: 0.003 };
    assert.equal(cert(ok).status, 'met');
    assert.match(cert(ok).detail, /issue p50 1\.690 ms \(p99 4\.600\), cached p50 0\.0005 ms over 200 hosts/);
    assert.equal(cert({ ...ok, issueP50Ms: 6.2 }).status, 'not met');
    assert.equal(cert({ ...ok, cachedP50Ms: 0.2 }).status, 'not met');
    assert.deepEqual(
      [cert({ skipped: 'no src/tls/leaf.ts' }).status, cert({ skipped: 'no src/tls/leaf.ts' }).detail],
      ['n/a', 'no src/tls/leaf.ts'],
    );
    assert.equal(cert({ error: 'boom' }).status, 'n/a');
    assert.match(cert(undefined).detail, /BENCH_CERTS=0/);
  });
});
