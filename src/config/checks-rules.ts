// Checks across keys for rules: rule names are unique, and every name a route or listener lists in rules: is a
// defined rule (with a did-you-mean). Called by checks.ts's crossCheck; reads the partly parsed value
// defensively, like it. Pure.

import { isRecord } from './fields.ts';
import { didYouMean } from './suggest.ts';

type Issue = (path: (string | number)[], message: string) => void;

function listOf(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function checkRuleRefs(value: Record<string, unknown>, issue: Issue): void {
  const rules = new Map<string, number>();
  listOf(value['rules']).forEach((r, i) => {
    if (!isRecord(r) || typeof r['name'] !== 'string') return;
    const first = rules.get(r['name']);
    if (first === undefined) rules.set(r['name'], i);
    else issue(['rules', i, 'name'], `duplicate rule name ${JSON.stringify(r['name'])} (also rules[${first}])`);
  });
  const checkRefs = (refs: unknown, path: (string | number)[]) => {
    listOf(refs).forEach((ref, k) => {
      if (typeof ref !== 'string' || ref === '' || rules.has(ref)) return;
      const known = [...rules.keys()];
      const hint =
        didYouMean(ref, known) ||
        (known.length === 0
          ? '; no rules are defined (add them under the top-level rules:)'
          : `; defined rules: ${known.join(', ')}`);
      issue([...path, k], `unknown rule ${JSON.stringify(ref)}${hint}`);
    });
  };
  listOf(value['listeners']).forEach((l, i) => {
    if (!isRecord(l)) return;
    checkRefs(l['rules'], ['listeners', i, 'rules']);
    listOf(l['routes']).forEach((r, j) => {
      if (isRecord(r)) checkRefs(r['rules'], ['listeners', i, 'routes', j, 'rules']);
    });
  });
}
