// Shared by the rules tests: a RuleSet from a YAML rules list (through the real config loader, so the tests
// exercise the config shape too), facts of a connection, and message builders.
import { loadConfigText } from '../../../src/config/load.ts';
import type { Direction } from '../../../src/events.ts';
import { compileRules, type RuleSet } from '../../../src/rules/rule-set.ts';
import type { ConnectionFacts, MessageType, RuleMessage } from '../../../src/rules/types.ts';

/** A config text with one listener and these rules (a YAML list, written at column 0). */
export function configWithRules(rulesYaml: string): string {
  const indented = rulesYaml
    .trim()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
  return `listeners:\n  - bind: 127.0.0.1:0\n    routes:\n      - upstream: ws://127.0.0.1:9998\nrules:\n${indented}\n`;
}

export function ruleSetFrom(rulesYaml: string): RuleSet {
  return compileRules(loadConfigText(configWithRules(rulesYaml), 'rules.yaml', {}).rules);
}

export const FACTS: ConnectionFacts = {
  listener: 'web',
  route: 'chat',
  host: 'chat.example.com',
  port: 443,
  path: '/socket',
};

export const UP: Direction = 'toUpstream';
export const DOWN: Direction = 'toClient';

export function msg(direction: Direction, type: MessageType, data: string | Buffer): RuleMessage {
  return { direction, type, data: typeof data === 'string' ? Buffer.from(data) : data };
}

export const text = (direction: Direction, s: string) => msg(direction, 'text', s);

/** The texts a verdict sends, as strings. */
export function sent(v: { send: readonly { data: Buffer }[] }): string[] {
  return v.send.map((m) => m.data.toString('utf8'));
}
