// Checks across keys for rules: rule names are unique, every name a route or listener lists in rules: is a
// defined rule (with a did-you-mean), and a fault that only a forward listener carries out is not on a rule that can
// only apply to reverse routes (it would never act, silently). Called by checks.ts's crossCheck; reads the partly
// parsed value defensively, like it. Pure.

import { isRecord, listenerNameOf } from './fields.ts';
import { formatPath } from './issues.ts';
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
  forEachRulesList(value, (refs, path) => checkRefs(refs, path));
}

/** Every `rules:` list a listener or one of its routes gives, with its path and the listener (and its index). */
function forEachRulesList(
  value: Record<string, unknown>,
  visit: (
    refs: unknown,
    path: (string | number)[],
    listener: Record<string, unknown>,
    i: number,
    route: boolean,
  ) => void,
): void {
  listOf(value['listeners']).forEach((l, i) => {
    if (!isRecord(l)) return;
    visit(l['rules'], ['listeners', i, 'rules'], l, i, false);
    listOf(l['routes']).forEach((r, j) => {
      if (isRecord(r)) visit(r['rules'], ['listeners', i, 'routes', j, 'rules'], l, i, true);
    });
  });
}

/**
 * Faults only a forward listener carries out: rejectConnect answers a CONNECT or an absolute-form request, and
 * untrustedCert intercepts a CONNECT tunnel's TLS; a reverse route has neither (websocket/upgrade.ts never reads them).
 */
const FORWARD_ONLY_FAULTS = new Map([
  ['rejectConnect', "a forward listener's CONNECT and absolute-form requests"],
  ['untrustedCert', "a forward listener's CONNECT tunnels"],
]);

/** Where a rule is named: the forward listeners (by name) and the reverse listeners' and routes' rules lists. */
type RuleUse = { forward: string[]; reverse: string[] };

function usesOf(value: Record<string, unknown>): Map<string, RuleUse> {
  const uses = new Map<string, RuleUse>();
  const use = (name: unknown) => {
    if (typeof name !== 'string') return undefined;
    const u = uses.get(name) ?? { forward: [], reverse: [] };
    uses.set(name, u);
    return u;
  };
  forEachRulesList(value, (refs, path, l, i, route) => {
    const forward = l['forward'] !== undefined;
    // A forward listener has no routes (a config that gives it some is refused on its own).
    if (forward && route) return;
    for (const ref of listOf(refs)) {
      const u = use(ref);
      if (forward) u?.forward.push(listenerNameOf(l, i));
      else u?.reverse.push(formatPath(path));
    }
  });
  return uses;
}

/**
 * Can one of the rule's match alternatives hold for a connection of forward listener `name`? Only `listener` and
 * `route` are judged (equality, as rules/matchers.ts tests them): a forward listener's connections go by route
 * "<listener>/forward" or "<listener>/tunnel". Any other key might hold, so it is not held against the rule.
 */
function mayMatchForward(match: unknown, name: string): boolean {
  const alternatives = match === undefined ? [{}] : Array.isArray(match) ? match : [match];
  return alternatives.some((m) => {
    if (!isRecord(m)) return true;
    const listener = m['listener'];
    const route = m['route'];
    if (typeof listener === 'string' && listener !== name) return false;
    if (typeof route === 'string' && route !== `${name}/forward` && route !== `${name}/tunnel`) return false;
    return true;
  });
}

/**
 * A rule with a forward-only fault that can apply only to reverse routes is an error at the fault: named by reverse
 * listeners and routes alone, or named by forward listeners too but with a match whose listener or route keys none of
 * them can meet. A rule nobody names is left alone (it does nothing anywhere).
 */
export function checkForwardOnlyFaults(value: Record<string, unknown>, issue: Issue): void {
  const uses = usesOf(value);
  listOf(value['rules']).forEach((r, i) => {
    if (!isRecord(r) || typeof r['name'] !== 'string') return;
    const name = r['name'];
    const use = uses.get(name);
    if (use === undefined || (use.forward.length === 0 && use.reverse.length === 0)) return;
    let why: string;
    if (use.forward.length === 0) {
      why = `rule ${JSON.stringify(name)} is named only by reverse routes (${[...new Set(use.reverse)].join(', ')})`;
    } else if (!use.forward.some((listener) => mayMatchForward(r['match'], listener))) {
      const listeners = use.forward.map((l) => JSON.stringify(l)).join(', ');
      why = `rule ${JSON.stringify(name)}'s match (listener, route) holds for no connection of forward listener ${listeners}`;
    } else return;
    listOf(r['actions']).forEach((a, k) => {
      if (!isRecord(a)) return;
      for (const key of Object.keys(a)) {
        const acts = FORWARD_ONLY_FAULTS.get(key);
        if (acts === undefined) continue;
        issue(
          ['rules', i, 'actions', k, key],
          `${key} acts only on ${acts}, and ${why}: it would never act; name the rule in a forward listener's rules, or remove ${key}`,
        );
      }
    });
  });
}
