// Synthetic measurements for the bench's report and target tests.
import type {
  HandshakeResult,
  IdleResult,
  LoadResult,
  PingpongResult,
  RawEntry,
  Scenario,
} from '../../../scripts/bench/model.ts';
import { allScenarios } from '../../../scripts/bench/model.ts';

export const SCENARIOS: Scenario[] = allScenarios({ handshakes: 200, idleConns: 2000 });

export function pp(msgsPerSec: number, p50Ms = 1, p99Ms = 2, cpu: number | null = 40): PingpongResult {
  return {
    mode: 'pingpong',
    conns: 1,
    size: 64,
    opened: 1,
    durationS: 1,
    msgs: msgsPerSec,
    msgsPerSec,
    mbPerSec: (msgsPerSec * 64) / 1e6,
    p50Ms,
    p99Ms,
    proxyCpuUsPerMsg: cpu,
    proxyCpuPct: cpu === null ? null : 50,
    badEchoes: 0,
    diedEarly: 0,
  };
}

export function hs(p50Ms: number, p99Ms = p50Ms * 3, warmP50Ms = p50Ms / 2): HandshakeResult {
  return { mode: 'handshake', count: 200, failures: 0, lastError: null, p50Ms, p99Ms, meanMs: p50Ms, warmP50Ms };
}

export function idle(kibPerConn: number | null): IdleResult {
  return {
    mode: 'idle',
    requested: 2000,
    opened: 2000,
    failures: 0,
    lastError: null,
    openS: 1,
    rssBeforeKiB: kibPerConn === null ? null : 50_000,
    rssAfterKiB: kibPerConn === null ? null : 50_000 + kibPerConn * 2000,
    kibPerConn,
  };
}

export function entry(rep: number, scenario: string, proxy: string, result: LoadResult): RawEntry {
  return { rep, scenario, proxy, at: '2026-11-26T00:00:00Z', loadavg1: 0.1, result };
}

/**
 * A full raw matrix: for every rep, scenario and proxy, the throughput is direct's times factor(proxy, scenario),
 * direct's own throughput changes per rep (1000 × rep), handshake p50 is base + overhead, idle KiB as given.
 */
export function matrix(opts: {
  reps: number;
  proxies: Record<
    string,
    { thr: number | ((scenario: string, rep: number) => number); hsOver?: number; kib?: number; cpu?: number }
  >;
}): RawEntry[] {
  const raw: RawEntry[] = [];
  for (let rep = 1; rep <= opts.reps; rep++) {
    const direct = 1000 * rep;
    for (const sc of SCENARIOS) {
      raw.push(
        entry(
          rep,
          sc.id,
          'direct',
          sc.kind === 'pingpong' ? pp(direct, 0.05 * rep) : sc.kind === 'handshake' ? hs(0.5) : idle(null),
        ),
      );
      for (const [name, p] of Object.entries(opts.proxies)) {
        const f = typeof p.thr === 'number' ? p.thr : p.thr(sc.id, rep);
        const result =
          sc.kind === 'pingpong'
            ? pp(direct * f, (0.05 * rep) / f, 2, p.cpu ?? 40)
            : sc.kind === 'handshake'
              ? hs(0.5 + (p.hsOver ?? 0.1))
              : idle(p.kib ?? 5);
        raw.push(entry(rep, sc.id, name, result));
      }
    }
  }
  return raw;
}
