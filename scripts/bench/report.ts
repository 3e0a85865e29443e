// From raw measurements to the summary (ratios to direct, same rep, median over reps) and the markdown
// tables. Pure; unit-tested. The table layout follows the shared reference harness so the two compare
// line by line.
import {
  type CertOutcome,
  type HandshakeResult,
  type IdleResult,
  isError,
  type LoadResult,
  type PingpongResult,
  type RawEntry,
  type Scenario,
  type Settings,
} from './model.ts';
import { fmt, median, ratio } from './stats.ts';

export type ScenarioSummary = {
  /** Successful reps. */
  n: number;
  errors: string[];
  msgsPerSec?: number | null;
  mbPerSec?: number | null;
  p50Ms?: number | null;
  p99Ms?: number | null;
  meanMs?: number | null;
  proxyCpuUsPerMsg?: number | null;
  proxyCpuPct?: number | null;
  /** Median over reps of (this proxy ÷ direct, same rep). */
  throughputRatio?: number | null;
  p50Ratio?: number | null;
  p99Ratio?: number | null;
  throughputRatioPerRep?: number[];
  /** direct only: max ÷ min round trips/s across reps (noise gauge). */
  directSpread?: number | null;
  /** handshake: median over reps of (this p50 − direct p50, same rep), ms. */
  p50OverDirectMs?: number | null;
  /** handshake: the same for the warm run (HandshakeResult.warmP50Ms), ms. */
  warmOverDirectMs?: number | null;
  kibPerConn?: number | null;
  kibPerConnPerRep?: number[];
  openS?: number | null;
};
export type Summary = Record<string, Record<string, ScenarioSummary>>;

function resultOf(raw: readonly RawEntry[], rep: number, scenario: string, proxy: string): LoadResult | undefined {
  return raw.find((r) => r.rep === rep && r.scenario === scenario && r.proxy === proxy)?.result;
}

function reps(raw: readonly RawEntry[]): number[] {
  return [...new Set(raw.map((r) => r.rep))].sort((a, b) => a - b);
}

/**
 * Per-rep ratios pick(a) ÷ pick(b) for reps where both measurements succeeded. Pairing within a rep is what
 * makes the ratios robust: the machine's mood changes between reps more than between neighbours.
 */
export function pairedRatios<T extends LoadResult>(
  raw: readonly RawEntry[],
  scenario: string,
  a: string,
  b: string,
  pick: (r: T) => number | null,
): number[] {
  const out: number[] = [];
  for (const rep of reps(raw)) {
    const ra = resultOf(raw, rep, scenario, a);
    const rb = resultOf(raw, rep, scenario, b);
    if (isError(ra) || isError(rb)) continue;
    const x = ratio(pick(ra as T), pick(rb as T));
    if (x !== null) out.push(x);
  }
  return out;
}

export function summarize(
  raw: readonly RawEntry[],
  proxies: readonly string[],
  scenarios: readonly Scenario[],
): Summary {
  const summary: Summary = {};
  for (const p of proxies) {
    const byScenario: Record<string, ScenarioSummary> = {};
    for (const sc of scenarios) {
      const all = raw.filter((r) => r.scenario === sc.id && r.proxy === p).map((r) => r.result);
      const errors = all
        .filter((r) => isError(r))
        .map((r) => (r as { error?: string } | undefined)?.error ?? 'missing');
      const s: ScenarioSummary = { n: all.length - errors.length, errors };
      if (sc.kind === 'pingpong') {
        const ok = all.filter((r) => !isError(r)) as PingpongResult[];
        s.msgsPerSec = median(ok.map((r) => r.msgsPerSec));
        s.mbPerSec = median(ok.map((r) => r.mbPerSec));
        s.p50Ms = median(ok.map((r) => r.p50Ms));
        s.p99Ms = median(ok.map((r) => r.p99Ms));
        s.proxyCpuUsPerMsg = median(ok.map((r) => r.proxyCpuUsPerMsg));
        s.proxyCpuPct = median(ok.map((r) => r.proxyCpuPct));
        const thr = pairedRatios<PingpongResult>(raw, sc.id, p, 'direct', (r) => r.msgsPerSec);
        s.throughputRatio = median(thr);
        s.throughputRatioPerRep = thr.map((x) => +x.toFixed(3));
        s.p50Ratio = median(pairedRatios<PingpongResult>(raw, sc.id, p, 'direct', (r) => r.p50Ms));
        s.p99Ratio = median(pairedRatios<PingpongResult>(raw, sc.id, p, 'direct', (r) => r.p99Ms));
        if (p === 'direct' && ok.length > 1) {
          const v = ok.map((r) => r.msgsPerSec);
          s.directSpread = ratio(Math.max(...v), Math.min(...v));
        }
      } else if (sc.kind === 'handshake') {
        const ok = all.filter((r) => !isError(r)) as HandshakeResult[];
        s.p50Ms = median(ok.map((r) => r.p50Ms));
        s.p99Ms = median(ok.map((r) => r.p99Ms));
        s.meanMs = median(ok.map((r) => r.meanMs));
        const over: number[] = [];
        const warmOver: number[] = [];
        for (const rep of reps(raw)) {
          const mine = resultOf(raw, rep, sc.id, p);
          const direct = resultOf(raw, rep, sc.id, 'direct');
          if (isError(mine) || isError(direct)) continue;
          const [a, b] = [mine as HandshakeResult, direct as HandshakeResult];
          if (a.p50Ms !== null && b.p50Ms !== null) over.push(a.p50Ms - b.p50Ms);
          if (typeof a.warmP50Ms === 'number' && typeof b.warmP50Ms === 'number')
            warmOver.push(a.warmP50Ms - b.warmP50Ms);
        }
        s.p50OverDirectMs = median(over);
        s.warmOverDirectMs = median(warmOver);
      } else {
        const ok = all.filter((r) => !isError(r)) as IdleResult[];
        s.kibPerConn = median(ok.map((r) => r.kibPerConn));
        s.kibPerConnPerRep = ok.map((r) => r.kibPerConn).filter((x): x is number => x !== null);
        s.openS = median(ok.map((r) => r.openS));
      }
      byScenario[sc.id] = s;
    }
    summary[p] = byScenario;
  }
  return summary;
}

