// Leaf certificate issuance for TLS interception: time per leaf for a host seen for the first time (cold: one
// ECDSA P-256 signature with the shared leaf key plus a SecureContext) and for a host already in the cache. The
// CA lives in a temporary directory removed afterwards. One run on a shared machine is noisy: compare orders of
// magnitude, not digits. Never used for timed assertions in tests.
//
//   node scripts/bench/leaf.ts [cold count, default 200] [cached count, default 2000]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCa } from '../../src/tls/ca.ts';
import { LeafCache } from '../../src/tls/leaf.ts';

export type Percentiles = { n: number; p50: number; p99: number; mean: number };
export type LeafBench = { cold: Percentiles; cached: Percentiles };

function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0;
  const mean = sorted.reduce((s, x) => s + x, 0) / Math.max(1, sorted.length);
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), mean };
}

/** Issues `cold` leaves for new hosts, then reads cached ones `cached` times; milliseconds per leaf. */
export async function benchLeafIssuance(options: { cold?: number; cached?: number } = {}): Promise<LeafBench> {
  const coldCount = Math.max(1, Math.min(options.cold ?? 200, 10_000));
  const cachedCount = Math.max(1, Math.min(options.cached ?? 2000, 100_000));
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-bench-ca-'));
  try {
    const ca = await createCa(join(dir, 'ca'));
    const cache = new LeafCache(ca, { max: coldCount + 1 });
    await cache.get('warmup.bench.test');
    const cold: number[] = [];
    for (let i = 0; i < coldCount; i++) {
      const start = performance.now();
      await cache.get(`host-${i}.bench.test`);
      cold.push(performance.now() - start);
    }
    const cached: number[] = [];
    for (let i = 0; i < cachedCount; i++) {
      const start = performance.now();
      await cache.get(`host-${i % coldCount}.bench.test`);
      cached.push(performance.now() - start);
    }
    return { cold: percentiles(cold), cached: percentiles(cached) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatLeafBench(result: LeafBench): string {
  const row = (name: string, p: Percentiles) =>
    `${name.padEnd(8)} n=${String(p.n).padStart(5)}  p50 ${p.p50.toFixed(3).padStart(8)} ms  p99 ${p.p99.toFixed(3).padStart(8)} ms  mean ${p.mean.toFixed(3).padStart(8)} ms`;
  return ['leaf issuance (ECDSA P-256, shared leaf key)', row('cold', result.cold), row('cached', result.cached)].join(
    '\n',
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await benchLeafIssuance({
    cold: process.argv[2] === undefined ? undefined : Number(process.argv[2]),
    cached: process.argv[3] === undefined ? undefined : Number(process.argv[3]),
  });
  process.stdout.write(`${formatLeafBench(result)}\n`);
}
