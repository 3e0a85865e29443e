// The shape of a rule's actions: each list item is a one-key mapping, either a message action (replace, setJson,
// deleteJson, drop, delay, inject, close, mark, hold) or a fault (on the handshake or tunnel, on the connection, or per
// message). Keys, values and descriptions only; rules/compile.ts gives them behaviour. One strict object with
// every key optional, so a misspelt action is an "unknown key" with a did-you-mean at its position. Pure.

import { z } from 'zod';
import { duration, isRecord, type Parsed, parsed, positiveSize } from './fields.ts';
import { parseJsonPointer } from './json-pointer.ts';
import { parseTextPattern } from './text-pattern.ts';

export const jsonPointer = () =>
  parsed<string>(
    (input): Parsed<string> => {
      if (typeof input !== 'string')
        return { ok: false, message: `expected a JSON pointer string such as "/user/name"` };
      const r = parseJsonPointer(input);
      return r.ok ? { ok: true, value: input } : r;
    },
    { type: 'string', examples: ['/user/name', '/items/0'] },
  ).describe('A JSON Pointer (RFC 6901): "/a/b/0" walks keys and array indices; "~1" is "/" and "~0" is "~" in a key.');

const onlyTrue = (what: string) =>
  z.literal(true, { error: `write ${what}: true (leave the action out to turn it off)` });

const count = (min: number, what: string) =>
  z
    .number({ error: `expected a whole number (${what})` })
    .int({ error: `expected a whole number (${what})` })
    .min(min, { error: `must be at least ${min}` });

const positiveDuration = () => duration().refine((ms) => ms > 0, { error: 'must be longer than 0' });

/** reorder.maxWait when the config does not say: a window is released this long after its first message. */
export const DEFAULT_REORDER_MAX_WAIT_MS = 100;

/** RFC 6455 §7.4: the codes a Close frame may carry on the wire. */
export function isSendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const replace = z
  .strictObject({
    pattern: z
      .string()
      .min(1, { error: 'must not be empty' })
      .superRefine((text, ctx) => {
        const r = parseTextPattern(text, { allowGlobal: true });
        if (!r.ok) ctx.addIssue({ code: 'custom', message: r.message, input: text });
      })
      .describe(
        'What to replace: "/regex/flags" (add g for every match, as in JavaScript) or a plain substring (every occurrence).',
      ),
    with: z
      .string()
      .describe('The replacement; $1, $2, $<name> insert capture groups, $& the whole match, $$ a dollar sign.'),
  })
  .describe('Rewrite text messages: a regular expression with capture groups, or a substring. Binary messages pass.');

const inject = z
  .strictObject({
    to: z.enum(['client', 'server']).describe('Which side receives the message.'),
    text: z.string().optional().describe('A text message.'),
    binary: z
      .string()
      .regex(BASE64, { error: 'expected base64, e.g. "AAEC"' })
      .optional()
      .describe('A binary message, base64.'),
    on: z
      .enum(['open', 'match'])
      .optional()
      .describe('"match" (default): each time the rule matches a message; "open": once when the connection opens.'),
    every: positiveDuration()
      .optional()
      .describe('Also send it again every this long after the open (implies on: open).'),
  })
  .superRefine(
    (v, ctx) => {
      if (!isRecord(v)) return;
      if ((v['text'] === undefined) === (v['binary'] === undefined)) {
        ctx.addIssue({ code: 'custom', path: [], message: 'an inject needs exactly one of text or binary' });
      }
      if (v['every'] !== undefined && v['on'] === 'match') {
        ctx.addIssue({
          code: 'custom',
          path: ['every'],
          params: { atKey: true },
          message: 'every works with on: open (a periodic message starts at the open), not on: match',
        });
      }
    },
    { when: () => true },
  )
  .describe("Send a message of wsgate's own to one side: when the rule matches, at open, or periodically.");

const close = z
  .strictObject({
    code: z
      .number({ error: 'expected a close code such as 1000 or 4000' })
      .int()
      .refine(isSendableCloseCode, {
        error: 'a close code on the wire is 1000-1003, 1007-1014 or 3000-4999 (RFC 6455 §7.4)',
      })
      .describe('The close code (RFC 6455 §7.4): 1000-1003, 1007-1014 or 3000-4999.'),
    reason: z
      .string()
      .default('')
      .refine((r) => Buffer.byteLength(r) <= 123, { error: 'a close reason is at most 123 bytes of UTF-8' })
      .describe('The close reason, at most 123 bytes of UTF-8.'),
    to: z.enum(['client', 'server', 'both']).default('both').describe('Which side gets the Close. Default: both.'),
  })
  .describe('Close the connection with this code and reason after the matching message.');