export type Meta = {
  startedAt: string;
  finishedAt?: string;
  elapsedS?: number;
  host: { cpus: number; node: string; kernel: string; loadavgStart: number[]; loadavgEnd?: number[] };
  settings: Settings;
  /** BENCH_LABEL: free text for the header. */
  label?: string | undefined;
  /** The wsgate checkout that ran, and its `git describe --always --dirty`. */
  wsgate?: { dir: string; revision: string };
  /** Idle connections actually requested (may be lower than settings.idleConns because of ulimit -n). */
  idleConns: number;
  proxyInfo: Record<string, string>;
  skipped: { name: string; why: string }[];
  notes: string[];
};

export type TargetRow = { target: string; status: 'met' | 'not met' | 'n/a'; detail: string };

function cell(s: ScenarioSummary | undefined, value: number | null | undefined, unit = ''): string {
  if (s && s.n === 0 && s.errors.length > 0) return 'ERR';
  const v = fmt(value);
  return v === '–' ? v : `${v}${unit}`;
}

/** The markdown report: ratio tables, absolute tables, targets, proxies, notes, errors. */
export function markdown(
  meta: Meta,
  summary: Summary,
  proxies: readonly string[],
  scenarios: readonly Scenario[],
  targets: readonly TargetRow[],
  certs?: CertOutcome,
): string {
  const st = meta.settings;
  const tp = scenarios.filter((s) => s.kind === 'pingpong');
  const L: string[] = [];
  L.push(
    `Run ${meta.startedAt} · ${meta.host.cpus} CPUs · node ${meta.host.node} · loadavg at start ${meta.host.loadavgStart.join(' ')}` +
      ` · reps ${st.reps} · window ${st.durationS} s (+${st.warmupS} s warm-up) · ${st.handshakes} handshakes` +
      ` · ${meta.idleConns} idle conns${st.quick ? ' · quick' : ''}` +
      (meta.wsgate ? ` · wsgate ${meta.wsgate.revision}` : '') +
      (meta.label ? ` · ${meta.label}` : ''),
    '',
  );
  if (tp.length > 0) {
    const head = `| proxy | ${tp.map((s) => s.id).join(' | ')} |`;
    const sep = `|---|${tp.map(() => '---:').join('|')}|`;
    const table = (
      title: string,
      value: (s: ScenarioSummary) => number | null | undefined,
      directValue: ((s: ScenarioSummary) => number | null | undefined) | null,
      directUnit: string,
      beside?: (s: ScenarioSummary) => number | null | undefined,
    ) => {
      L.push(`**${title}**`, '', head, sep);
      for (const p of proxies) {
        if (p === 'direct' && directValue === null) continue;
        const row = tp.map((sc) => {
          const s = summary[p]?.[sc.id];
          if (!s) return '–';
          if (p === 'direct' && directValue) return cell(s, directValue(s), directUnit);
          const extra = beside?.(s);
          const main = cell(s, value(s));
          return extra === null || extra === undefined || main === 'ERR' ? main : `${main} · ${fmt(extra)} µs`;
        });
        L.push(`| ${p} | ${row.join(' | ')} |`);
      }
      L.push('');
    };
    table(
      'Throughput ratio vs direct (round trips/s; higher is better; direct row: absolute round trips/s), with the ' +
        "proxy's CPU µs per round trip beside it: on shared cores the steadier of the two",
      (s) => s.throughputRatio,
      (s) => s.msgsPerSec,
      '/s',
      (s) => s.proxyCpuUsPerMsg,
    );
    if (st.reps > 1) {
      L.push(
        'Noise gauge, direct max/min round trips/s across reps: ' +
          tp.map((sc) => `${sc.id} ${fmt(summary['direct']?.[sc.id]?.directSpread)}`).join(', ') +
          ' (1.00 = perfectly repeatable).',
        '',
      );
    }
    table(
      'p50 round-trip latency ratio vs direct (lower is better; direct row: absolute ms)',
      (s) => s.p50Ratio,
      (s) => s.p50Ms,
      ' ms',
    );
    table(
      'p99 round-trip latency ratio vs direct (lower is better; direct row: absolute ms)',
      (s) => s.p99Ratio,
      (s) => s.p99Ms,
      ' ms',
    );
    table(
      'Proxy CPU µs per round trip (utime+stime of the proxy process tree ÷ round trips; absolute)',
      (s) => s.proxyCpuUsPerMsg,
      null,
      '',
    );
  }
  const hs = scenarios.some((s) => s.id === 'handshake');
  const idle = scenarios.some((s) => s.id === 'idle');
  if (hs || idle) {
    L.push('**Absolute: handshake latency and idle memory**', '');
    L.push(
      '| proxy | handshake p50 ms | handshake p99 ms | p50 over direct ms | warm: p50 over direct ms | KiB / idle conn |',
    );
    L.push('|---|---:|---:|---:|---:|---:|');
    for (const p of proxies) {
      const h = summary[p]?.['handshake'];
      const m = summary[p]?.['idle'];
      const over = p === 'direct' ? '–' : cell(h, h?.p50OverDirectMs);
      const warm = p === 'direct' ? '–' : cell(h, h?.warmOverDirectMs);
      L.push(
        `| ${p} | ${hs ? cell(h, h?.p50Ms) : '–'} | ${hs ? cell(h, h?.p99Ms) : '–'} | ${hs ? over : '–'} | ${
          hs ? warm : '–'
        } | ${idle && p !== 'direct' ? cell(m, m?.kibPerConn) : '–'} |`,
      );
    }
    if (hs) {
      L.push(
        '',
        'Handshake: a fresh proxy process, its first connects after 10 unrecorded ones (cold: a JIT-compiled proxy ' +
          'still interprets its handshake path); warm: a second run on the same process after 1,000 more.',
      );
    }
    L.push('');
  }
  if (certs !== undefined) {
    L.push('**Leaf certificates** (scripts/bench/certs.ts: wsgate LeafCache, throwaway CA)', '');
    if ('skipped' in certs) L.push(`skipped: ${certs.skipped}`);
    else if ('error' in certs) L.push(`failed: ${certs.error}`);
    else {
      L.push(
        `new host: p50 ${fmt(certs.issueP50Ms, 3)} ms, p99 ${fmt(certs.issueP99Ms, 3)} ms · cached: p50 ${fmt(
          certs.cachedP50Ms,
          4,
        )} ms, p99 ${fmt(certs.cachedP99Ms, 4)} ms · ${certs.hosts} hosts`,
      );
    }
    L.push('');
  }
  if (targets.length > 0) {
    L.push(
      '**Targets** (issue 7; the rows starting "16:" are issue 16\'s)',
      '',
      '| target | status | detail |',
      '|---|---|---|',
    );
    for (const t of targets) L.push(`| ${t.target} | ${t.status} | ${t.detail} |`);
    L.push('');
  }
  L.push('Proxies:');
  for (const p of proxies) L.push(`- ${p}: ${meta.proxyInfo[p] ?? ''}`);
  for (const s of meta.skipped) L.push(`- ${s.name}: SKIPPED, ${s.why}`);
  if (meta.notes.length > 0) {
    L.push('', 'Notes:');
    for (const n of meta.notes) L.push(`- ${n}`);
  }
  const errs: string[] = [];
  for (const p of proxies) {
    for (const sc of scenarios) for (const e of summary[p]?.[sc.id]?.errors ?? []) errs.push(`${p}/${sc.id}: ${e}`);
  }
  if (errs.length > 0) {
    L.push('', 'Errors:');
    for (const e of [...new Set(errs)].slice(0, 20)) L.push(`- ${e.split('\n')[0]}`);
  }
  return `${L.join('\n')}\n`;
}
