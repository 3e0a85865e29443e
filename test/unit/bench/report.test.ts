import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { settingsFromEnv } from '../../../scripts/bench/model.ts';
import { type Meta, markdown, pairedRatios, summarize } from '../../../scripts/bench/report.ts';
import { entry, hs, matrix, pp, SCENARIOS } from './helpers.ts';

describe('summarize', () => {
  test('throughput ratio is per rep against direct, then the median', () => {
    // direct: 1000, 2000, 3000; proxy: 0.5, 0.9, 0.6 of direct in the same rep. Median of ratios = 0.6,
    // whereas the ratio of medians would be 1200/2000 = 0.6 only by chance; check the per-rep list too.
    const thr = (_sc: string, rep: number) => [0.5, 0.9, 0.6][rep - 1]!;
    const raw = matrix({ reps: 3, proxies: { nginx: { thr } } });
    const s = summarize(raw, ['direct', 'nginx'], SCENARIOS);
    assert.equal(s['nginx']!['64B-c1']!.throughputRatio, 0.6);
    assert.deepEqual(s['nginx']!['64B-c1']!.throughputRatioPerRep, [0.5, 0.9, 0.6]);
    assert.equal(s['direct']!['64B-c1']!.throughputRatio, 1);
    assert.equal(s['direct']!['64B-c1']!.msgsPerSec, 2000);
    assert.equal(s['direct']!['64B-c1']!.directSpread, 3);
  });

  test('pairing beats the ratio of medians when the machine drifts', () => {
    // The proxy always gets 0.5 of direct, but ran in fast and slow reps in a skewed way.
    const raw = [
      entry(1, '64B-c1', 'direct', pp(1000)),
      entry(1, '64B-c1', 'p', pp(500)),
      entry(2, '64B-c1', 'direct', pp(3000)),
      entry(2, '64B-c1', 'p', pp(1500)),
      entry(3, '64B-c1', 'direct', pp(3100)),
      entry(3, '64B-c1', 'p', pp(1550)),
    ];
    const s = summarize(
      raw,
      ['direct', 'p'],
      SCENARIOS.filter((x) => x.id === '64B-c1'),
    );
    assert.equal(s['p']!['64B-c1']!.throughputRatio, 0.5);
  });

  test('latency ratios and CPU per round trip', () => {
    const raw = [
      entry(1, '64B-c1', 'direct', pp(1000, 0.04, 0.1, null)),
      entry(1, '64B-c1', 'p', pp(500, 0.1, 0.3, 55)),
    ];
    const s = summarize(
      raw,
      ['direct', 'p'],
      SCENARIOS.filter((x) => x.id === '64B-c1'),
    );
    const c = s['p']!['64B-c1']!;
    assert.ok(Math.abs(c.p50Ratio! - 2.5) < 1e-9);
    assert.ok(Math.abs(c.p99Ratio! - 3) < 1e-9);
    assert.equal(c.proxyCpuUsPerMsg, 55);
  });

  test('a failed rep is left out of the pairs and reported as an error', () => {
    const raw = [
      entry(1, '64B-c1', 'direct', pp(1000)),
      entry(1, '64B-c1', 'p', { error: 'p failed to start' }),
      entry(2, '64B-c1', 'direct', pp(1000)),
      entry(2, '64B-c1', 'p', pp(700)),
    ];
    const s = summarize(
      raw,
      ['direct', 'p'],
      SCENARIOS.filter((x) => x.id === '64B-c1'),
    );
    assert.equal(s['p']!['64B-c1']!.n, 1);
    assert.deepEqual(s['p']!['64B-c1']!.errors, ['p failed to start']);
    assert.equal(s['p']!['64B-c1']!.throughputRatio, 0.7);
  });

  test('handshake overhead over direct is paired per rep', () => {
    const raw = [
      entry(1, 'handshake', 'direct', hs(0.4)),
      entry(1, 'handshake', 'p', hs(0.6)),
      entry(2, 'handshake', 'direct', hs(1.0)),
      entry(2, 'handshake', 'p', hs(1.3)),
      entry(3, 'handshake', 'direct', hs(0.5)),
      entry(3, 'handshake', 'p', hs(0.75)),
    ];
    const s = summarize(
      raw,
      ['direct', 'p'],
      SCENARIOS.filter((x) => x.id === 'handshake'),
    );
    assert.ok(Math.abs(s['p']!['handshake']!.p50OverDirectMs! - 0.25) < 1e-9);
    assert.equal(s['p']!['handshake']!.p50Ms, 0.75);
    // The warm runs (half of each p50 here) are paired the same way: 0.1, 0.15, 0.125.
    assert.ok(Math.abs(s['p']!['handshake']!.warmOverDirectMs! - 0.125) < 1e-9);
  });

  test('idle KiB per connection is the median over reps', () => {
    const raw = matrix({ reps: 3, proxies: { p: { thr: 1, kib: 9 } } });
    const s = summarize(raw, ['direct', 'p'], SCENARIOS);
    assert.equal(s['p']!['idle']!.kibPerConn, 9);
    assert.deepEqual(s['p']!['idle']!.kibPerConnPerRep, [9, 9, 9]);
  });

  test('pairedRatios with a custom pick', () => {
    const raw = matrix({ reps: 2, proxies: { a: { thr: 0.8 }, b: { thr: 0.4 } } });
    assert.deepEqual(
      pairedRatios(raw, '64KiB-c4', 'a', 'b', (r) => ('msgsPerSec' in r ? r.msgsPerSec : null)),
      [2, 2],
    );
  });
});

