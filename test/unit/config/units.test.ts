// Durations and sizes as written in a config, including the inputs that must be refused with a clear reason.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  formatDuration,
  formatSize,
  MAX_DURATION_MS,
  parseDuration,
  parseSize,
  type UnitResult,
} from '../../../src/config/units.ts';

const value = (r: UnitResult) => (r.ok ? r.value : assert.fail(`expected ok, got: ${r.message}`));
const message = (r: UnitResult) => (r.ok ? assert.fail(`expected an error, got ${r.value}`) : r.message);

test('durations convert to milliseconds', () => {
  const cases: [unknown, number][] = [
    ['30s', 30_000],
    ['500ms', 500],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1.5s', 1_500],
    ['0.1s', 100],
    ['0s', 0],
    ['0', 0],
    [0, 0],
  ];
  for (const [input, ms] of cases) assert.equal(value(parseDuration(input)), ms, String(input));
});

test('bad durations say what is wrong', () => {
  assert.match(message(parseDuration(30)), /needs a unit: write "30ms" or "30s"/);
  assert.match(message(parseDuration('30')), /invalid duration "30": expected a number and a unit/);
  assert.match(message(parseDuration('5x')), /invalid duration "5x"/);
  assert.match(message(parseDuration('30S')), /units are case-sensitive: write "30s"/);
  assert.match(message(parseDuration('-5s')), /must not be negative/);
  assert.match(message(parseDuration('1.5ms')), /whole number of milliseconds/);
  assert.match(message(parseDuration('1 s')), /invalid duration/);
  assert.match(message(parseDuration('1000h')), /at most 596h/);
  assert.match(message(parseDuration(true)), /got true/);
  assert.match(message(parseDuration(null)), /got an empty value/);
  assert.equal(value(parseDuration(`${MAX_DURATION_MS}ms`)), MAX_DURATION_MS);
});

test('sizes convert to bytes', () => {
  const cases: [unknown, number][] = [
    ['64KiB', 65_536],
    ['16MiB', 16_777_216],
    ['1GiB', 1_073_741_824],
    ['10KB', 10_000],
    ['2MB', 2_000_000],
    ['1GB', 1_000_000_000],
    ['512B', 512],
    ['1.5KiB', 1_536],
    [4096, 4096],
    ['4096', 4096],
    [0, 0],
  ];
  for (const [input, bytes] of cases) assert.equal(value(parseSize(input)), bytes, String(input));
});

test('bad sizes say what is wrong', () => {
  assert.match(message(parseSize('64kib')), /units are case-sensitive: write "64KiB"/);
  assert.match(message(parseSize('64 KiB')), /invalid size "64 KiB"/);
  assert.match(message(parseSize('1.5B')), /whole number of bytes/);
  assert.match(message(parseSize(1.5)), /whole number of bytes/);
  assert.match(message(parseSize(-1)), /whole number of bytes/);
  assert.match(message(parseSize('-1KiB')), /must not be negative/);
  assert.match(message(parseSize('64XB')), /B, KB, MB, GB, KiB, MiB or GiB/);
  assert.match(message(parseSize([])), /got a list/);
});

test('formatted durations and sizes parse back to the same number', () => {
  assert.equal(formatDuration(10_000), '10s');
  assert.equal(formatDuration(90_000), '90s');
  assert.equal(formatDuration(60_000), '1m');
  assert.equal(formatDuration(3_600_000), '1h');
  assert.equal(formatDuration(1_500), '1500ms');
  assert.equal(formatDuration(0), '0');
  assert.equal(formatSize(16_384), '16KiB');
  assert.equal(formatSize(10_000), '10KB');
  assert.equal(formatSize(1_000_001), '1000001B');
  fc.assert(
    fc.property(fc.integer({ min: 0, max: MAX_DURATION_MS }), (ms) => value(parseDuration(formatDuration(ms))) === ms),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (n) => value(parseSize(formatSize(n))) === n),
  );
});

test('parsers never throw, whatever they are given', () => {
  fc.assert(
    fc.property(fc.anything(), (input) => {
      parseDuration(input);
      parseSize(input);
    }),
  );
  fc.assert(
    fc.property(fc.string(), (input) => {
      parseDuration(input);
      parseSize(input);
    }),
  );
});