const throttle = z
  .strictObject({
    toServer: positiveSize().optional().describe('Bytes per second toward the server, e.g. "10KiB".'),
    toClient: positiveSize().optional().describe('Bytes per second toward the client.'),
  })
  .refine((t) => !isRecord(t) || t['toServer'] !== undefined || t['toClient'] !== undefined, {
    error: 'give toServer, toClient or both',
  })
  .describe('Limit the bandwidth of each direction (bytes per second; sizes such as "10KiB" allowed).');

const halfOpen = z
  .strictObject({
    direction: z.enum(['toServer', 'toClient']).describe('The direction that stops being forwarded.'),
    after: duration().describe('How long after the open it stops.'),
  })
  .describe('Stop forwarding one direction without a FIN, to test dead-peer detection.');

/** How long a hold action waits for someone to forward or drop the message when its rule does not say. */
export const DEFAULT_HOLD_TIMEOUT_MS = 30_000;

const hold = z
  .union([
    // A boolean (not a literal) so that a mapping fails this branch on its type, and the mapping's own problem
    // (e.g. a bad onTimeout) is the one reported.
    z.boolean().refine((v) => v, { error: 'write hold: true (leave the action out to turn it off)' }),
    z.strictObject({
      timeout: positiveDuration()
        .optional()
        .describe('How long the message waits for a decision (default 30s); then onTimeout applies.'),
      onTimeout: z
        .enum(['forward', 'drop'])
        .optional()
        .describe('What happens when nobody decided in time: "forward" (default: unchanged) or "drop".'),
    }),
  ])
  .describe(
    'Hold the message until it is forwarded (edited or not) or dropped in the inspector or the admin API (a breakpoint); later messages in the same direction wait behind it. true, or { timeout, onTimeout }.',
  );

/** Every action and fault, in the order the docs list them. */
export const ACTION_KEYS = [
  'replace',
  'setJson',
  'deleteJson',
  'drop',
  'delay',
  'inject',
  'close',
  'mark',
  'hold',
  'stripUpgrade',
  'rejectConnect',
  'rejectUpgrade',
  'untrustedCert',
  'stripExtensions',
  'idleCut',
  'maxLifetime',
  'throttle',
  'latency',
  'buffer',
  'halfOpen',
  'resetAfter',
  'dropEvery',
  'duplicate',
  'reorder',
  'refragment',
  'swallowPings',
  'swallowPongs',
] as const;

