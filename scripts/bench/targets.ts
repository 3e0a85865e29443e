// The performance targets of issue 7, evaluated on one run's summary. Pure; unit-tested.
//
// - tap frames: throughput ratio ≥ nginx's (1 worker) and ≥ hp3's in every throughput scenario
// - tap frames: handshake p50 within 0.3 ms of direct; idle memory ≤ 8 KiB per connection
// - tap payload: ≥ 0.8 of passthrough (tap off) throughput in every throughput scenario
// - relay mode ≥ 0.5 of passthrough (issue 12; relay-variants.ts); leaf certificate issuance p50 ≤ 5 ms, cached ≤ 0.1 ms
import type { CertOutcome, PingpongResult, RawEntry, Scenario } from './model.ts';
import { relayTargets } from './relay-variants.ts';
import { pairedRatios, type Summary, type TargetRow } from './report.ts';
import { fmt, median } from './stats.ts';

/** Differences in a throughput ratio smaller than this are noise on the shared 2-core machines. */
export const RATIO_NOISE = 0.1;
export const HANDSHAKE_OVERHEAD_MS = 0.3;
export const IDLE_KIB_MAX = 8;
export const PAYLOAD_MIN_OF_PASSTHROUGH = 0.8;
export const LEAF_ISSUE_P50_MS = 5;
export const LEAF_CACHED_P50_MS = 0.1;

export type TargetInput = {
  summary: Summary;
  raw: readonly RawEntry[];
  /** Proxies that ran (names). */
  proxies: readonly string[];
  scenarios: readonly Scenario[];
  /** Proxies that were asked for but could not run, with why. */
  skipped: readonly { name: string; why: string }[];
  /** The leaf certificate micro-bench, when it ran. */
  certs?: CertOutcome | undefined;
};

function absentWhy(name: string, input: TargetInput): string {
  const s = input.skipped.find((x) => x.name === name);
  return s ? `${name} skipped: ${s.why}` : `${name} not in this run`;
}

/** The wsgate row that stands for tap frames: wsgate-frames, else plain wsgate while --tap does not exist. */
export function framesVariant(proxies: readonly string[]): { name: string; label: string } | null {
  if (proxies.includes('wsgate-frames')) return { name: 'wsgate-frames', label: 'wsgate-frames' };
  if (proxies.includes('wsgate')) return { name: 'wsgate', label: 'wsgate (no --tap yet, stands in for tap frames)' };
  return null;
}

/** "15.2 KiB (nginx 17.4, …)": a wsgate row's KiB per idle connection with those of the named rows that ran. */
export function idleDetail(kib: number, summary: Summary, beside: readonly string[]): string {
  const others = beside
    .map((p) => [p, summary[p]?.['idle']?.kibPerConn] as const)
    .filter(([, v]) => typeof v === 'number')
    .map(([p, v]) => `${p} ${fmt(v)}`);
  return `${fmt(kib)} KiB${others.length > 0 ? ` (${others.join(', ')})` : ''}`;
}

function noiseNote(a: number, b: number): string {
  return Math.abs(a - b) < RATIO_NOISE ? `; gap within ±${RATIO_NOISE} noise` : '';
}

