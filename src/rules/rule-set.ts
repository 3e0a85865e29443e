// The rules of one config, compiled once at load: compileRules(config.rules) → a RuleSet. Each rule's match
// alternatives become matchers and its actions steps and faults (matchers.ts, actions.ts); the forward profiles
// (profiles.ts) are compiled alongside, and "profile:NAME" in a name list stands for that profile's rules.
// forConnection() picks the rules that apply to one connection and gives it its own state (connection.ts);
// explain() says, for `wsgate check --explain`, which rules would apply and why. Pure.

import type { RuleConfig } from '../config/shape-rules.ts';
import { rule as ruleShape } from '../config/shape-rules.ts';
import { type CompiledActions, compileActions, needsRelay } from './actions.ts';
import { type AppliedRule, type LiveConnectionRules, NO_RULES, RuleConnection } from './connection.ts';
import { type CompiledMatch, compileMatch, explainMessagePart } from './matchers.ts';
import { mulberry32, seedOf } from './prng.ts';
import { PROFILES } from './profiles.ts';
import type { ConnectionFacts, RuleExplanation } from './types.ts';

export type CompiledRule = {
  readonly name: string;
  readonly description: string | undefined;
  readonly live: boolean;
  readonly seed: number | undefined;
  /** The chance the rule applies to a connection at all, decided when it opens. */
  readonly probability: number | undefined;
  readonly matches: readonly CompiledMatch[];
  readonly actions: CompiledActions;
};

export type ConnectionOptions = {
  /** The connection id: seeds the connection's randomness when neither the rule nor `seed` gives one. */
  conn?: string | undefined;
  /** Seeds every rule of this connection that has no seed of its own (tests). */
  seed?: number | undefined;
  /** The route's (or listener's) relay.deflate. Default "strip". */
  deflate?: 'strip' | 'keep' | undefined;
};

export const PROFILE_PREFIX = 'profile:';

function compileRule(r: RuleConfig): CompiledRule {
  return {
    name: r.name,
    description: r.description,
    live: r.live,
    seed: r.seed,
    probability: r.probability,
    matches: r.match.map(compileMatch),
    actions: compileActions(r.name, r.actions),
  };
}

/** The profiles' rules, parsed by the config's own rule shape (so they are held to the same checks) once. */
let profileRules: Map<string, CompiledRule[]> | undefined;

function compiledProfiles(): Map<string, CompiledRule[]> {
  if (profileRules !== undefined) return profileRules;
  profileRules = new Map();
  for (const [name, profile] of Object.entries(PROFILES)) {
    const rules = profile.rules.map((raw) => {
      const parsed = ruleShape.safeParse(raw);
      if (!parsed.success) {
        throw new Error(`profile ${name}: rule ${JSON.stringify(raw.name)} is invalid: ${parsed.error.message}`);
      }
      return compileRule(parsed.data);
    });
    profileRules.set(name, rules);
  }
  return profileRules;
}

/** Does the alternative's connection part hold for these facts? */
function holds(m: CompiledMatch, facts: ConnectionFacts): boolean {
  return m.connection.every((c) => c.test(facts));
}

export class RuleSet {
  #rules = new Map<string, CompiledRule>();
  /** True when some rule says live: true: edges then call reload() on open connections. */
  readonly hasLive: boolean;

  constructor(rules: readonly RuleConfig[]) {
    for (const r of rules) this.#rules.set(r.name, compileRule(r));
    this.hasLive = [...this.#rules.values()].some((r) => r.live);
  }

  /** The rule of this name from the config or a profile, if any. */
  rule(name: string): CompiledRule | undefined {
    return this.#rules.get(name) ?? [...compiledProfiles().values()].flat().find((r) => r.name === name);
  }

  /** The config's rule names, in order. */
  get names(): string[] {
    return [...this.#rules.keys()];
  }

  /** Rules by name in order, "profile:NAME" expanded; unknown names are skipped (the config refuses them). */
  expand(names: readonly string[]): CompiledRule[] {
    const out: CompiledRule[] = [];
    const seen = new Set<string>();
    for (const name of names) {
      const rules = name.startsWith(PROFILE_PREFIX)
        ? (compiledProfiles().get(name.slice(PROFILE_PREFIX.length)) ?? [])
        : [this.#rules.get(name)].filter((r) => r !== undefined);
      for (const r of rules) {
        if (seen.has(r.name)) continue;
        seen.add(r.name);
        out.push(r);
      }
    }
    return out;
  }

  /** The rules that apply to one connection, with its own state. */
  forConnection(
    facts: ConnectionFacts,
    names: readonly string[],
    options: ConnectionOptions = {},
  ): LiveConnectionRules {
    if (names.length === 0) return NO_RULES;
    const connSeed = options.seed ?? seedOf(options.conn ?? '');
    const select = (rule: CompiledRule): AppliedRule | undefined => {
      const matches = rule.matches.filter((m) => holds(m, facts));
      if (matches.length === 0) return undefined;
      // Each rule draws from its own sequence, so adding a rule does not change what another one does.
      const random = mulberry32(rule.seed ?? (connSeed ^ seedOf(rule.name)) >>> 0);
      if (rule.probability !== undefined && !(random() < rule.probability)) return undefined;
      return { rule, matches, random };
    };
    const applied = this.expand(names)
      .map(select)
      .filter((a) => a !== undefined);
    if (applied.length === 0) return NO_RULES;
    return new RuleConnection(applied, options.deflate ?? 'strip', select);
  }

  /** For each named rule: does it apply to a connection with these facts, why, and would it relay? */
  explain(facts: ConnectionFacts, names: readonly string[]): RuleExplanation[] {
    return this.expand(names).map((rule) => {
      const alternatives = rule.matches.map((m) => {
        const failed = m.connection.filter((c) => !c.test(facts));
        const conn =
          m.connection.length === 0
            ? 'every connection'
            : m.connection.map((c) => `${c.actual(facts)} ${c.test(facts) ? '✓' : '✗'} (${c.explain()})`).join(', ');
        return { holds: failed.length === 0, text: conn, messages: explainMessagePart(m) };
      });
      const applies = alternatives.some((a) => a.holds);
      const relays = applies && needsRelay(rule.actions);
      const chance = rule.probability === undefined ? '' : `; with probability ${rule.probability} per connection`;
      const why = alternatives
        .map((a) => (rule.actions.steps.length > 0 ? `${a.text}; messages: ${a.messages}` : a.text))
        .join(' | or | ');
      return {
        rule: rule.name,
        applies,
        why: `${why}${chance}; does: ${rule.actions.explain.join(', ')}`,
        relays,
      };
    });
  }
}

/** Compiles a config's rules (`wsgate check`, tests). */
export function compileRules(rules: readonly RuleConfig[]): RuleSet {
  return new RuleSet(rules);
}

// A loaded Config is frozen, so its rules list identifies it: app/ asks for every listener's settings and on each
// reload, and each config's rules are compiled once (config/ cannot compile them: rules/ sits above it).
const compiled = new WeakMap<readonly RuleConfig[], RuleSet>();

/** The RuleSet of a loaded config's rules, compiled on first use and then shared. */
export function ruleSetOf(rules: readonly RuleConfig[]): RuleSet {
  let set = compiled.get(rules);
  if (set === undefined) {
    set = compileRules(rules);
    compiled.set(rules, set);
  }
  return set;
}