describe('markdown', () => {
  const raw = matrix({
    reps: 2,
    proxies: { 'wsgate-frames': { thr: 0.7, hsOver: 0.2, kib: 6.5 }, nginx: { thr: 0.6 } },
  });
  const proxies = ['direct', 'wsgate-frames', 'nginx'];
  const summary = summarize(raw, proxies, SCENARIOS);
  const meta: Meta = {
    startedAt: '2026-11-26T12:00:00Z',
    host: { cpus: 2, node: 'v24.21.0', kernel: '6.1', loadavgStart: [0.1, 0.2, 0.3] },
    settings: settingsFromEnv({ BENCH_REPS: '2' }),
    idleConns: 2000,
    proxyInfo: { direct: 'no proxy', 'wsgate-frames': 'wsgate', nginx: 'nginx/1.22.1' },
    skipped: [{ name: 'haproxy', why: 'haproxy not installed' }],
    notes: ['a note'],
  };
  const md = markdown(meta, summary, proxies, SCENARIOS, [{ target: 'x ≥ y', status: 'met', detail: '0.70 vs 0.60' }]);

  test('throughput table: direct absolute, proxies as ratios with their CPU per round trip beside', () => {
    assert.match(md, /\| proxy \| 64B-c1 \| 64B-c50 \| 64KiB-c1 \| 64KiB-c4 \| 1MiB-c1 \| 1MiB-c4 \|/);
    assert.match(md, /\| direct \| 1500\/s \| 1500\/s \|/);
    assert.match(md, /\| wsgate-frames \| 0\.70 · 40\.0 µs \| 0\.70 · 40\.0 µs \| 0\.70 · 40\.0 µs \|/);
    assert.match(md, /\| nginx \| 0\.60 · 40\.0 µs \|/);
  });
  test('noise gauge with more than one rep', () => assert.match(md, /Noise gauge.*64B-c1 2\.00/));
  test('handshake and idle table', () => {
    assert.match(md, /\| wsgate-frames \| 0\.70 \| 2\.10 \| 0\.20 \| 0\.10 \| 6\.50 \|/);
    assert.match(md, /\| direct \| 0\.50 \| 1\.50 \| – \| – \| – \|/);
  });
  test('CPU table has no direct row', () => {
    const cpu = md.split('**Proxy CPU')[1]!.split('**Absolute')[0]!;
    assert.doesNotMatch(cpu, /\| direct \|/);
    assert.match(cpu, /\| nginx \| 40\.0 \|/);
  });
  test('targets, skipped peers and notes', () => {
    assert.match(md, /\| x ≥ y \| met \| 0\.70 vs 0\.60 \|/);
    assert.match(md, /- haproxy: SKIPPED, haproxy not installed/);
    assert.match(md, /- a note/);
  });
  test('a proxy whose every rep failed shows ERR and the error', () => {
    const bad = raw.map((r) =>
      r.proxy === 'nginx' && r.scenario === '64B-c50' ? { ...r, result: { error: 'boom\nstack' } } : r,
    );
    const out = markdown(meta, summarize(bad, proxies, SCENARIOS), proxies, SCENARIOS, []);
    assert.match(out, /\| nginx \| 0\.60 · 40\.0 µs \| ERR \|/);
    assert.match(out, /- nginx\/64B-c50: boom$/m);
  });
  test('leaf certificate line', () => {
    const certs = { hosts: 100, issueP50Ms: 1.7, issueP99Ms: 4.64, cachedP50Ms: 0.0005, cachedP99Ms: 0.0029 };
    const out = markdown(meta, summary, proxies, SCENARIOS, [], certs);
    assert.match(out, /new host: p50 1\.700 ms, p99 4\.640 ms · cached: p50 0\.0005 ms, p99 0\.0029 ms · 100 hosts/);
    assert.match(markdown(meta, summary, proxies, SCENARIOS, [], { skipped: 'no TLS' }), /skipped: no TLS/);
    assert.doesNotMatch(md, /Leaf certificates/);
  });
});
