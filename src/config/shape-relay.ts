// The keys a route or a listener uses to take part in rules and the relay: `rules` (names of top-level rules),
// `keepalive` (wsgate's own pings on silent connections) and `relay` (what the relay does with permessage-deflate).
// Their own file because both shape-route.ts and shape-listener.ts use them and shape-rules.ts uses shape-route.ts.
// Pure.

import { z } from 'zod';
import { type Parsed, parsed } from './fields.ts';
import { parseDuration } from './units.ts';

/** Rule names are names (no ":"), so the "profile:NAME" entries resolve.ts adds can never collide with one. */
export const ruleRefs = () =>
  z
    .array(z.string().min(1, { error: 'must not be empty' }))
    .default([])
    .describe('Names of entries in the top-level rules list that apply here, in order.');

export type Keepalive = { intervalMs: number; to: 'client' | 'server' | 'both' };

const KEEPALIVE_TO = ['client', 'server', 'both'] as const;

function parseKeepalive(input: unknown): Parsed<Keepalive> {
  const record = input !== null && typeof input === 'object' && !Array.isArray(input);
  const interval = record ? (input as Record<string, unknown>)['interval'] : input;
  const to = record ? ((input as Record<string, unknown>)['to'] ?? 'both') : 'both';
  if (record) {
    const unknown = Object.keys(input as object).filter((k) => k !== 'interval' && k !== 'to');
    if (unknown.length > 0) {
      return { ok: false, message: `unknown key ${JSON.stringify(unknown[0])} in keepalive (keys: interval, to)` };
    }
    if (interval === undefined) return { ok: false, message: 'keepalive needs an interval, e.g. { interval: 25s }' };
  }
  if (typeof to !== 'string' || !(KEEPALIVE_TO as readonly string[]).includes(to)) {
    return { ok: false, message: `keepalive.to is one of "client", "server", "both"; got ${JSON.stringify(to)}` };
  }
  const ms = parseDuration(interval);
  if (!ms.ok) return ms;
  return { ok: true, value: { intervalMs: ms.value, to: to as Keepalive['to'] } };
}

export const keepalive = () =>
  parsed(parseKeepalive, {
    anyOf: [
      { type: 'string', examples: ['25s'] },
      {
        type: 'object',
        properties: {
          interval: { type: 'string', description: 'How long a connection may be silent before wsgate pings.' },
          to: { enum: [...KEEPALIVE_TO], description: 'Which side wsgate pings. Default: both.' },
        },
        required: ['interval'],
        additionalProperties: false,
      },
    ],
  }).describe(
    'Send WebSocket pings when a connection has been silent this long (a duration, or { interval, to: client | server | both }); the pongs are consumed. Keeps connections alive through middleboxes with idle timeouts. 0 turns it off (e.g. on a route under a listener that has it).',
  );

export const relaySettings = () =>
  z
    .strictObject({
      deflate: z
        .enum(['strip', 'keep'])
        .optional()
        .describe(
          'For connections rules relay: "strip" removes permessage-deflate from the handshake (the default); "keep" inflates and re-deflates with the negotiated parameters.',
        ),
    })
    .describe('How the relay treats connections that message rules touch.');
