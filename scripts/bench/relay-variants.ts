// The rules variants of the benchmark (issue 12) and their two targets. Kept apart from proxies.ts and
// targets.ts so the tap variants and the rules variants can change independently.
//
//   wsgate-relay             one route whose one rule (a `replace`, no matcher) selects every message: every
//                            connection is terminated and relayed (decode, assemble, rules, re-encode, mask)
//   wsgate-rules-elsewhere   the same rule on another route only: the benchmark's connections stay on the
//                            byte-exact passthrough, and pay only for finding out that no rule applies
//
// Both run with tap level off, so they are compared with wsgate-off (passthrough, tap off) in the same rep.
// The load client sends binary messages: `replace` acts on text only, so the relay measures what every relayed
// message costs (and one rule evaluated per message), not the cost of a regex over the payload.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { wsgateNodeCommandArgs, wsgateNodeFlagsText } from './cli-flags.ts';
import type { PingpongResult, RawEntry, Scenario } from './model.ts';
import type { Command, ProxyDef } from './proxies.ts';
import { pairedRatios, type TargetRow } from './report.ts';
import { fmt, median } from './stats.ts';

/** Issue 12: relay throughput at least this share of passthrough at 64B-c50 and 64KiB-c4. */
export const RELAY_MIN_OF_PASSTHROUGH = 0.5;
/** The scenarios the relay target names. */
export const RELAY_SCENARIOS = ['64B-c50', '64KiB-c4'] as const;
/** "Within noise": the bench's noise band on throughput ratios (targets.ts RATIO_NOISE). */
export const ELSEWHERE_NOISE = 0.1;
/** The passthrough the rules variants are measured against. */
export const PASSTHROUGH = 'wsgate-off';

export type RulesPlacement = 'route' | 'elsewhere';

/** The config file of a rules variant: one replace rule on the benchmark's route, or on another route only. */
export function rulesConfig(port: number, target: string, placement: RulesPlacement): string {
  const rule = placement === 'route' ? 'rules: [rewrite]' : '';
  const other =
    placement === 'elsewhere'
      ? `      - name: other
        match: { pathPrefix: /other }
        upstream: ws://${target}
        rules: [rewrite]
`
      : '';
  return `listeners:
  - name: bench
    bind: 127.0.0.1:${port}
    routes:
${other}      - name: bench
        upstream: ws://${target}
        ${rule}
rules:
  - name: rewrite
    actions:
      - replace: { pattern: '/"typing"/g', with: '"composing"' }
tap: { level: off }
log: { level: warn }
`;
}

/** The two rules variants, each started from a config file written into its temp dir. */
export function relayDefinitions(cli: string): ProxyDef[] {
  const def = (name: string, placement: RulesPlacement, words: string): ProxyDef => ({
    name,
    kind: 'wsgate',
    tap: 'off',
    missing: () => null,
    info: () =>
      `node ${wsgateNodeFlagsText(cli)}src/cli/main.ts run -c wsgate.yaml (${words}, tap off, log.level warn) on ${process.version}`,
    command: ({ port, target, dir, profileDir }): Command => {
      const config = path.join(dir, 'wsgate.yaml');
      writeFileSync(config, rulesConfig(port, target, placement));
      return { cmd: process.execPath, args: [...wsgateNodeCommandArgs(cli, profileDir), cli, 'run', '-c', config] };
    },
    settleMs: 0,
  });
  return [
    def('wsgate-relay', 'route', 'one replace rule on the route: relay mode'),
    def('wsgate-rules-elsewhere', 'elsewhere', 'one replace rule on another route only: passthrough'),
  ];
}

type Input = { raw: readonly RawEntry[]; proxies: readonly string[]; scenarios: readonly Scenario[] };

function pairedMedian(input: Input, scenario: string, a: string): number | null {
  return median(pairedRatios<PingpongResult>(input.raw, scenario, a, PASSTHROUGH, (x) => x.msgsPerSec));
}

/** Relay ≥ 0.5 × passthrough at 64B-c50 and 64KiB-c4; rules elsewhere within noise of passthrough. */
export function relayTargets(input: Input): TargetRow[] {
  const rows: TargetRow[] = [];
  const has = (name: string) => input.proxies.includes(name);
  const measured = (id: string) => input.scenarios.some((s) => s.id === id);
  for (const id of RELAY_SCENARIOS) {
    const target = `wsgate-relay (relay mode, one replace rule) ≥ ${RELAY_MIN_OF_PASSTHROUGH} × ${PASSTHROUGH} at ${id}`;
    if (!has('wsgate-relay') || !has(PASSTHROUGH) || !measured(id)) {
      rows.push({ target, status: 'n/a', detail: `wsgate-relay, ${PASSTHROUGH} or ${id} not in this run` });
      continue;
    }
    const r = pairedMedian(input, id, 'wsgate-relay');
    rows.push(
      r === null
        ? { target, status: 'n/a', detail: 'a measurement failed (see Errors)' }
        : {
            target,
            status: r >= RELAY_MIN_OF_PASSTHROUGH ? 'met' : 'not met',
            detail: `${fmt(r)} of passthrough (same-rep pairs, median)`,
          },
    );
  }
  const target = `wsgate-rules-elsewhere within noise of ${PASSTHROUGH}: ≥ ${1 - ELSEWHERE_NOISE} × its throughput everywhere`;
  const tp = input.scenarios.filter((s) => s.kind === 'pingpong');
  if (!has('wsgate-rules-elsewhere') || !has(PASSTHROUGH) || tp.length === 0) {
    rows.push({ target, status: 'n/a', detail: `wsgate-rules-elsewhere or ${PASSTHROUGH} not in this run` });
    return rows;
  }
  const parts: string[] = [];
  let worst: number | null = null;
  for (const sc of tp) {
    const r = pairedMedian(input, sc.id, 'wsgate-rules-elsewhere');
    if (r === null) continue;
    parts.push(`${sc.id} ${fmt(r)}`);
    if (worst === null || r < worst) worst = r;
  }
  if (worst === null) rows.push({ target, status: 'n/a', detail: 'a measurement failed (see Errors)' });
  else
    rows.push({
      target,
      status: worst >= 1 - ELSEWHERE_NOISE ? 'met' : 'not met',
      detail: `ratio to passthrough: ${parts.join(', ')}`,
    });
  return rows;
}
