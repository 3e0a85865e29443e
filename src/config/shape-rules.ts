// The shape of the top-level `rules:` list: named rules of plain data, each `{ name, match, actions, live?, seed?,
// probability? }`. `match` is one mapping (keys ANDed) or a list (ORed), as for routes; its keys are connection
// keys (host, path, pathPrefix, route, listener, port) and message keys (direction, type, text, json,
// binaryPrefix, size, nth, every, probability). Actions are shape-actions.ts's. rules/ compiles all of it; this
// file only says what may be written, with messages and descriptions. Pure.

import { z } from 'zod';
import { isRecord, name, type Parsed, parsed, portRule, routeName } from './fields.ts';
import { action, jsonPointer } from './shape-actions.ts';
import { exclusiveKeys, matchHost, matchList, matchPath } from './shape-route.ts';
import { parseTextPattern } from './text-pattern.ts';
import { parseSize } from './units.ts';

/**
 * The fault profiles a forward listener can play (forward.profile). Their rules live in src/rules/profiles.ts,
 * which config/ cannot import (rules/ sits above it); test/unit/rules/profiles-config.test.ts keeps the two lists
 * the same.
 */
export const PROFILE_NAMES = [
  'squid-default',
  'auth-407',
  'ssl-inspect',
  'idle-cut-60s',
  'buffering-proxy',
  'strip-extensions',
] as const;

export const MESSAGE_TYPES = ['text', 'binary', 'ping', 'pong', 'close'] as const;

const matcherPattern = () =>
  z.string().superRefine((text, ctx) => {
    const r = parseTextPattern(text);
    if (!r.ok) ctx.addIssue({ code: 'custom', message: r.message, input: text });
  });

function parseHex(input: unknown): Parsed<string> {
  if (typeof input !== 'string') return { ok: false, message: 'expected hex digits as a string, e.g. "8a00"' };
  const hex = input.replace(/^0x/i, '').replace(/[\s:]/g, '').toLowerCase();
  if (hex === '') return { ok: false, message: 'must not be empty' };
  if (!/^[0-9a-f]*$/.test(hex)) {
    return { ok: false, message: `invalid hex ${JSON.stringify(input)}: only 0-9 and a-f (spaces and ":" allowed)` };
  }
  if (hex.length % 2 !== 0) {
    return { ok: false, message: `invalid hex ${JSON.stringify(input)}: an odd number of digits (two per byte)` };
  }
  return { ok: true, value: hex };
}

const sizeOrZero = () =>
  parsed(parseSize, {
    anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string' }],
    examples: [0, '1KiB', '64KiB'],
  });

const jsonMatch = z
  .strictObject({
    pointer: jsonPointer(),
    equals: z.unknown().optional().describe('The value there equals this (any YAML value, compared as JSON).'),
    exists: z.boolean().optional().describe('true: the pointer leads to a value; false: it does not.'),
    regex: matcherPattern()
      .optional()
      .describe('The value there is a string matching "/regex/flags" (or containing a plain substring).'),
  })
  .superRefine(
    (j, ctx) => {
      if (!isRecord(j)) return;
      const fields: Record<string, unknown> = j;
      const given = ['equals', 'exists', 'regex'].filter((k) => fields[k] !== undefined);
      if (given.length > 1) {
        ctx.addIssue({
          code: 'custom',
          path: [given[1]!],
          params: { atKey: true },
          message: `use one of equals, exists and regex, not ${given.join(' and ')}`,
        });
      }
    },
    { when: () => true },
  )
  .describe(
    'A text message that parses as JSON, tested at a JSON pointer: equals, exists or regex (exists: true when none is given).',
  );

const size = z
  .strictObject({
    min: sizeOrZero().optional().describe('At least this many bytes (e.g. "1KiB").'),
    max: sizeOrZero().optional().describe('At most this many bytes.'),
  })
  .superRefine((s, ctx) => {
    if (s.min !== undefined && s.max !== undefined && s.min > s.max) {
      ctx.addIssue({ code: 'custom', path: ['max'], message: 'max is smaller than min' });
    }
  })
  .describe('The message payload size (after inflating, when permessage-deflate is kept).');

