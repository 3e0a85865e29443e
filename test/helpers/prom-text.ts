// A strict parser of the Prometheus text exposition format 0.0.4 (what /metrics serves), for tests: every line must
// be a HELP, a TYPE, a comment or a sample that follows the grammar exactly, and the families must be well formed
// (one HELP and one TYPE per family, before its samples; a family's samples together; no sample twice; histogram
// and summary suffixes only on their families). Anything else throws with the line number, so a test that parses
// /metrics fails on the first malformed byte rather than reading past it.

export type PromSample = { name: string; labels: Record<string, string>; value: number; timestamp?: number };

export type PromFamily = {
  name: string;
  help: string | undefined;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: PromSample[];
};

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
// Values are read as Prometheus reads them (Go's strconv.ParseFloat): decimal floats, and NaN, Inf and Infinity in
// any letter case (prom-client writes NaN as "Nan").
const FLOAT = /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|inf|infinity)|nan)$/i;

function fail(line: number, why: string, text: string): never {
  throw new Error(`metrics line ${line}: ${why}: ${JSON.stringify(text)}`);
}

function parseValue(text: string, line: number, whole: string): number {
  if (!FLOAT.test(text)) fail(line, `bad value ${JSON.stringify(text)}`, whole);
  if (/^[+]?inf(inity)?$/i.test(text)) return Number.POSITIVE_INFINITY;
  if (/^-inf(inity)?$/i.test(text)) return Number.NEGATIVE_INFINITY;
  if (/^nan$/i.test(text)) return Number.NaN;
  return Number(text);
}

/** HELP text: only \\ and \n are escapes. */
function unescapeHelp(text: string, line: number, whole: string): string {
  return text.replace(/\\(.?)/g, (_m, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    return fail(line, 'bad escape in HELP', whole);
  });
}

/** Reads `{a="x",b="y"}` from position 0 of `text`; returns the labels and the rest after `}`. */
function parseLabels(text: string, line: number, whole: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1;
  while (true) {
    if (text[i] === '}') return { labels, rest: text.slice(i + 1) };
    const eq = text.indexOf('=', i);
    if (eq < 0) fail(line, 'label without =', whole);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) fail(line, `bad label name ${JSON.stringify(name)}`, whole);
    if (name in labels) fail(line, `label ${name} twice`, whole);
    if (text[eq + 1] !== '"') fail(line, 'label value not quoted', whole);
    let value = '';
    let j = eq + 2;
    for (; j < text.length; j++) {
      const c = text[j];
      if (c === '"') break;
      if (c === '\n') fail(line, 'raw newline in label value', whole);
      if (c === '\\') {
        const next = text[j + 1];
        if (next === '\\') value += '\\';
        else if (next === '"') value += '"';
        else if (next === 'n') value += '\n';
        else fail(line, 'bad escape in label value', whole);
        j++;
      } else {
        value += c;
      }
    }
    if (j >= text.length) fail(line, 'unterminated label value', whole);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') fail(line, 'expected , or } after a label', whole);
  }
}

/** The family a sample name belongs to, given the families declared so far. */
function familyOf(name: string, families: Map<string, PromFamily>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const family = families.get(base);
    if (family === undefined) continue;
    if (family.type === 'histogram' || (family.type === 'summary' && suffix !== '_bucket')) return base;
  }
  return name;
}

/** Parses a whole exposition; throws on the first thing that is not the format. */
export function parsePrometheusText(text: string): Map<string, PromFamily> {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('metrics text must end with a newline');
  const families = new Map<string, PromFamily>();
  const seen = new Set<string>();
  const closed = new Set<string>();
  let current: string | undefined;
  const lines = text.split('\n');
  lines.pop();
  const declare = (name: string, n: number, whole: string): PromFamily => {
    if (!METRIC_NAME.test(name)) fail(n, `bad metric name ${JSON.stringify(name)}`, whole);
    if (closed.has(name)) fail(n, `family ${name} continues after another family`, whole);
    let family = families.get(name);
    if (family === undefined) {
      family = { name, help: undefined, type: 'untyped', samples: [] };
      families.set(name, family);
    }
    if (current !== undefined && current !== name) closed.add(current);
    current = name;
    return family;
  };
  const declaredType = new Set<string>();
  lines.forEach((whole, index) => {
    const n = index + 1;
    if (whole === '') return;
    if (whole.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(whole);
      if (m === null) {
        if (/^#\s*(HELP|TYPE)\b/.test(whole)) fail(n, 'malformed HELP or TYPE', whole);
        return;
      }
      const [, kind, name, rest] = m as unknown as [string, string, string, string | undefined];
      const family = declare(name, n, whole);
      if (kind === 'HELP') {
        if (family.help !== undefined) fail(n, `second HELP for ${name}`, whole);
        family.help = unescapeHelp(rest ?? '', n, whole);
      } else {
        if (declaredType.has(name)) fail(n, `second TYPE for ${name}`, whole);
        if (family.samples.length > 0) fail(n, `TYPE after samples of ${name}`, whole);
        if (rest === undefined || !TYPES.has(rest)) fail(n, `bad type ${JSON.stringify(rest)}`, whole);
        family.type = rest as PromFamily['type'];
        declaredType.add(name);
      }
      return;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(whole);
    if (nameMatch === null) fail(n, 'a sample must start with a metric name', whole);
    const name = nameMatch[0];
    let rest = whole.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, n, whole));
    const parts = rest.split(' ');
    if (parts[0] !== '' || parts.length < 2 || parts.length > 3) fail(n, 'expected " value [timestamp]"', whole);
    const value = parseValue(parts[1]!, n, whole);
    const sample: PromSample = { name, labels, value };
    if (parts.length === 3) {
      if (!/^-?\d+$/.test(parts[2]!)) fail(n, 'bad timestamp', whole);
      sample.timestamp = Number(parts[2]);
    }
    const familyName = familyOf(name, families);
    const family = declare(familyName, n, whole);
    if (family.type === 'histogram' && name === familyName) fail(n, 'histogram sample without a suffix', whole);
    if (family.type === 'histogram' && name.endsWith('_bucket') && labels.le === undefined) {
      fail(n, 'histogram bucket without le', whole);
    }
    if (family.type === 'counter' && (value < 0 || Number.isNaN(value))) fail(n, 'a counter below zero', whole);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
    if (seen.has(key)) fail(n, 'the same sample twice', whole);
    seen.add(key);
    family.samples.push(sample);
  });
  return families;
}

/** The value of one sample (labels must match exactly those given; others on the sample are not allowed). */
export function sampleValue(
  families: Map<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const family of families.values()) {
    for (const s of family.samples) {
      if (s.name !== name) continue;
      const keys = Object.keys(s.labels);
      if (keys.length !== Object.keys(labels).length) continue;
      if (keys.every((k) => s.labels[k] === labels[k])) return s.value;
    }
  }
  return undefined;
}

/** The sum of a metric's samples whose labels include the given ones. */
export function sampleSum(
  families: Map<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const family of families.values()) {
    for (const s of family.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
  }
  return sum;
}
