// Runs the schema and turns zod's issues into config issues people can act on: one issue per unknown key
// (pointing at the key, with a "did you mean"), the fitting branch of a union instead of every branch, and
// messages in the config's own words. Pure.

import { z } from 'zod';
import { MISSING_KEY } from './fields.ts';
import type { PathSegment } from './issues.ts';
import { type Config, configSchema } from './schema.ts';
import { didYouMean } from './suggest.ts';

/** An issue without a position yet; `key` asks for the position of the key rather than its value. */
export type SchemaIssue = { path: PathSegment[]; message: string; key?: boolean };

export type ValidateResult = { ok: true; config: Config } | { ok: false; issues: SchemaIssue[] };

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
};

/** How a value reads in a message: `the string "x"`, `a list`, `an empty value`. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'an empty value';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a mapping' : typeof v;
}

function errorMap(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return MISSING_KEY;
      return `expected ${TYPE_NAMES[iss.expected] ?? iss.expected}, got ${describeValue(iss.input)}`;
    case 'invalid_value': {
      const values = iss.values.map((v) => String(v));
      const hint = typeof iss.input === 'string' ? didYouMean(iss.input, values) : '';
      return `expected one of ${values.map((v) => JSON.stringify(v)).join(', ')}; got ${describeValue(iss.input)}${hint}`;
    }
    case 'unrecognized_keys': {
      // One line per key, split into separate issues later: only here is the object's schema (its known keys) at hand.
      const known = iss.inst instanceof z.ZodObject ? Object.keys(iss.inst.shape) : [];
      return iss.keys.map((k) => `unknown key ${JSON.stringify(k)}${didYouMean(k, known)}`).join('\n');
    }
    case 'too_small':
      if (iss.origin === 'array' && iss.minimum === 1) return 'must not be empty';
      if (iss.origin === 'string' && iss.minimum === 1) return 'must not be empty';
      if (iss.origin === 'number')
        return `must be ${iss.inclusive ? 'at least' : 'more than'} ${iss.minimum}; got ${iss.input}`;
      return undefined;
    case 'too_big':
      if (iss.origin === 'number')
        return `must be ${iss.inclusive ? 'at most' : 'less than'} ${iss.maximum}; got ${iss.input}`;
      return undefined;
    default:
      return undefined;
  }
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function toSegments(path: readonly PropertyKey[]): PathSegment[] {
  return path.map((p) => (typeof p === 'number' ? p : String(p)));
}

function isRootTypeError(issue: z.core.$ZodIssue): boolean {
  return issue.path.length === 0 && issue.code === 'invalid_type';
}

function collect(raw: unknown, issues: readonly z.core.$ZodIssue[], prefix: PathSegment[], out: SchemaIssue[]): void {
  for (const issue of issues) {
    const path = [...prefix, ...toSegments(issue.path)];
    if (issue.code === 'invalid_union') {
      // Report the branch whose shape fits (a list for a list, a mapping for a mapping), not every branch.
      const fitting = issue.errors.filter((branch) => !branch.some(isRootTypeError));
      if (fitting.length === 1) {
        collect(raw, fitting[0]!, path, out);
      } else {
        const expected = new Set(
          issue.errors.flatMap((branch) =>
            branch.filter(isRootTypeError).map((i) => (i.code === 'invalid_type' ? TYPE_NAMES[i.expected] : '')),
          ),
        );
        expected.delete('');
        expected.delete(undefined);
        const got = describeValue(valueAt(raw, path));
        out.push({ path, message: `expected ${[...expected].join(' or ')}, got ${got}` });
      }
    } else if (issue.code === 'unrecognized_keys') {
      const lines = issue.message.split('\n');
      issue.keys.forEach((k, i) => {
        out.push({ path: [...path, k], message: lines[i] ?? `unknown key ${JSON.stringify(k)}`, key: true });
      });
    } else if (issue.code === 'custom' && issue.params?.['atKey'] === true) {
      out.push({ path, message: issue.message, key: true });
    } else {
      out.push({ path, message: issue.message });
    }
  }
}

/** Validates a parsed config and resolves defaults and references; lists every issue when it fails. */
export function validateConfig(raw: unknown): ValidateResult {
  if (raw === null || raw === undefined) {
    return { ok: false, issues: [{ path: [], message: 'the config is empty: it needs at least a listeners list' }] };
  }
  const result = configSchema.safeParse(raw, { error: errorMap });
  if (result.success) return { ok: true, config: result.data };
  const issues: SchemaIssue[] = [];
  collect(raw, result.error.issues, [], issues);
  // zod 4 runs a string's checks even after the type check failed ("expected a string" then "must not be
  // empty" for a list); the first issue at a path is the one to fix.
  const seen = new Set<string>();
  return {
    ok: false,
    issues: issues.filter((issue) => {
      const key = JSON.stringify(issue.path);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    }),
  };
}
