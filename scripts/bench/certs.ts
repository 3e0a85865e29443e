// Leaf certificate micro-bench: how long wsgate's LeafCache takes to hand out a leaf for a new host (an ECDSA
// signature and a SecureContext) and for a cached one. A throwaway CA is created in a temp dir and removed.
// Runs against the wsgate checkout the bench uses (BENCH_WSGATE_DIR or this repo) and prints one JSON line;
// when that checkout has no src/tls/leaf.ts yet it prints {"skipped": "..."}.
//
//   node scripts/bench/certs.ts [count of hosts, default 200]
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { CertResult } from './model.ts';
import { WSGATE_DIR } from './proxies.ts';
import { percentile } from './stats.ts';

// Structural types only: the TLS modules are imported by path at run time, so this file type-checks whether or
// not the checkout has them.
type LeafCacheLike = { get(host: string): Promise<unknown> };
type LeafModule = { LeafCache: new (ca: unknown, options?: { max?: number }) => LeafCacheLike };
type CaModule = { createCa(dir: string): Promise<unknown> };

const count = Math.max(10, Number(process.argv[2] ?? 200));
const DEADLINE_MS = 60_000;
const HIT_ROUNDS = 5;

async function main(): Promise<CertResult | { skipped: string }> {
  const leafPath = path.join(WSGATE_DIR, 'src', 'tls', 'leaf.ts');
  const caPath = path.join(WSGATE_DIR, 'src', 'tls', 'ca.ts');
  if (!existsSync(leafPath) || !existsSync(caPath)) return { skipped: 'no src/tls/leaf.ts (TLS interception) yet' };
  const { LeafCache } = (await import(pathToFileURL(leafPath).href)) as LeafModule;
  const { createCa } = (await import(pathToFileURL(caPath).href)) as CaModule;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wsgate-bench-ca-'));
  try {
    const ca = await createCa(path.join(dir, 'ca'));
    const cache = new LeafCache(ca, { max: count + 100 });
    const deadline = performance.now() + DEADLINE_MS;
    for (let i = 0; i < 10; i++) await cache.get(`warm${i}.bench.test`); // JIT and lazy init, unrecorded
    const issue: number[] = [];
    for (let i = 0; i < count && performance.now() < deadline; i++) {
      const t0 = performance.now();
      await cache.get(`h${i}.bench.test`);
      issue.push(performance.now() - t0);
    }
    const cached: number[] = [];
    for (let r = 0; r < HIT_ROUNDS && performance.now() < deadline; r++) {
      for (let i = 0; i < issue.length; i++) {
        const t0 = performance.now();
        await cache.get(`h${i}.bench.test`);
        cached.push(performance.now() - t0);
      }
    }
    issue.sort((a, b) => a - b);
    cached.sort((a, b) => a - b);
    const r4 = (x: number | null) => (x === null ? null : +x.toFixed(4));
    return {
      hosts: issue.length,
      issueP50Ms: r4(percentile(issue, 50)),
      issueP99Ms: r4(percentile(issue, 99)),
      cachedP50Ms: r4(percentile(cached, 50)),
      cachedP99Ms: r4(percentile(cached, 99)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

try {
  process.stdout.write(`${JSON.stringify(await main())}\n`);
} catch (e) {
  process.stdout.write(`${JSON.stringify({ error: (e as Error).message })}\n`);
  process.exitCode = 1;
}
