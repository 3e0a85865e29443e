// The strict Prometheus text parser the metrics tests rely on: it must take prom-client's output and refuse every
// malformed line, or a metrics test could pass on text Prometheus would reject.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { parsePrometheusText, sampleValue } from '../../helpers/prom-text.ts';

const GOOD = [
  '# HELP a_total Things. With a \\\\ backslash and a \\n newline.',
  '# TYPE a_total counter',
  'a_total{kind="x",path="C:\\\\dir \\"q\\"\\n"} 3',
  'a_total{kind="y"} 1.5e3 1700000000000',
  '# a comment',
  '# TYPE h histogram',
  'h_bucket{le="0.1"} 1',
  'h_bucket{le="+Inf"} 2',
  'h_sum 0.3',
  'h_count 2',
  'g NaN',
  'g2 -Inf',
  '',
].join('\n');

test('a well-formed exposition parses, with escapes, timestamps, histograms and special values', () => {
  const families = parsePrometheusText(GOOD);
  assert.equal(families.get('a_total')?.type, 'counter');
  assert.equal(families.get('a_total')?.help, 'Things. With a \\ backslash and a \n newline.');
  assert.equal(sampleValue(families, 'a_total', { kind: 'x', path: 'C:\\dir "q"\n' }), 3);
  assert.equal(sampleValue(families, 'a_total', { kind: 'y' }), 1500);
  assert.equal(families.get('h')?.samples.length, 4);
  assert.ok(Number.isNaN(sampleValue(families, 'g') ?? 0));
  assert.equal(sampleValue(families, 'g2'), Number.NEGATIVE_INFINITY);
});

test("prom-client's own output parses", async () => {
  const registry = new Registry();
  new Counter({ name: 'c_total', help: 'c', labelNames: ['l'], registers: [registry] }).inc({ l: 'a"b\\c\nd' });
  new Gauge({ name: 'g', help: 'g', registers: [registry] }).set(-2);
  new Histogram({ name: 'h_seconds', help: 'h', buckets: [0.1, 1], registers: [registry] }).observe(0.5);
  const families = parsePrometheusText(await registry.metrics());
  assert.equal(sampleValue(families, 'c_total', { l: 'a"b\\c\nd' }), 1);
  assert.equal(sampleValue(families, 'g'), -2);
  assert.equal(sampleValue(families, 'h_seconds_bucket', { le: '1' }), 1);
});

const BAD: [string, string][] = [
  ['no final newline', 'a 1'],
  ['a bad metric name', '1a 1\n'],
  ['a sample without a value', 'a\n'],
  ['two spaces', 'a  1\n'],
  ['a value that is not a number', 'a one\n'],
  ['trailing garbage', 'a 1 2 3\n'],
  ['a timestamp that is not an integer', 'a 1 1.5\n'],
  ['an unquoted label value', 'a{l=x} 1\n'],
  ['an unterminated label value', 'a{l="x} 1\n'],
  ['a bad escape in a label value', 'a{l="\\t"} 1\n'],
  ['a bad label name', 'a{1l="x"} 1\n'],
  ['a label twice', 'a{l="x",l="y"} 1\n'],
  ['a missing comma', 'a{l="x" m="y"} 1\n'],
  ['an unknown type', '# TYPE a countr\na 1\n'],
  ['a TYPE twice', '# TYPE a counter\n# TYPE a counter\na 1\n'],
  ['a HELP twice', '# HELP a x\n# HELP a y\na 1\n'],
  ['a TYPE after samples', 'a 1\n# TYPE a counter\n'],
  ['a malformed TYPE', '# TYPE a\na 1\n'],
  ['a family split in two', 'a 1\nb 1\na{l="x"} 2\n'],
  ['the same sample twice', 'a{l="x"} 1\na{l="x"} 2\n'],
  ['a negative counter', '# TYPE a_total counter\na_total -1\n'],
  ['a histogram bucket without le', '# TYPE h histogram\nh_bucket 1\n'],
  ['a bare histogram sample', '# TYPE h histogram\nh 1\n'],
  ['a bad HELP escape', '# HELP a x\\y\na 1\n'],
];

for (const [what, text] of BAD) {
  test(`refused: ${what}`, () => {
    assert.throws(() => parsePrometheusText(text), /metrics/);
  });
}
