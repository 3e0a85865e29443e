// The soak's output: one markdown table of what was measured and PASS/FAIL lines for the targets of issue 11 (zero
// unexpected closes, zero lost or reordered messages, RSS after close within 10 % of the idle baseline), plus a plain
// sentence on whether the client side kept up. Pure, unit-tested; scripts/soak.ts gathers the numbers.
import { fmt } from '../bench/stats.ts';
import type { LogCounts } from './log-tally.ts';
import type { SequenceTotals } from './sequence.ts';

/**
 * Memory of wsgate's process tree at one moment: RSS from /proc, the part of it released lazily (LazyFree, from
 * smaps_rollup) and the V8 heap from the probe (each null where it could not be read).
 */
export type MemorySample = {
  rssKiB: number;
  lazyFreeKiB: number | null;
  heapUsedKiB: number | null;
  heapTotalKiB: number | null;
};

export type SoakResult = {
  conns: number;
  opened: number;
  openFailures: number;
  seconds: number;
  rampSeconds: number;
  /** SYNs the kernel dropped at a full listen queue during the ramp-up (machine-wide; null: unknown). */
  listenDrops: number | null;
  /** Handshake times of the connections that opened (ms), during the ramp-up. */
  handshake: { p50: number | null; p99: number | null; max: number | null };
  size: number;
  workers: number;
  /** The malloc wsgate ran with (scripts/soak/allocator.ts). */
  allocator: string;
  /** wsgate's tap level. */
  tap: string;
  clients: number;
  totals: SequenceTotals;
  corrupt: number;
  skipped: number;
  /** Closes before the script closed the connections itself, and how they closed (close code → count). */
  unexpectedCloses: number;
  closeCodes: Record<string, number>;
  rtt: { p50: number | null; p99: number | null; max: number | null };
  /** The longest round trip of each second of the run (ms), to tell a start-up backlog from a steady one. */
  worstBySecond: number[];
  /** How late the clients' sends left against their schedule (ms): the client side's own delay. */
  lateness: { p99: number | null; max: number | null };
  memory: { idle: MemorySample; open: MemorySample; peakRssKiB: number; end: MemorySample; afterClose: MemorySample };
  /** After V8's last-resort GC, forced through the probe once everything else was measured (diagnosis only). */
  afterGc: MemorySample | null;
  settleSeconds: number;
  /** CPU seconds of each process kind during the sending window, and the window's length. */
  cpu: { wsgate: number; echo: number; clients: number[]; windowSeconds: number };
  load: { start: string; end: string };
  /** CPUs of the machine, for reading the load average. */
  cpus: number;
  /** The log as read back (null when it went to /dev/null). */
  log: { file: string; bytes: number | null; counts: LogCounts | null };
  notes: string[];
};

export type Verdict = { pass: boolean; name: string; detail: string };

/** RSS after close may exceed the idle baseline by at most this fraction. */
export const RSS_TOLERANCE = 0.1;

const mib = (kib: number | null) => (kib === null ? '–' : `${fmt(kib / 1024, 1)} MiB`);
const pct = (cpuSeconds: number, window: number) => (window > 0 ? `${fmt((100 * cpuSeconds) / window, 1)} %` : '–');
const ms = (x: number | null) => (x === null ? '–' : `${fmt(x)} ms`);

export function verdicts(r: SoakResult): Verdict[] {
  const closes = r.unexpectedCloses + r.openFailures;
  const growth = (r.memory.afterClose.rssKiB - r.memory.idle.rssKiB) / r.memory.idle.rssKiB;
  return [
    {
      pass: closes === 0 && r.opened === r.conns,
      name: 'zero unexpected closes',
      detail: `${r.unexpectedCloses} unexpected closes, ${r.openFailures} failed opens`,
    },
    {
      pass: r.totals.lost === 0 && r.totals.reordered === 0 && r.totals.unexpected === 0 && r.corrupt === 0,
      name: 'zero lost or reordered messages',
      detail: `${r.totals.lost} lost, ${r.totals.reordered} reordered, ${r.totals.unexpected + r.corrupt} duplicate or corrupt of ${r.totals.sent} sent`,
    },
    {
      pass: growth <= RSS_TOLERANCE,
      name: 'RSS after close within 10 % of the idle baseline',
      detail: `${mib(r.memory.afterClose.rssKiB)} after ${r.settleSeconds} s vs ${mib(r.memory.idle.rssKiB)} idle (${growth >= 0 ? '+' : ''}${fmt(growth * 100, 1)} %)`,
    },
  ];
}

/**
 * Whether the clients, not wsgate, limited the run: a client process near a full core, or sends leaving late by more
 * than a tenth of the interval between two messages of a connection.
 */
