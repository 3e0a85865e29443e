// Summarises V8 CPU profiles (`node --cpu-prof`, or `BENCH_CPU_PROF=1 npm run bench`) as text: the functions with
// the most self time and, for wsgate's own code, the most inclusive time. Open the same files in Chrome DevTools
// (Performance panel → Load profile) or speedscope for a flame graph.
//
//   node scripts/bench/profile-summary.ts <file.cpuprofile | directory> [top N, default 25]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export type CpuProfile = {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
};

export type ProfileTotals = { totalUs: number; self: Map<string, number>; inclusive: Map<string, number> };

/** "name file:line", with the url cut to its last two path segments. */
export function frameKey(cf: CpuProfile['nodes'][number]['callFrame']): string {
  const file = cf.url.split('/').slice(-2).join('/');
  return `${cf.functionName || '(anonymous)'} ${file}${file ? `:${cf.lineNumber + 1}` : ''}`.trim();
}

/** Adds one profile's sampled time into totals (self per frame, and inclusive once per frame per stack). */
export function accumulate(profile: CpuProfile, into?: ProfileTotals): ProfileTotals {
  const totals = into ?? { totalUs: 0, self: new Map(), inclusive: new Map() };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const timeById = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    const dt = Math.max(0, profile.timeDeltas[i] ?? 0);
    timeById.set(id, (timeById.get(id) ?? 0) + dt);
  });
  for (const [id, t] of timeById) {
    totals.totalUs += t;
    const node = byId.get(id);
    if (!node) continue;
    const key = frameKey(node.callFrame);
    totals.self.set(key, (totals.self.get(key) ?? 0) + t);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (!n) break;
      const k = frameKey(n.callFrame);
      if (seen.has(k)) continue; // recursion counts once
      seen.add(k);
      totals.inclusive.set(k, (totals.inclusive.get(k) ?? 0) + t);
    }
  }
  return totals;
}

/** Top n entries as "  12.3%  name file:line" lines, share of all sampled time (idle included). */
export function topLines(
  map: ReadonlyMap<string, number>,
  totalUs: number,
  n: number,
  filter?: (key: string) => boolean,
) {
  return [...map]
    .filter(([k]) => (filter ? filter(k) : true))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, t]) => `${((100 * t) / (totalUs || 1)).toFixed(1).padStart(6)}%  ${k}`);
}

function profileFiles(target: string): string[] {
  if (!statSync(target).isDirectory()) return [target];
  return readdirSync(target, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(target, f));
}

if (import.meta.main) {
  const target = process.argv[2];
  if (!target) {
    process.stderr.write('usage: node scripts/bench/profile-summary.ts <file.cpuprofile | directory> [top N]\n');
    process.exit(2);
  }
  const top = Number(process.argv[3] ?? 25);
  const files = profileFiles(target);
  let totals: ProfileTotals | undefined;
  for (const f of files) totals = accumulate(JSON.parse(readFileSync(f, 'utf8')) as CpuProfile, totals);
  if (!totals) {
    process.stderr.write(`no .cpuprofile files in ${target}\n`);
    process.exit(1);
  }
  const folders = readdirSync(path.join(import.meta.dirname, '../../src'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
  const ours = (k: string) => folders.some((f) => k.includes(` ${f}/`) && /\.ts:\d+$/.test(k));
  process.stdout.write(
    [
      `${files.length} profile(s), ${(totals.totalUs / 1e6).toFixed(2)} s sampled (percentages include idle)`,
      '',
      'self time:',
      ...topLines(totals.self, totals.totalUs, top),
      '',
      "inclusive time, wsgate's own code:",
      ...topLines(totals.inclusive, totals.totalUs, top, ours),
      '',
    ].join('\n'),
  );
}
