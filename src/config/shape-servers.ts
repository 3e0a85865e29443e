// One entry of upstreams[].servers: a URL, or { url, weight, backup } as nginx's `server ... weight=N backup`.
// Parsed by hand (as keepalive is) so that a plain URL and the object form are one field with one clear message.
// Pure.

import { checkUpstreamUrl, type Parsed, parsed } from './fields.ts';

export type ServerEntry = { url: string; weight: number; backup: boolean };

export const MAX_WEIGHT = 1000;
const KEYS = ['url', 'weight', 'backup'];

function parseServerEntry(input: unknown): Parsed<ServerEntry> {
  if (typeof input === 'string') {
    const message = checkUpstreamUrl(input);
    return message === undefined
      ? { ok: true, value: { url: input, weight: 1, backup: false } }
      : { ok: false, message };
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { ok: false, message: `expected a server URL or { url, weight, backup }; got ${JSON.stringify(input)}` };
  }
  const entry = input as Record<string, unknown>;
  const unknown = Object.keys(entry).find((k) => !KEYS.includes(k));
  if (unknown !== undefined) {
    return { ok: false, message: `unknown key ${JSON.stringify(unknown)} in a server (keys: ${KEYS.join(', ')})` };
  }
  const { url, weight = 1, backup = false } = entry;
  if (url === undefined) return { ok: false, message: 'a server needs its url, e.g. { url: ws://10.0.0.11:9000 }' };
  const urlMessage =
    typeof url === 'string' ? checkUpstreamUrl(url) : `url: expected a string; got ${JSON.stringify(url)}`;
  if (urlMessage !== undefined) return { ok: false, message: urlMessage };
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > MAX_WEIGHT) {
    return { ok: false, message: `weight is a whole number from 1 to ${MAX_WEIGHT}; got ${JSON.stringify(weight)}` };
  }
  if (typeof backup !== 'boolean')
    return { ok: false, message: `backup is true or false; got ${JSON.stringify(backup)}` };
  return { ok: true, value: { url: url as string, weight, backup } };
}

export const serverEntry = () =>
  parsed(parseServerEntry, {
    anyOf: [
      { type: 'string', examples: ['ws://10.0.0.11:9000'] },
      {
        type: 'object',
        properties: {
          url: { type: 'string', description: 'The server: ws://, wss://, http:// or https://.' },
          weight: {
            type: 'integer',
            minimum: 1,
            maximum: MAX_WEIGHT,
            description: 'Its share of new connections against the others (default 1), as nginx weight=.',
          },
          backup: {
            type: 'boolean',
            description: 'Used only while every server that is not a backup is skipped (default false).',
          },
        },
        required: ['url'],
        additionalProperties: false,
      },
    ],
  });
