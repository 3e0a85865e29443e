// The probe's report for people: one line per step with ✓ (works), ✗ (fails) or ! (works, but look), its timing,
// and the hint under a failing or warning step; then the verdict. Colours only when asked (the CLI asks on a TTY).
// Pure: a ProbeReport in, text out.
import type { ProbeReport, StepResult, Verdict } from './report.ts';

export type RenderOptions = { color: boolean };

const COLORS = { green: 32, red: 31, yellow: 33, dim: 2, bold: 1 } as const;

function paint(on: boolean, color: keyof typeof COLORS, text: string): string {
  return on ? `\u001b[${COLORS[color]}m${text}\u001b[0m` : text;
}

export function markOf(v: Verdict): '✓' | '✗' | '!' {
  if (!v.ok) return '✗';
  return v.warn ? '!' : '✓';
}

function colored(v: Verdict, text: string, color: boolean): string {
  return paint(color, !v.ok ? 'red' : v.warn ? 'yellow' : 'green', text);
}

const STEP_WIDTH = 10;

export function renderStep(s: StepResult, o: RenderOptions): string[] {
  const mark = colored(s.verdict, markOf(s.verdict), o.color);
  const timing =
    s.step === 'path' || s.step === 'negotiate' || s.step === 'ping' ? '' : paint(o.color, 'dim', `  ${s.ms} ms`);
  const lines = [`${mark} ${s.step.padEnd(STEP_WIDTH)}${s.verdict.detail}${timing}`];
  // A failing step's hint closes the report (renderVerdict); a warning's is shown here, as nothing repeats it.
  if (s.verdict.hint !== undefined && s.verdict.ok && s.verdict.warn) {
    lines.push(`  ${' '.repeat(STEP_WIDTH)}${paint(o.color, 'dim', 'hint:')} ${s.verdict.hint}`);
  }
  if (s.step === 'compare') lines.push(...compareLines(s, o));
  return lines;
}

function compareLines(s: StepResult, o: RenderOptions): string[] {
  const pad = `  ${' '.repeat(STEP_WIDTH)}`;
  const f = s.facts as {
    added?: [string, string][];
    removed?: [string, string][];
    changed?: { name: string; direct: string; proxied: string }[];
  };
  const out: string[] = [];
  for (const [n, v] of f.removed ?? []) out.push(`${pad}${paint(o.color, 'red', '-')} ${n}: ${v}`);
  for (const [n, v] of f.added ?? []) out.push(`${pad}${paint(o.color, 'green', '+')} ${n}: ${v}`);
  for (const c of f.changed ?? []) out.push(`${pad}~ ${c.name}: ${c.direct} → ${c.proxied}`);
  return out;
}

export function renderReport(r: ProbeReport, o: RenderOptions): string {
  const lines = [paint(o.color, 'bold', `wsgate probe ${r.url}`)];
  for (const s of r.steps) lines.push(...renderStep(s, o));
  return `${lines.join('\n')}\n${renderVerdict(r, o)}`;
}

/** The closing lines: works or fails, at which step, the code, and what to change. */
export function renderVerdict(r: ProbeReport, o: RenderOptions): string {
  const lines = [''];
  const v = r.verdict;
  const where = v.step === undefined ? '' : ` at ${v.step}`;
  lines.push(`${colored(v, `${markOf(v)} ${r.ok ? 'works' : 'fails'}${where}`, o.color)}: ${v.code}: ${v.detail}`);
  if (!v.ok && v.hint !== undefined) lines.push(`  what to change: ${v.hint}`);
  return `${lines.join('\n')}\n`;
}

/** The line shown while a step waits (the CLI rewrites it in place on a TTY). */
export function progressLine(step: string, what: string, waitedMs: number): string {
  return `… ${step.padEnd(STEP_WIDTH)}${what} (${(waitedMs / 1000).toFixed(1)} s)`;
}
