// Compares two result files side by side: this bench's JSON (scripts/bench/results/*.json) and the shared reference
// harness's JSON (its results/*.json), or any two runs of either. For every proxy both runs measured it prints the
// throughput ratios, CPU per round trip, handshake p50 and KiB per idle connection of both, and the differences.
// Throughput ratios agreeing within ±0.10 are "within noise" on these machines.
//
//   node scripts/bench/compare.ts <a.json> <b.json> [nameInA=nameInB ...]
//   e.g. node scripts/bench/compare.ts scripts/bench/results/X.json /tmp/shared/results/Y.json wsgate-meta=wsgate
import { readFileSync } from 'node:fs';
import { fmt } from './stats.ts';
import { RATIO_NOISE } from './targets.ts';

type Cell = {
  throughputRatio?: number | null;
  proxyCpuUsPerMsg?: number | null;
  p50Ms?: number | null;
  kibPerConn?: number | null;
};
export type ResultFile = { summary: Record<string, Record<string, Cell>> };

export const THROUGHPUT_IDS = ['64B-c1', '64B-c50', '64KiB-c1', '64KiB-c4', '1MiB-c1', '1MiB-c4'] as const;

export type Comparison = {
  rows: string[];
  /** Largest |a − b| of a throughput ratio over every proxy and scenario both runs have. */
  maxRatioGap: number | null;
  /** Throughput cells whose gap is RATIO_NOISE or more, as "proxy/scenario a vs b". */
  outside: string[];
};

/** Pairs proxies by name, plus the aliases given (name in a → name in b); direct is left out (it is 1.00). */
export function compareRuns(a: ResultFile, b: ResultFile, aliases: Readonly<Record<string, string>> = {}): Comparison {
  const pairs: [string, string][] = [];
  for (const name of Object.keys(a.summary)) {
    if (name === 'direct') continue;
    const other = aliases[name] ?? name;
    if (b.summary[other]) pairs.push([name, other]);
  }
  const rows: string[] = [];
  const outside: string[] = [];
  let maxGap: number | null = null;
  rows.push(`| proxy (a / b) | ${THROUGHPUT_IDS.join(' | ')} | handshake p50 ms | KiB / idle conn |`);
  rows.push(`|---|${THROUGHPUT_IDS.map(() => '---:').join('|')}|---:|---:|`);
  for (const [na, nb] of pairs) {
    const sa = a.summary[na]!;
    const sb = b.summary[nb]!;
    const label = na === nb ? na : `${na} / ${nb}`;
    const thr = THROUGHPUT_IDS.map((id) => {
      const x = sa[id]?.throughputRatio;
      const y = sb[id]?.throughputRatio;
      if (typeof x !== 'number' || typeof y !== 'number') return '–';
      const gap = Math.abs(x - y);
      maxGap = maxGap === null ? gap : Math.max(maxGap, gap);
      if (gap >= RATIO_NOISE) outside.push(`${label}/${id} ${fmt(x)} vs ${fmt(y)}`);
      return `${fmt(x)} / ${fmt(y)}`;
    });
    const pair = (x: number | null | undefined, y: number | null | undefined) => `${fmt(x)} / ${fmt(y)}`;
    rows.push(
      `| ${label} | ${thr.join(' | ')} | ${pair(sa['handshake']?.p50Ms, sb['handshake']?.p50Ms)} | ${pair(
        sa['idle']?.kibPerConn,
        sb['idle']?.kibPerConn,
      )} |`,
    );
  }
  rows.push('', `CPU µs per round trip (a / b):`, '');
  rows.push(`| proxy (a / b) | ${THROUGHPUT_IDS.join(' | ')} |`, `|---|${THROUGHPUT_IDS.map(() => '---:').join('|')}|`);
  for (const [na, nb] of pairs) {
    const label = na === nb ? na : `${na} / ${nb}`;
    const cells = THROUGHPUT_IDS.map(
      (id) => `${fmt(a.summary[na]![id]?.proxyCpuUsPerMsg)} / ${fmt(b.summary[nb]![id]?.proxyCpuUsPerMsg)}`,
    );
    rows.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  return { rows, maxRatioGap: maxGap, outside };
}

if (import.meta.main) {
  const [fa, fb, ...rest] = process.argv.slice(2);
  if (!fa || !fb) {
    process.stderr.write('usage: node scripts/bench/compare.ts <a.json> <b.json> [nameInA=nameInB ...]\n');
    process.exit(2);
  }
  const aliases = Object.fromEntries(rest.map((s) => s.split('=') as [string, string]));
  const read = (f: string) => JSON.parse(readFileSync(f, 'utf8')) as ResultFile;
  const c = compareRuns(read(fa), read(fb), aliases);
  process.stdout.write(
    [
      `a: ${fa}`,
      `b: ${fb}`,
      '',
      'Throughput ratio vs direct (a / b), handshake p50 and idle memory:',
      '',
      ...c.rows,
      '',
      `largest throughput-ratio gap: ${fmt(c.maxRatioGap)}; ` +
        (c.outside.length === 0
          ? `every cell within ±${RATIO_NOISE} (noise)`
          : `${c.outside.length} cell(s) at ±${RATIO_NOISE} or more: ${c.outside.join('; ')}`),
      '',
    ].join('\n'),
  );
}
