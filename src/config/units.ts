// Durations and sizes as people write them in a config file ("30s", "64KiB") and their numeric values
// (milliseconds, bytes). Pure: no I/O. Parsers return a result instead of throwing so the schema can turn a
// bad value into one config issue among many.

export type UnitResult = { ok: true; value: number } | { ok: false; message: string };

const DURATION_UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

// Node clamps a timer delay above 2^31-1 ms to 1 ms, so a too-large timeout would fire at once instead of never.
export const MAX_DURATION_MS = 2 ** 31 - 1;

const SIZE_UNITS = {
  B: 1,
  KB: 1_000,
  MB: 1_000_000,
  GB: 1_000_000_000,
  KiB: 1_024,
  MiB: 1_048_576,
  GiB: 1_073_741_824,
} as const;

const DURATION_RE = /^(\d+(?:\.\d+)?)([a-zA-Z]+)$/;
const SIZE_RE = /^(\d+(?:\.\d+)?)([a-zA-Z]+)$/;

const DURATION_HELP = 'expected a number and a unit (ms, s, m or h), e.g. "500ms", "30s", "5m", or 0';
const SIZE_HELP = 'expected a number of bytes or a number and a unit (B, KB, MB, GB, KiB, MiB or GiB), e.g. "64KiB"';

function show(input: unknown): string {
  if (typeof input === 'string') return JSON.stringify(input);
  if (input === null) return 'an empty value';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  return String(input);
}

function caseHint(unit: string, units: readonly string[], amount: string): string {
  const fixed = units.find((u) => u.toLowerCase() === unit.toLowerCase());
  return fixed === undefined ? '' : ` (units are case-sensitive: write "${amount}${fixed}")`;
}

/** `"30s"`, `"500ms"`, `"1.5s"`, `"5m"`, `"1h"`, `0` or `"0"` → milliseconds (a whole number). */
export function parseDuration(input: unknown): UnitResult {
  if (input === 0 || input === '0') return { ok: true, value: 0 };
  if (typeof input === 'number') {
    return {
      ok: false,
      message: `a duration needs a unit: write "${input}ms" or "${input}s" (only 0 may be written without one)`,
    };
  }
  if (typeof input !== 'string') return { ok: false, message: `${DURATION_HELP}; got ${show(input)}` };
  if (input.startsWith('-')) return { ok: false, message: `invalid duration ${show(input)}: must not be negative` };
  const m = DURATION_RE.exec(input);
  const unit = m?.[2];
  if (m === null || unit === undefined || !Object.hasOwn(DURATION_UNITS, unit)) {
    const hint = m && unit ? caseHint(unit, Object.keys(DURATION_UNITS), m[1]!) : '';
    return { ok: false, message: `invalid duration ${show(input)}: ${DURATION_HELP}${hint}` };
  }
  const value = Number(m[1]) * DURATION_UNITS[unit as keyof typeof DURATION_UNITS];
  // 1.5s is exact, 0.1s is 100.00000000000001 in binary floating point: round away that noise only.
  const rounded = Math.round(value);
  if (Math.abs(value - rounded) > 1e-6) {
    return { ok: false, message: `invalid duration ${show(input)}: must be a whole number of milliseconds` };
  }
  if (rounded > MAX_DURATION_MS) {
    return { ok: false, message: `invalid duration ${show(input)}: must be at most 596h (${MAX_DURATION_MS}ms)` };
  }
  return { ok: true, value: rounded };
}

/** `"64KiB"`, `"16MiB"`, `"1GiB"`, `"10KB"`, `"512B"`, or a plain integer (also as a string) → bytes. */
export function parseSize(input: unknown): UnitResult {
  if (typeof input === 'number') {
    if (Number.isSafeInteger(input) && input >= 0) return { ok: true, value: input };
    return { ok: false, message: `invalid size ${input}: expected a whole number of bytes, e.g. 65536 or "64KiB"` };
  }
  if (typeof input !== 'string') return { ok: false, message: `${SIZE_HELP}; got ${show(input)}` };
  if (/^\d+$/.test(input)) return parseSize(Number(input));
  if (input.startsWith('-')) return { ok: false, message: `invalid size ${show(input)}: must not be negative` };
  const m = SIZE_RE.exec(input);
  const unit = m?.[2];
  if (m === null || unit === undefined || !Object.hasOwn(SIZE_UNITS, unit)) {
    const hint = m && unit ? caseHint(unit, Object.keys(SIZE_UNITS), m[1]!) : '';
    return { ok: false, message: `invalid size ${show(input)}: ${SIZE_HELP}${hint}` };
  }
  const value = Number(m[1]) * SIZE_UNITS[unit as keyof typeof SIZE_UNITS];
  const rounded = Math.round(value);
  if (Math.abs(value - rounded) > 1e-6) {
    return { ok: false, message: `invalid size ${show(input)}: must be a whole number of bytes` };
  }
  if (!Number.isSafeInteger(rounded)) return { ok: false, message: `invalid size ${show(input)}: too large` };
  return { ok: true, value: rounded };
}

/**
 * Milliseconds → the shortest exact form a config file would use (`10000` → `"10s"`, `60000` → `"1m"`, `1500` →
 * `"1500ms"`); parseDuration reads it back to the same number. The one duration format of messages and logs.
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  for (const [unit, factor] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms % factor === 0) return `${ms / factor}${unit}`;
  }
  return `${ms}ms`;
}

/** Bytes → the largest exact unit (`16384` → `"16KiB"`), for messages and logs. */
export function formatSize(bytes: number): string {
  if (bytes === 0) return '0B';
  for (const [unit, factor] of [
    ['GiB', 1_073_741_824],
    ['MiB', 1_048_576],
    ['KiB', 1_024],
    ['GB', 1_000_000_000],
    ['MB', 1_000_000],
    ['KB', 1_000],
  ] as const) {
    if (bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}B`;
}
