// The performance targets of issue 16, evaluated on one run's summary beside issue 7's (targets.ts). Pure;
// unit-tested. Each row's target text starts with "16:".
//
// - tap frames, no lines: throughput ratio ≥ nginx's − 0.05 in every throughput scenario, and CPU per round trip
//   ≤ 1.3 × nginx's at 64 KiB and 1 MiB
// - tap frames and payload with every line written to a file: ≥ 0.8 of tap off (same-rep pairs)
// - handshake p50 ≤ direct + 0.4 ms (the cold start; the detail gives the warm run too)
// - ≤ 16 KiB per idle tapped connection, beside tap off
import type { PingpongResult } from './model.ts';
import { pairedRatios, type TargetRow } from './report.ts';
import { fmt, median } from './stats.ts';
import { idleDetail, type TargetInput } from './targets.ts';

export const NGINX_RATIO_SLACK = 0.05;
export const CPU_MAX_OF_NGINX = 1.3;
export const LINES_MIN_OF_OFF = 0.8;
export const HANDSHAKE_MAX_OVER_MS = 0.4;
export const IDLE_MAX_KIB = 16;

const FRAMES = 'wsgate-frames';
/** CPU is compared where bytes dominate; at 64 B a round trip is mostly system calls and loop turns. */
const CPU_SCENARIOS = /^(64KiB|1MiB)-/;

export function issue16Targets(input: TargetInput): TargetRow[] {
  const { summary, proxies } = input;
  const tp = input.scenarios.filter((s) => s.kind === 'pingpong');
  const rows: TargetRow[] = [];
  const missing = (...names: string[]) => names.filter((n) => !proxies.includes(n));
  const absent = (target: string, names: string[]) =>
    rows.push({ target, status: 'n/a', detail: `${names.join(', ')} not in this run` });
  const failed = (target: string) => rows.push({ target, status: 'n/a', detail: 'a measurement failed (see Errors)' });

  for (const sc of tp) {
    const target = `16: ${FRAMES} ≥ nginx − ${NGINX_RATIO_SLACK} ratio at ${sc.id}`;
    if (missing(FRAMES, 'nginx').length > 0) {
      absent(target, missing(FRAMES, 'nginx'));
      continue;
    }
    const a = summary[FRAMES]?.[sc.id]?.throughputRatio;
    const b = summary['nginx']?.[sc.id]?.throughputRatio;
    if (typeof a !== 'number' || typeof b !== 'number') {
      failed(target);
      continue;
    }
    rows.push({ target, status: a >= b - NGINX_RATIO_SLACK ? 'met' : 'not met', detail: `${fmt(a)} vs ${fmt(b)}` });
  }

  for (const sc of tp.filter((s) => CPU_SCENARIOS.test(s.id))) {
    const target = `16: ${FRAMES} CPU per round trip ≤ ${CPU_MAX_OF_NGINX} × nginx's at ${sc.id}`;
    if (missing(FRAMES, 'nginx').length > 0) {
      absent(target, missing(FRAMES, 'nginx'));
      continue;
    }
    const a = summary[FRAMES]?.[sc.id]?.proxyCpuUsPerMsg;
    const b = summary['nginx']?.[sc.id]?.proxyCpuUsPerMsg;
    if (typeof a !== 'number' || typeof b !== 'number' || b <= 0) {
      failed(target);
      continue;
    }
    rows.push({
      target,
      status: a <= b * CPU_MAX_OF_NGINX ? 'met' : 'not met',
      detail: `${fmt(a)} vs ${fmt(b)} µs (${fmt(a / b)} ×)`,
    });
  }

  for (const logged of ['wsgate-frames+log', 'wsgate-payload+log']) {
    for (const sc of tp) {
      const target = `16: ${logged} ≥ ${LINES_MIN_OF_OFF} × wsgate-off throughput at ${sc.id}`;
      if (missing(logged, 'wsgate-off').length > 0) {
        absent(target, missing(logged, 'wsgate-off'));
        continue;
      }
      const r = median(pairedRatios<PingpongResult>(input.raw, sc.id, logged, 'wsgate-off', (x) => x.msgsPerSec));
      if (r === null) {
        failed(target);
        continue;
      }
      const cpu = summary[logged]?.[sc.id]?.proxyCpuUsPerMsg;
      const off = summary['wsgate-off']?.[sc.id]?.proxyCpuUsPerMsg;
      const cpuNote = typeof cpu === 'number' && typeof off === 'number' ? `; CPU ${fmt(cpu)} vs ${fmt(off)} µs` : '';
      rows.push({
        target,
        status: r >= LINES_MIN_OF_OFF ? 'met' : 'not met',
        detail: `${fmt(r)} of off (same-rep pairs, median)${cpuNote}`,
      });
    }
  }

  if (input.scenarios.some((s) => s.kind === 'handshake')) {
    const target = `16: ${FRAMES} handshake p50 ≤ direct + ${HANDSHAKE_MAX_OVER_MS} ms`;
    const h = summary[FRAMES]?.['handshake'];
    if (missing(FRAMES).length > 0) absent(target, [FRAMES]);
    else if (typeof h?.p50OverDirectMs !== 'number') failed(target);
    else {
      const warm = typeof h.warmOverDirectMs === 'number' ? `; warm +${fmt(h.warmOverDirectMs, 3)} ms` : '';
      const floor = summary['node-pipe']?.['handshake']?.p50OverDirectMs;
      const pipe = typeof floor === 'number' ? `; node-pipe cold +${fmt(floor, 3)} ms` : '';
      rows.push({
        target,
        status: h.p50OverDirectMs <= HANDSHAKE_MAX_OVER_MS ? 'met' : 'not met',
        detail: `cold +${fmt(h.p50OverDirectMs, 3)} ms${warm}${pipe}`,
      });
    }
  }

  if (input.scenarios.some((s) => s.kind === 'idle')) {
    const target = `16: ${FRAMES} ≤ ${IDLE_MAX_KIB} KiB per idle connection`;
    const kib = summary[FRAMES]?.['idle']?.kibPerConn;
    if (missing(FRAMES).length > 0) absent(target, [FRAMES]);
    else if (typeof kib !== 'number') failed(target);
    else {
      rows.push({
        target,
        status: kib <= IDLE_MAX_KIB ? 'met' : 'not met',
        detail: idleDetail(kib, summary, ['wsgate-off', 'node-pipe', 'nginx']),
      });
    }
  }
  return rows;
}
