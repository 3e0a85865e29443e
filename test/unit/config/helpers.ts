// Shared by the config tests: run a load that must fail and return its issues as printed lines.
import assert from 'node:assert/strict';
import type { ConfigIssue } from '../../../src/config/load.ts';
import { WsgateError } from '../../../src/errors.ts';

export function failure(load: () => unknown): { err: WsgateError; issues: ConfigIssue[]; lines: string[] } {
  try {
    load();
  } catch (err) {
    assert.ok(err instanceof WsgateError, `expected a WsgateError, got ${String(err)}`);
    assert.equal(err.code, 'WSG_CONFIG_INVALID');
    return { err, issues: err.details as ConfigIssue[], lines: err.message.split('\n') };
  }
  return assert.fail('expected the config to be rejected');
}

/** The printed lines of a load that must fail. */
export function failLines(load: () => unknown): string[] {
  return failure(load).lines;
}