export const action = z
  .strictObject({
    // Message actions.
    replace: replace.optional(),
    setJson: z
      .strictObject({
        pointer: jsonPointer(),
        value: z.unknown().describe('The JSON value to put there (any YAML value).'),
      })
      .optional()
      .describe('Set a field of a JSON text message (created if missing, parents too); non-JSON messages pass.'),
    deleteJson: jsonPointer()
      .optional()
      .describe('Delete a field of a JSON text message, by JSON pointer; non-JSON messages pass.'),
    drop: onlyTrue('drop').optional().describe('Drop the message: it never reaches the other side.'),
    delay: positiveDuration()
      .optional()
      .describe('Hold the message this long; later messages in the same direction wait behind it (order is kept).'),
    inject: inject.optional(),
    close: close.optional(),
    mark: z
      .string()
      .min(1, { error: 'must not be empty' })
      .optional()
      .describe('Tag the message; the tag shows in the traffic log (and the inspector).'),
    hold: hold.optional(),
    // Faults on the handshake or the tunnel.
    stripUpgrade: z
      .union([
        onlyTrue('stripUpgrade'),
        z.strictObject({
          inTunnels: z
            .boolean()
            .describe('false: leave handshakes inside CONNECT tunnels alone, as a proxy that cannot see into them.'),
        }),
      ])
      .optional()
      .describe(
        'Behave like a proxy that drops Upgrade and Connection: the upstream sees a plain GET and the client gets its answer. true, or { inTunnels: false }.',
      ),
    rejectConnect: z
      .union([
        z.literal([403, 407], { error: 'expected 403 (Forbidden) or 407 (Proxy Authentication Required)' }),
        z.strictObject({
          status: z
            .literal([403, 407], { error: 'expected 403 (Forbidden) or 407 (Proxy Authentication Required)' })
            .describe('403 Forbidden, or 407 Proxy Authentication Required with a Proxy-Authenticate challenge.'),
          exceptPorts: z
            .array(z.number().int().min(1).max(65535))
            .min(1)
            .optional()
            .describe('Targets on these ports pass (Squid allows CONNECT to 443 only).'),
        }),
      ])
      .optional()
      .describe(
        'Answer CONNECT (and absolute-form requests) with 403, or 407 with Proxy-Authenticate (forward listeners): 403 | 407, or { status, exceptPorts }.',
      ),
    rejectUpgrade: z
      .number()
      .int()
      .min(200, { error: 'an HTTP status from 200 to 599' })
      .max(599, { error: 'an HTTP status from 200 to 599' })
      .optional()
      .describe('Answer the WebSocket handshake with this HTTP status instead of forwarding it.'),
    untrustedCert: onlyTrue('untrustedCert')
      .optional()
      .describe(
        'Intercept TLS with a leaf from a second CA the client does not trust, like a corporate TLS inspector.',
      ),
    stripExtensions: onlyTrue('stripExtensions')
      .optional()
      .describe('Remove Sec-WebSocket-Extensions from the handshake (no permessage-deflate).'),
    // Faults on the connection.
    idleCut: positiveDuration()
      .optional()
      .describe('Close TCP without a Close frame after this long without traffic, like a load balancer idle timeout.'),
    maxLifetime: positiveDuration()
      .optional()
      .describe('Cut the connection (no Close frame) this long after it opened.'),
    throttle: throttle.optional(),
    latency: positiveDuration().optional().describe('Add this much latency to every message, both directions.'),
    buffer: positiveDuration()
      .optional()
      .describe('Hold frames and release them in bursts every this long, like a buffering proxy.'),
    halfOpen: halfOpen.optional(),
    resetAfter: count(1, 'messages')
      .optional()
      .describe('Reset both TCP connections (RST) after this many messages, both directions together.'),
    // Faults per message.
    dropEvery: count(1, 'N').optional().describe('Drop every N-th message the rule matches (per direction).'),
    duplicate: onlyTrue('duplicate').optional().describe('Send every matching message twice.'),
    reorder: z
      .strictObject({
        window: count(2, 'messages').describe('How many messages are held and shuffled together.'),
        maxWait: positiveDuration()
          .optional()
          .describe(
            `How long a window may hold its first message before what it holds is released, full or not (default ${DEFAULT_REORDER_MAX_WAIT_MS}ms), so a quiet connection does not keep messages.`,
          ),
      })
      .optional()
      .describe('Shuffle matching data messages within windows of this many (per direction; seeded).'),
    refragment: count(2, 'frames')
      .max(1024, { error: 'at most 1024 frames' })
      .optional()
      .describe('Send each matching data message split into this many frames.'),
    swallowPings: onlyTrue('swallowPings').optional().describe('Drop pings (the other side never sees them).'),
    swallowPongs: onlyTrue('swallowPongs').optional().describe('Drop pongs (the pinging side never gets an answer).'),
  })
  .superRefine(
    (a, ctx) => {
      if (!isRecord(a)) return;
      const fields: Record<string, unknown> = a;
      const keys = Object.keys(fields).filter((k) => fields[k] !== undefined);
      // An unknown key (reported with its did-you-mean) is the one problem of an item that has no known key.
      const issues = (ctx as { issues?: { code: string; path?: unknown[] }[] }).issues ?? [];
      const unknownKey = issues.some((i) => i.code === 'unrecognized_keys' && (i.path?.length ?? 0) === 0);
      if (keys.length === 0 && !unknownKey) {
        ctx.addIssue({
          code: 'custom',
          path: [],
          message: `an action is a mapping with one key, e.g. { drop: true }; the keys are ${ACTION_KEYS.join(', ')}`,
        });
      } else if (keys.length > 1) {
        ctx.addIssue({
          code: 'custom',
          path: [keys[1]!],
          params: { atKey: true },
          message: `one action per list item: put ${keys.map((k) => JSON.stringify(k)).join(' and ')} in separate items`,
        });
      }
    },
    { when: () => true },
  )
  .describe('One action or fault: a mapping with exactly one key.');

export type ActionConfig = z.output<typeof action>;
