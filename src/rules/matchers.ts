// A rule's match keys compiled into tests, each able to explain itself. Connection keys (host, path, pathPrefix,
// route, listener, port) are tested once when a connection opens, against its ConnectionFacts; message keys
// (direction, type, text, json, binaryPrefix, size) against every message. nth, every and probability need the
// connection's counters and randomness, so they stay data here and rules/connection.ts applies them. Pure.

import { isDeepStrictEqual } from 'node:util';
import { parseJsonPointer } from '../config/json-pointer.ts';
import type { RuleMatchConfig } from '../config/shape-rules.ts';
import { parseTextPattern } from '../config/text-pattern.ts';
import type { Direction } from '../events.ts';
import { inPortRanges, type PortRange } from '../net/ports.ts';
import { getAt, type JsonValue } from './json-path.ts';
import type { ConnectionFacts, MessageType, RuleMessage } from './types.ts';

/** One message with its text and JSON parsed at most once, however many matchers and actions look. */
export type MessageView = {
  readonly message: RuleMessage;
  readonly text: string;
  /** The parsed JSON of a text message, or undefined when it is not text or not JSON. */
  readonly json: { value: JsonValue } | undefined;
};

export function viewOf(message: RuleMessage): MessageView {
  return new LazyView(message);
}

// A class, not an object literal with getters: a literal makes two closures and accessor properties per message,
// which showed as the engine's largest per-message cost in the relay benchmark.
class LazyView implements MessageView {
  readonly message: RuleMessage;
  #text: string | undefined;
  #json: { value: JsonValue } | undefined | null = null;

  constructor(message: RuleMessage) {
    this.message = message;
  }

  get text(): string {
    this.#text ??= this.message.data.toString('utf8');
    return this.#text;
  }

  get json(): { value: JsonValue } | undefined {
    if (this.#json === null) {
      this.#json = undefined;
      if (this.message.type === 'text') {
        try {
          this.#json = { value: JSON.parse(this.text) as JsonValue };
        } catch {
          // Not JSON: json matchers do not match, and setJson/deleteJson leave the message as it is.
        }
      }
    }
    return this.#json;
  }
}

export type ConnectionMatcher = {
  readonly key: string;
  test(facts: ConnectionFacts): boolean;
  /** The condition in words, e.g. `host is "*.example.com"`. */
  explain(): string;
  /** The fact it looked at, for `check --explain`: e.g. `host "chat.example.com"`. */
  actual(facts: ConnectionFacts): string;
};

export type MessageMatcher = {
  readonly key: string;
  test(view: MessageView): boolean;
  explain(): string;
};

/** The compiled form of one match mapping. */
export type CompiledMatch = {
  readonly connection: readonly ConnectionMatcher[];
  readonly message: readonly MessageMatcher[];
  readonly nth?: number | undefined;
  readonly every?: number | undefined;
  readonly probability?: number | undefined;
  /** True when the mapping has message keys (then it selects messages, not only connections). */
  readonly selectsMessages: boolean;
};

const q = JSON.stringify;

function hostMatcher(pattern: string): ConnectionMatcher {
  // Keep the leading dot in the suffix so "*.example.com" matches neither "badexample.com" nor the apex.
  const suffix = pattern.startsWith('*.') ? pattern.slice(1) : undefined;
  return {
    key: 'host',
    test: (f) => (suffix === undefined ? f.host === pattern : f.host.length > suffix.length && f.host.endsWith(suffix)),
    explain: () => (suffix === undefined ? `host is ${q(pattern)}` : `host is a subdomain of ${q(pattern.slice(2))}`),
    actual: (f) => `host ${q(f.host)}`,
  };
}

function pathPrefixMatcher(prefix: string): ConnectionMatcher {
  return {
    key: 'pathPrefix',
    // As routes do: "/api" takes "/api" and "/api/x", not "/apix".
    test: (f) =>
      f.path.startsWith(prefix) &&
      (prefix.endsWith('/') || f.path.length === prefix.length || f.path[prefix.length] === '/'),
    explain: () => `path starts with ${q(prefix)}`,
    actual: (f) => `path ${q(f.path)}`,
  };
}

function equalsMatcher(key: 'path' | 'route' | 'listener', expected: string): ConnectionMatcher {
  return {
    key,
    test: (f) => f[key] === expected,
    explain: () => `${key} is ${q(expected)}`,
    actual: (f) => `${key} ${q(f[key])}`,
  };
}