const count = (what: string) =>
  z
    .number({ error: `expected a whole number (${what})` })
    .int({ error: `expected a whole number (${what})` })
    .min(1, { error: 'must be at least 1' });

export const ruleMatch = z
  .strictObject({
    host: matchHost
      .optional()
      .describe('The target host, exact or "*.example.com" for any subdomain; case-insensitive, without the port.'),
    path: matchPath('path').optional().describe('The exact request path (without the query string).'),
    pathPrefix: matchPath('pathPrefix').optional().describe('A prefix of the request path; not with path.'),
    route: routeName().optional().describe('The route name (reverse), or "<listener>/forward" / "<listener>/tunnel".'),
    listener: name().optional().describe('The listener name.'),
    port: z
      .union([portRule(), z.array(portRule()).min(1)])
      .optional()
      .describe('The target port, a range ("8000-8999") or a list of them.'),
    direction: z
      .enum(['toServer', 'toClient', 'both'])
      .optional()
      .describe('Which way the message travels. Default: both.'),
    type: z
      .union([z.enum(MESSAGE_TYPES), z.array(z.enum(MESSAGE_TYPES)).min(1)])
      .optional()
      .describe('The message type (text, binary, ping, pong, close) or a list of them. Default: any.'),
    text: matcherPattern()
      .optional()
      .describe('A text message matching "/regex/flags", or containing a plain substring.'),
    json: jsonMatch.optional(),
    binaryPrefix: parsed(parseHex, { type: 'string', examples: ['8a00', '0x1f8b'] })
      .optional()
      .describe('A binary message starting with these bytes, in hex ("0x", spaces and ":" allowed).'),
    size: size.optional(),
    nth: count('1 is the first')
      .optional()
      .describe('Only the N-th message (1-based) that the other keys of this match select, per direction.'),
    every: count('N')
      .optional()
      .describe('Every N-th message that the other keys of this match select, per direction.'),
    probability: z
      .number({ error: 'expected a number from 0 to 1' })
      .min(0, { error: 'a probability is from 0 to 1' })
      .max(1, { error: 'a probability is from 0 to 1' })
      .optional()
      .describe(
        "Select a message with this probability (0..1), drawn from the rule's seed or the connection's, so runs repeat.",
      ),
  })
  .superRefine(
    (m, ctx) => {
      exclusiveKeys(m, ctx, 'path', 'pathPrefix');
      exclusiveKeys(m, ctx, 'nth', 'every');
    },
    { when: () => true },
  )
  .describe('Conditions that must all hold (AND). An empty mapping matches every connection and message.');

export const rule = z.strictObject({
  // Like route names, "/" is allowed (profiles name their rules "<profile>/<what>"); ":" never is, so the
  // "profile:NAME" entries resolve.ts adds cannot collide with a rule.
  name: routeName().describe('The name routes and listeners use in rules: [...]; shown in every rule event.'),
  description: z.string().optional().describe('What the rule is for, for people.'),
  match: matchList(ruleMatch, 'everything', 'rule').describe(
    'Which connections and messages the rule acts on: one match mapping (keys ANDed) or a list (ORed). Leave out to match everything the route or listener carries.',
  ),
  actions: z
    .array(action)
    .min(1, { error: 'list at least one action' })
    .describe('What the rule does, in order: message actions and faults, each a one-key mapping.'),
  live: z
    .boolean()
    .default(false)
    .describe('On reload, connections already open take the new definition of this rule too (else only new ones).'),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .optional()
    .describe("Seed of this rule's randomness (probability, reorder), so runs repeat. Default: per connection."),
  probability: z
    .number({ error: 'expected a number from 0 to 1' })
    .min(0, { error: 'a probability is from 0 to 1' })
    .max(1, { error: 'a probability is from 0 to 1' })
    .optional()
    .describe('Apply the whole rule to a connection with this probability (0..1), decided when it opens.'),
});

export type RuleConfig = z.output<typeof rule>;
export type RuleMatchConfig = z.output<typeof ruleMatch>;