export function evaluateTargets(input: TargetInput): TargetRow[] {
  const rows: TargetRow[] = [];
  const { summary, proxies } = input;
  const tp = input.scenarios.filter((s) => s.kind === 'pingpong');
  const frames = framesVariant(proxies);
  const framesLabel = frames?.label ?? 'wsgate-frames';

  for (const peer of ['nginx', 'hp3']) {
    for (const sc of tp) {
      const target = `${framesLabel} ≥ ${peer} ratio at ${sc.id}`;
      if (!frames) {
        rows.push({ target, status: 'n/a', detail: 'no wsgate row in this run' });
        continue;
      }
      if (!proxies.includes(peer)) {
        rows.push({ target, status: 'n/a', detail: absentWhy(peer, input) });
        continue;
      }
      const a = summary[frames.name]?.[sc.id]?.throughputRatio;
      const b = summary[peer]?.[sc.id]?.throughputRatio;
      if (a === null || a === undefined || b === null || b === undefined) {
        rows.push({ target, status: 'n/a', detail: 'a measurement failed (see Errors)' });
        continue;
      }
      rows.push({
        target,
        status: a >= b ? 'met' : 'not met',
        detail: `${fmt(a)} vs ${fmt(b)}${noiseNote(a, b)}`,
      });
    }
  }

  if (input.scenarios.some((s) => s.id === 'handshake')) {
    const target = `${framesLabel} handshake p50 within ${HANDSHAKE_OVERHEAD_MS} ms of direct`;
    const h = frames ? summary[frames.name]?.['handshake'] : undefined;
    const d = summary['direct']?.['handshake'];
    const over = h?.p50OverDirectMs;
    if (!frames || over === null || over === undefined) {
      rows.push({ target, status: 'n/a', detail: frames ? 'a measurement failed (see Errors)' : 'no wsgate row' });
    } else {
      rows.push({
        target,
        status: over <= HANDSHAKE_OVERHEAD_MS ? 'met' : 'not met',
        detail: `+${fmt(over, 3)} ms (p50 ${fmt(h?.p50Ms, 3)} vs direct ${fmt(d?.p50Ms, 3)} ms)`,
      });
    }
  }

  if (input.scenarios.some((s) => s.id === 'idle')) {
    const target = `${framesLabel} idle memory ≤ ${IDLE_KIB_MAX} KiB per connection`;
    const kib = frames ? summary[frames.name]?.['idle']?.kibPerConn : undefined;
    if (!frames || kib === null || kib === undefined) {
      rows.push({ target, status: 'n/a', detail: frames ? 'a measurement failed (see Errors)' : 'no wsgate row' });
    } else {
      rows.push({
        target,
        status: kib <= IDLE_KIB_MAX ? 'met' : 'not met',
        detail: idleDetail(kib, summary, ['nginx', 'haproxy', 'hp3']),
      });
    }
  }

  for (const sc of tp) {
    const target = `wsgate-payload ≥ ${PAYLOAD_MIN_OF_PASSTHROUGH} × wsgate-off throughput at ${sc.id}`;
    if (!proxies.includes('wsgate-payload') || !proxies.includes('wsgate-off')) {
      rows.push({
        target,
        status: 'n/a',
        detail: proxies.includes('wsgate') ? 'no --tap option yet' : 'wsgate-payload / wsgate-off not in this run',
      });
      continue;
    }
    const r = median(
      pairedRatios<PingpongResult>(input.raw, sc.id, 'wsgate-payload', 'wsgate-off', (x) => x.msgsPerSec),
    );
    if (r === null) {
      rows.push({ target, status: 'n/a', detail: 'a measurement failed (see Errors)' });
      continue;
    }
    rows.push({
      target,
      status: r >= PAYLOAD_MIN_OF_PASSTHROUGH ? 'met' : 'not met',
      detail: `${fmt(r)} of passthrough (same-rep pairs, median)`,
    });
  }

  rows.push(...relayTargets(input));
  rows.push(certTarget(input.certs));
  return rows;
}

function certTarget(certs: CertOutcome | undefined): TargetRow {
  const target = `leaf certificate issuance p50 ≤ ${LEAF_ISSUE_P50_MS} ms, cached ≤ ${LEAF_CACHED_P50_MS} ms`;
  if (certs === undefined) return { target, status: 'n/a', detail: 'not measured in this run (BENCH_CERTS=0)' };
  if ('skipped' in certs) return { target, status: 'n/a', detail: certs.skipped };
  if ('error' in certs) return { target, status: 'n/a', detail: `the micro-bench failed: ${certs.error}` };
  const { issueP50Ms: issue, cachedP50Ms: cached } = certs;
  if (issue === null || cached === null) return { target, status: 'n/a', detail: 'no samples' };
  return {
    target,
    status: issue <= LEAF_ISSUE_P50_MS && cached <= LEAF_CACHED_P50_MS ? 'met' : 'not met',
    detail: `issue p50 ${fmt(issue, 3)} ms (p99 ${fmt(certs.issueP99Ms, 3)}), cached p50 ${fmt(cached, 4)} ms over ${certs.hosts} hosts`,
  };
}

/** One line for the console: "met 9, not met 3, n/a 8". */
export function targetTally(rows: readonly TargetRow[]): string {
  const count = (s: TargetRow['status']) => rows.filter((r) => r.status === s).length;
  return `met ${count('met')}, not met ${count('not met')}, n/a ${count('n/a')}`;
}