export function clientVerdict(r: SoakResult): string {
  const busiest = Math.max(0, ...r.cpu.clients) / Math.max(r.cpu.windowSeconds, 1e-9);
  const late = r.lateness.p99 ?? 0;
  const facts = `busiest client process ${fmt(busiest * 100, 1)} % of a core, send lateness p99 ${ms(r.lateness.p99)} (max ${ms(r.lateness.max)})`;
  return busiest > 0.9 || late > 100
    ? `The client side may have been a bottleneck: ${facts}; latencies include that delay.`
    : `The client side kept up: ${facts}.`;
}

/** The maximum of each run of ten seconds, in ms, "–" for none. */
export function tens(perSecond: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < perSecond.length; i += 10) out.push(fmt(Math.max(...perSecond.slice(i, i + 10))));
  return out.length === 0 ? '–' : `${out.join(', ')} ms`;
}

function logSummary(r: SoakResult): string {
  const c = r.log.counts;
  if (c === null) return r.log.file;
  const dropped =
    c.droppedTraffic + c.droppedOther === 0
      ? 'none dropped'
      : `${c.droppedTraffic} traffic lines${c.droppedOther ? ` and ${c.droppedOther} others` : ''} dropped by its log queue`;
  return `${r.log.file}: ${c.lines} lines, ${mib(r.log.bytes === null ? null : r.log.bytes / 1024)}; ${c.trafficLines} frame/message lines, ${dropped}`;
}

/**
 * Whether the machine itself was the limit: a 1-minute load average above the CPU count (at the start or the end)
 * means processes waited for a CPU, wsgate included, so round trips include that wait. null when it was not.
 */
export function loadVerdict(r: SoakResult): string | null {
  const worst = Math.max(...[r.load.start, r.load.end].map((l) => Number(l.split(' ')[0])));
  if (!(worst > r.cpus)) return null;
  const total = r.cpu.wsgate + r.cpu.echo + r.cpu.clients.reduce((a, b) => a + b, 0);
  return (
    `The machine was oversubscribed: load average up to ${fmt(worst, 1)} on ${r.cpus} CPUs (other work was ` +
    `running), and wsgate, echo and clients together used ${fmt((100 * total) / Math.max(r.cpu.windowSeconds, 1e-9), 1)} % ` +
    `of one core of the ${r.cpus * 100} % there is: round-trip times include waiting for a CPU.`
  );
}

export function renderTable(r: SoakResult): string {
  const perConn = (kib: number) => `${fmt((kib - r.memory.idle.rssKiB) / Math.max(r.opened, 1))} KiB`;
  const heap = (s: MemorySample) => {
    const parts = [
      ...(s.lazyFreeKiB ? [`LazyFree ${mib(s.lazyFreeKiB)}`] : []),
      ...(s.heapUsedKiB === null ? [] : [`V8 heap used ${mib(s.heapUsedKiB)} of ${mib(s.heapTotalKiB)}`]),
    ];
    return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
  };
  const closes = Object.entries(r.closeCodes)
    .map(([code, n]) => `${n} × ${code}`)
    .join(', ');
  const rows: [string, string][] = [
    ['connections', `${r.opened} of ${r.conns}${r.openFailures ? ` (${r.openFailures} failed to open)` : ''}`],
    ['duration', `${r.seconds} s of sending after a ${fmt(r.rampSeconds, 1)} s ramp-up`],
    ['handshake p50 / p99 / max (ramp-up)', `${ms(r.handshake.p50)} / ${ms(r.handshake.p99)} / ${ms(r.handshake.max)}`],
    ['listen-queue drops (ramp-up)', r.listenDrops === null ? '–' : String(r.listenDrops)],
    [
      'wsgate',
      `${r.workers === 1 ? '1 process' : `${r.workers} workers + primary`}, tap ${r.tap}, log level info, ${r.allocator} malloc`,
    ],
    ['client processes', String(r.clients)],
    ['message size', `${r.size} B text, one per connection per second`],
    ['messages sent / received', `${r.totals.sent} / ${r.totals.received}`],
    ['lost', String(r.totals.lost)],
    ['reordered', String(r.totals.reordered)],
    ['duplicate or corrupt echoes', String(r.totals.unexpected + r.corrupt)],
    ['unexpected closes', `${r.unexpectedCloses}${closes ? ` (${closes})` : ''}`],
    ['RTT p50 / p99 / max', `${ms(r.rtt.p50)} / ${ms(r.rtt.p99)} / ${ms(r.rtt.max)}`],
    ['longest RTT in each 10 s', tens(r.worstBySecond)],
    ['wsgate RSS idle (after start)', `${mib(r.memory.idle.rssKiB)}${heap(r.memory.idle)}`],
    ['wsgate RSS, all connections open', `${mib(r.memory.open.rssKiB)}${heap(r.memory.open)}`],
    ['wsgate RSS peak (sending)', mib(r.memory.peakRssKiB)],
    ['RSS per connection (open / peak)', `${perConn(r.memory.open.rssKiB)} / ${perConn(r.memory.peakRssKiB)}`],
    ['wsgate RSS at the end (still open)', `${mib(r.memory.end.rssKiB)}${heap(r.memory.end)}`],
    [
      `wsgate RSS after close (+${r.settleSeconds} s)`,
      `${mib(r.memory.afterClose.rssKiB)}${heap(r.memory.afterClose)}`,
    ],
    ...(r.afterGc
      ? [["… after V8's last-resort GC", `${mib(r.afterGc.rssKiB)}${heap(r.afterGc)}`] as [string, string]]
      : []),
    [
      'CPU while sending (% of one core)',
      `wsgate ${pct(r.cpu.wsgate, r.cpu.windowSeconds)}, echo ${pct(r.cpu.echo, r.cpu.windowSeconds)}, clients ${r.cpu.clients.map((c) => pct(c, r.cpu.windowSeconds)).join(' + ')}`,
    ],
    ['wsgate log', logSummary(r)],
    ['load average (start → end)', `${r.load.start} → ${r.load.end}`],
  ];
  const w0 = Math.max(6, ...rows.map(([k]) => k.length));
  const w1 = Math.max(5, ...rows.map(([, v]) => v.length));
  const line = (a: string, b: string) => `| ${a.padEnd(w0)} | ${b.padEnd(w1)} |`;
  return [
    line('metric', 'value'),
    `| ${'-'.repeat(w0)} | ${'-'.repeat(w1)} |`,
    ...rows.map(([k, v]) => line(k, v)),
  ].join('\n');
}