function portMatcher(ranges: readonly PortRange[]): ConnectionMatcher {
  const text = ranges.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`)).join(', ');
  return {
    key: 'port',
    test: (f) => inPortRanges(f.port, ranges),
    explain: () => `port is ${ranges.length === 1 ? text : `one of ${text}`}`,
    actual: (f) => `port ${f.port}`,
  };
}

const DIRECTIONS: Record<'toServer' | 'toClient', Direction> = { toServer: 'toUpstream', toClient: 'toClient' };

function textTest(pattern: string): { test: (text: string) => boolean; explain: string } {
  const p = parseTextPattern(pattern);
  if (!p.ok) throw new Error(`unreachable: the config lets the bad pattern ${q(pattern)} through`);
  if (p.kind === 'substring') return { test: (t) => t.includes(p.text), explain: `contains ${q(p.text)}` };
  const re = new RegExp(p.source, p.flags);
  return { test: (t) => re.test(t), explain: `matches /${p.source}/${p.flags}` };
}

function jsonMatcher(j: NonNullable<RuleMatchConfig['json']>): MessageMatcher {
  const r = parseJsonPointer(j.pointer);
  if (!r.ok) throw new Error(`unreachable: the config lets the bad pointer ${q(j.pointer)} through`);
  const tokens = r.tokens;
  const at = `JSON at ${q(j.pointer)}`;
  // What the pointer finds in a JSON message; undefined for a message that is not JSON (no form of it matches).
  const lookup = (v: MessageView) => (v.json === undefined ? undefined : getAt(v.json.value, tokens));
  if (j.equals !== undefined) {
    const expected = j.equals;
    return {
      key: 'json',
      test: (v) => {
        const got = lookup(v);
        return got?.found === true && isDeepStrictEqual(got.value, expected);
      },
      explain: () => `${at} equals ${JSON.stringify(expected)}`,
    };
  }
  if (j.regex !== undefined) {
    const t = textTest(j.regex);
    return {
      key: 'json',
      test: (v) => {
        const got = lookup(v);
        return got?.found === true && typeof got.value === 'string' && t.test(got.value);
      },
      explain: () => `${at} is a string that ${t.explain}`,
    };
  }
  const exists = j.exists ?? true;
  return {
    key: 'json',
    test: (v) => {
      const got = lookup(v);
      return got !== undefined && got.found === exists;
    },
    explain: () => (exists ? `${at} exists` : `${at} does not exist (JSON messages only)`),
  };
}

/** Compiles one match mapping (already validated by the config). */
export function compileMatch(m: RuleMatchConfig): CompiledMatch {
  const connection: ConnectionMatcher[] = [];
  const message: MessageMatcher[] = [];
  if (m.host !== undefined) connection.push(hostMatcher(m.host));
  if (m.path !== undefined) connection.push(equalsMatcher('path', m.path));
  if (m.pathPrefix !== undefined) connection.push(pathPrefixMatcher(m.pathPrefix));
  if (m.route !== undefined) connection.push(equalsMatcher('route', m.route));
  if (m.listener !== undefined) connection.push(equalsMatcher('listener', m.listener));
  if (m.port !== undefined) connection.push(portMatcher(Array.isArray(m.port) ? m.port : [m.port]));

  if (m.direction !== undefined && m.direction !== 'both') {
    const dir = DIRECTIONS[m.direction];
    const word = m.direction;
    message.push({ key: 'direction', test: (v) => v.message.direction === dir, explain: () => `direction ${word}` });
  }
  if (m.type !== undefined) {
    const types: readonly MessageType[] = Array.isArray(m.type) ? m.type : [m.type];
    message.push({
      key: 'type',
      test: (v) => types.includes(v.message.type),
      explain: () => `type is ${types.join(' or ')}`,
    });
  }
  if (m.text !== undefined) {
    const t = textTest(m.text);
    message.push({
      key: 'text',
      test: (v) => v.message.type === 'text' && t.test(v.text),
      explain: () => `text ${t.explain}`,
    });
  }
  if (m.json !== undefined) message.push(jsonMatcher(m.json));
  if (m.binaryPrefix !== undefined) {
    const prefix = Buffer.from(m.binaryPrefix, 'hex');
    const hex = m.binaryPrefix;
    message.push({
      key: 'binaryPrefix',
      test: (v) =>
        v.message.type === 'binary' &&
        v.message.data.length >= prefix.length &&
        v.message.data.subarray(0, prefix.length).equals(prefix),
      explain: () => `binary starting with 0x${hex}`,
    });
  }
  if (m.size !== undefined) {
    const { min, max } = m.size;
    message.push({
      key: 'size',
      test: (v) =>
        (min === undefined || v.message.data.length >= min) && (max === undefined || v.message.data.length <= max),
      explain: () =>
        min !== undefined && max !== undefined
          ? `size ${min}-${max} bytes`
          : min !== undefined
            ? `size at least ${min} bytes`
            : `size at most ${max} bytes`,
    });
  }
  const selectsMessages =
    message.length > 0 || m.nth !== undefined || m.every !== undefined || m.probability !== undefined;
  return { connection, message, nth: m.nth, every: m.every, probability: m.probability, selectsMessages };
}

/** The message part of a match in words (the connection part is explained against facts by the rule set). */
export function explainMessagePart(m: CompiledMatch): string {
  const parts = m.message.map((x) => x.explain());
  if (m.nth !== undefined) parts.push(`only the ${ordinal(m.nth)} such message per direction`);
  if (m.every !== undefined) parts.push(`every ${ordinal(m.every)} such message per direction`);
  if (m.probability !== undefined) parts.push(`with probability ${m.probability}`);
  return parts.length === 0 ? 'every message' : parts.join(', ');
}

export function ordinal(n: number): string {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return `${n}${['th', 'st', 'nd', 'rd'][n % 10] ?? 'th'}`;
}
