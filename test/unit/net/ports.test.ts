import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BAD_PORTS, inPortRanges, parsePortRule } from '../../../src/net/ports.ts';

test('port rules: a port or a range within 1-65535, nothing else', () => {
  assert.deepEqual(parsePortRule(443), { ok: true, value: { from: 443, to: 443 } });
  assert.deepEqual(parsePortRule('8000-8999'), { ok: true, value: { from: 8000, to: 8999 } });
  for (const bad of [0, 65536, 1.5, '9000-8000', 'http', '80,443', -1, null]) {
    assert.equal(parsePortRule(bad).ok, false, String(bad));
  }
});

test('inPortRanges includes both ends of each range', () => {
  const ranges = [
    { from: 443, to: 443 },
    { from: 8000, to: 8999 },
  ];
  assert.deepEqual(
    [442, 443, 444, 7999, 8000, 8999, 9000].map((p) => inPortRanges(p, ranges)),
    [false, true, false, false, true, true, false],
  );
  assert.equal(inPortRanges(80, []), false);
});

test('the Fetch bad ports include SSH and SMTP, not the web ports', () => {
  for (const port of [22, 25, 6667]) assert.ok(BAD_PORTS.has(port), String(port));
  for (const port of [80, 443, 8080]) assert.ok(!BAD_PORTS.has(port), String(port));
});
