// What the benchmark measures: scenarios, settings, and the shapes of results. Pure; unit-tested.

export type PingpongScenario = {
  id: string;
  group: 'small' | 'medium' | 'large';
  kind: 'pingpong';
  size: number;
  conns: number;
};
export type HandshakeScenario = { id: 'handshake'; group: 'handshake'; kind: 'handshake'; count: number };
export type IdleScenario = { id: 'idle'; group: 'idle'; kind: 'idle'; count: number };
export type Scenario = PingpongScenario | HandshakeScenario | IdleScenario;

export type PingpongResult = {
  mode: 'pingpong';
  conns: number;
  size: number;
  opened: number;
  durationS: number;
  msgs: number;
  /** Round trips per second in the window (one message each way). */
  msgsPerSec: number;
  /** Payload one way, 1 MB = 1e6 B. */
  mbPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
  proxyCpuUsPerMsg: number | null;
  proxyCpuPct: number | null;
  badEchoes: number;
  diedEarly: number;
};
export type HandshakeResult = {
  mode: 'handshake';
  count: number;
  failures: number;
  lastError: string | null;
  p50Ms: number | null;
  p99Ms: number | null;
  meanMs: number | null;
  /**
   * p50 of a second run against the same proxy process after WARM_HANDSHAKES unrecorded ones (run.ts): the steady
   * state, once a JIT-compiled proxy has compiled its handshake path. The first run is the cold start.
   */
  warmP50Ms?: number | null;
};
export type IdleResult = {
  mode: 'idle';
  requested: number;
  opened: number;
  failures: number;
  lastError: string | null;
  openS: number;
  rssBeforeKiB: number | null;
  rssAfterKiB: number | null;
  kibPerConn: number | null;
};
export type ErrorResult = { error: string };
/** Leaf certificate micro-bench (certs.ts): a new host's leaf, and a cached one, from wsgate's LeafCache. */
export type CertResult = {
  hosts: number;
  issueP50Ms: number | null;
  issueP99Ms: number | null;
  cachedP50Ms: number | null;
  cachedP99Ms: number | null;
};
export type CertOutcome = CertResult | ErrorResult | { skipped: string };
export type LoadResult = PingpongResult | HandshakeResult | IdleResult | ErrorResult;

/** One measurement: one proxy, one scenario, one rep. */
export type RawEntry = {
  rep: number;
  scenario: string;
  proxy: string;
  at: string;
  loadavg1: number;
  result: LoadResult;
};

export type Settings = {
  quick: boolean;
  reps: number;
  durationS: number;
  warmupS: number;
  handshakes: number;
  idleConns: number;
  maxMinutes: number;
};

type Env = Readonly<Record<string, string | undefined>>;

function num(env: Env, key: string, fallback: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${key} must be a positive number, got "${raw}"`);
  return v;
}

/** Full run: 5 reps, 3 s windows, 200 handshakes, 2000 idle. Quick: 1 rep, 1 s, 100 handshakes, 1000 idle. */
export function settingsFromEnv(env: Env, quickFlag = false): Settings {
  const quick = quickFlag || env['BENCH_QUICK'] === '1';
  return {
    quick,
    reps: Math.round(num(env, 'BENCH_REPS', quick ? 1 : 5)),
    durationS: num(env, 'BENCH_DURATION', quick ? 1 : 3),
    warmupS: num(env, 'BENCH_WARMUP', 0.5),
    handshakes: Math.round(num(env, 'BENCH_HANDSHAKES', quick ? 100 : 200)),
    // Quick holds as many idle connections as ../shared/bench's quick run, so the two report the same figure.
    idleConns: Math.round(num(env, 'BENCH_IDLE_CONNS', quick ? 1000 : 2000)),
    maxMinutes: num(env, 'BENCH_MAX_MINUTES', 45),
  };
}

export function allScenarios(s: Pick<Settings, 'handshakes' | 'idleConns'>): Scenario[] {
  return [
    { id: '64B-c1', group: 'small', kind: 'pingpong', size: 64, conns: 1 },
    { id: '64B-c50', group: 'small', kind: 'pingpong', size: 64, conns: 50 },
    { id: '64KiB-c1', group: 'medium', kind: 'pingpong', size: 65536, conns: 1 },
    { id: '64KiB-c4', group: 'medium', kind: 'pingpong', size: 65536, conns: 4 },
    { id: '1MiB-c1', group: 'large', kind: 'pingpong', size: 1048576, conns: 1 },
    { id: '1MiB-c4', group: 'large', kind: 'pingpong', size: 1048576, conns: 4 },
    { id: 'handshake', group: 'handshake', kind: 'handshake', count: s.handshakes },
    { id: 'idle', group: 'idle', kind: 'idle', count: s.idleConns },
  ];
}

/**
 * SCENARIOS: "all" (default), groups small / medium / large / throughput / handshake / idle, or ids such as
 * "64B-c50,1MiB-c4", separated by commas or spaces.
 */
export function selectScenarios(all: readonly Scenario[], spec: string | undefined): Scenario[] {
  const want = (spec ?? 'all').split(/[\s,]+/).filter(Boolean);
  if (want.length === 0 || want.includes('all')) return [...all];
  const keys = new Set(want.flatMap((w) => (w === 'throughput' ? ['small', 'medium', 'large'] : [w])));
  const unknown = [...keys].filter((k) => !all.some((s) => s.group === k || s.id === k));
  if (unknown.length > 0) throw new Error(`unknown scenario(s): ${unknown.join(', ')}`);
  return all.filter((s) => keys.has(s.group) || keys.has(s.id));
}

/** Proxy order for one rep: rotated by one position per rep, so nobody always runs first or last. */
export function rotation<T>(items: readonly T[], rep: number): T[] {
  if (items.length === 0) return [];
  const shift = (rep - 1) % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

export function isError(r: LoadResult | undefined): r is ErrorResult | undefined {
  return r === undefined || 'error' in r;
}