/**
 * When RSS did not come back: whether the growth is garbage not yet collected (an idle process allocates nothing, so
 * nothing triggers a GC) and pages V8 keeps for reuse, or memory still held. The last sample comes after V8's
 * last-resort GC (the one it runs under memory pressure, which also hands pooled pages back): if RSS is back within
 * the tolerance then, nothing leaked. Otherwise the rest is split into live JS objects, V8 heap pages and memory
 * outside the V8 heap. null when the target was met or the probe had no answer.
 */
export function memoryDiagnosis(r: SoakResult): string | null {
  const { idle, afterClose } = r.memory;
  const gc = r.afterGc;
  if (afterClose.rssKiB <= idle.rssKiB * (1 + RSS_TOLERANCE)) return null;
  if (
    !gc ||
    gc.heapUsedKiB === null ||
    gc.heapTotalKiB === null ||
    idle.heapUsedKiB === null ||
    idle.heapTotalKiB === null
  ) {
    return null;
  }
  const before =
    `RSS after close is ${sign(afterClose.rssKiB - idle.rssKiB)} over idle` +
    (afterClose.heapUsedKiB === null
      ? '. '
      : `, with ${mib(afterClose.heapUsedKiB)} of V8 heap in use (idle ${mib(idle.heapUsedKiB)}). `);
  const after =
    `After V8's last-resort GC (forced through the probe): RSS ${mib(gc.rssKiB)} ` +
    `(${signPct(gc.rssKiB, idle.rssKiB)} vs idle), heap used ${mib(gc.heapUsedKiB)}`;
  if (gc.rssKiB <= idle.rssKiB * (1 + RSS_TOLERANCE)) {
    return (
      `${before}${after}: the growth was garbage not yet collected and heap pages V8 keeps for reuse, ` +
      `not a leak; an idle process allocates nothing, so no GC comes to return them on its own.`
    );
  }
  const live = gc.heapUsedKiB - idle.heapUsedKiB;
  const pages = gc.heapTotalKiB - idle.heapTotalKiB - live;
  const native = gc.rssKiB - idle.rssKiB - (gc.heapTotalKiB - idle.heapTotalKiB);
  const lazy =
    gc.lazyFreeKiB === null || gc.lazyFreeKiB === 0
      ? ''
      : ` ${mib(gc.lazyFreeKiB)} of it is LazyFree (released with MADV_FREE; the kernel takes it back under pressure).`;
  return (
    `${before}${after}. What stays over idle: live JS objects ${sign(live)}, empty V8 heap pages ${sign(pages)}, ` +
    `outside the V8 heap (native buffers, code, memory the allocator has not returned) ${sign(native)}.${lazy}`
  );
}

function signPct(value: number, base: number): string {
  const g = (value - base) / base;
  return `${g >= 0 ? '+' : '−'}${fmt(Math.abs(g) * 100, 1)} %`;
}

function sign(kib: number): string {
  return `${kib >= 0 ? '+' : '−'}${mib(Math.abs(kib))}`;
}

/** The whole printout: table, verdict lines, the client sentence and the notes. */
export function renderReport(r: SoakResult): string {
  const v = verdicts(r);
  return [
    renderTable(r),
    '',
    ...v.map((x) => `${x.pass ? 'PASS' : 'FAIL'} ${x.name}: ${x.detail}`),
    '',
    clientVerdict(r),
    ...(loadVerdict(r) === null ? [] : [loadVerdict(r)!]),
    ...(memoryDiagnosis(r) === null ? [] : [memoryDiagnosis(r)!]),
    ...r.notes.map((n) => `Note: ${n}.`),
  ].join('\n');
}
