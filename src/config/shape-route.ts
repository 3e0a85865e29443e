// The shape of a reverse listener's routes: match conditions (Host, path or prefix, headers with exact values or
// regular expressions), the upstream (a URL or a name resolved later), allowed origins and the tap level. Keys,
// defaults and descriptions only; checks across keys are checks.ts's. Pure.

import { z } from 'zod';
import { bracketedHostMessage, unbracketedIpv6Message } from '../net/host-port.ts';
import { parseIp } from '../net/ip.ts';
import { checkUpstreamUrl, flag, isRecord, type Parsed, parsed, routeName } from './fields.ts';
import { keepalive, relaySettings, ruleRefs } from './shape-relay.ts';

/**
 * `match:` as people write it: one mapping (keys ANDed), a list of them (ORed), or nothing (matches `everything`);
 * always a list once parsed.
 */
export function matchList<T extends z.ZodType>(one: T, everything: string, owner: string) {
  return z
    .union([
      one,
      z
        .array(one)
        .min(1, { error: `list at least one match, or leave out match to match ${everything}` })
        .describe(`Alternatives: the ${owner} matches when any one of them does (OR).`),
    ])
    .optional()
    .transform((m): z.output<T>[] => (m === undefined ? [{} as z.output<T>] : Array.isArray(m) ? m : [m]));
}

/** Two match keys that cannot be combined: one issue at the second key, "use either A or B, not both". */
export function exclusiveKeys(m: unknown, ctx: z.RefinementCtx, a: string, b: string): void {
  if (isRecord(m) && m[a] !== undefined && m[b] !== undefined) {
    ctx.addIssue({ code: 'custom', path: [b], params: { atKey: true }, message: `use either ${a} or ${b}, not both` });
  }
}

// Host header matching: exact names or a leading "*." label; DNS names are case-insensitive (RFC 4343).
const MATCH_HOST = /^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;

export const matchHost = z
  .string()
  .superRefine((host, ctx) => {
    const lower = host.toLowerCase();
    if (MATCH_HOST.test(lower)) return;
    const bracketed = host.startsWith('[') && host.endsWith(']') ? bracketedHostMessage(host) : '';
    if (bracketed === undefined) return;
    // "::1" would otherwise read as a host with a port; RFC 3986 §3.2.2 brackets an IPv6 literal.
    const ipv6 = !host.startsWith('[') && parseIp(host)?.family === 6;
    const message =
      bracketed !== ''
        ? bracketed
        : ipv6
          ? `invalid host ${JSON.stringify(host)}: IPv6 addresses go in brackets, e.g. "[${lower}]"`
          : /:\d+$/.test(host)
            ? `invalid host ${JSON.stringify(host)}: match the host name without a port`
            : `invalid host ${JSON.stringify(host)}: expected a host name such as "app.example.com" or "*.example.com"`;
    ctx.addIssue({ code: 'custom', message, input: host });
  })
  .transform((host) => host.toLowerCase());

export const matchPath = (what: string) =>
  z.string().superRefine((path, ctx) => {
    const message = !path.startsWith('/')
      ? `${what} must start with "/"`
      : /[?#\s]/.test(path)
        ? `${what} must not contain "?", "#" or whitespace (the query string is not matched)`
        : undefined;
    if (message !== undefined) ctx.addIssue({ code: 'custom', message, input: path });
  });

// RFC 9110 §5.1: a field name is a token.
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

// Issues with `params.atKey` are about a key (a header name, a conflicting key), so they point at the key.

/** `"/regex/flags"` → its parts; any other string is an exact value. */
function regexOf(value: string): { source: string; flags: string } | undefined {
  const m = /^\/(.+)\/([a-z]*)$/s.exec(value);
  return m === null ? undefined : { source: m[1]!, flags: m[2]! };
}

const headerValue = z.string({ error: 'expected a string (quote numbers, e.g. "1")' }).superRefine((value, ctx) => {
  const re = regexOf(value);
  if (re === undefined) return;
  let message: string | undefined;
  // A global or sticky regex keeps lastIndex between test() calls, so the same header would match alternately.
  if (/[gy]/.test(re.flags)) message = `regex flags "g" and "y" are not allowed (they make matching stateful)`;
  else {
    try {
      new RegExp(re.source, re.flags);
    } catch (err) {
      // V8 says "Invalid regular expression: /(/: Unterminated group"; keep only the reason.
      const reason = (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
      message = `invalid regular expression ${JSON.stringify(value)}: ${reason}`;
    }
  }
  if (message !== undefined) ctx.addIssue({ code: 'custom', message, input: value });
});

const matchHeaders = z
  .record(z.string(), headerValue)
  .superRefine(
    (headers, ctx) => {
      if (!isRecord(headers)) return;
      const seen = new Map<string, string>();
      for (const key of Object.keys(headers)) {
        const lower = key.toLowerCase();
        if (!HEADER_NAME.test(key)) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            params: { atKey: true },
            message: `invalid header name ${JSON.stringify(key)}`,
            input: key,
          });
        } else if (seen.has(lower)) {
          const first = seen.get(lower);
          ctx.addIssue({
            code: 'custom',
            path: [key],
            params: { atKey: true },
            message: `header ${JSON.stringify(key)} is listed twice (as ${JSON.stringify(first)} too; header names are case-insensitive)`,
            input: key,
          });
        } else seen.set(lower, key);
      }
    },
    // Names are checked even when a value is wrong, so both problems show up in one run.
    { when: () => true },
  )
  .transform((headers) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])));

const routeMatch = z
  .strictObject({
    host: matchHost
      .optional()
      .describe('The Host header, exact or "*.example.com" for any subdomain; case-insensitive, without the port.'),
    path: matchPath('path').optional().describe('The exact request path (without the query string), e.g. "/echo".'),
    pathPrefix: matchPath('pathPrefix')
      .optional()
      .describe('A prefix of the request path, e.g. "/socket"; cannot be combined with path.'),
    headers: matchHeaders
      .optional()
      .describe(
        'Request headers that must all be present: name (case-insensitive) → exact value, or "/regex/flags" for a regular expression.',
      ),
  })
  .superRefine(
    (m, ctx) => {
      exclusiveKeys(m, ctx, 'path', 'pathPrefix');
    },
    { when: () => true },
  )
  .describe('Conditions that must all hold (AND). An empty mapping matches every request.');

const TAP_LEVELS = ['off', 'meta', 'frames', 'payload'] as const;

export const tapLevel = () =>
  z
    .enum(TAP_LEVELS)
    .describe(
      'How much of each WebSocket connection the traffic log shows: "off" (open and close lines only), "meta" (close codes, ping RTT, counts), "frames" (every frame and message), "payload" (plus payload previews, permessage-deflate decoded).',
    );

export const route = z.strictObject({
  name: routeName()
    .optional()
    .describe(
      'Names the route in logs and `wsgate check --explain`. Default: "<listener name>/route-<index>". "<listener>/forward" and "<listener>/tunnel" are reserved for forward listeners.',
    ),
  match: matchList(routeMatch, 'every request', 'route').describe(
    'Which requests take this route: one match object (its keys are ANDed) or a list of them (ORed). Leave out to match everything. The first matching route wins.',
  ),
  upstream: z
    .string()
    .min(1, { error: 'must not be empty' })
    .superRefine((text, ctx) => {
      if (!text.includes('://')) return; // a name: resolved against upstreams[] once the whole config is read
      const message = checkUpstreamUrl(text);
      if (message !== undefined) ctx.addIssue({ code: 'custom', message, input: text });
    })
    .describe(
      'Where matching requests go: an inline URL (ws://, wss://, http:// or https://) or the name of an entry in upstreams.',
    )
    .meta({ examples: ['ws://127.0.0.1:9998', 'chat'] }),
  changeOrigin: flag()
    .prefault(false)
    .describe("Set the Host header to the upstream's host instead of passing the client's on."),
  rawPath: flag()
    .prefault(false)
    .describe(
      'Forward the path exactly as received; matching uses the raw path too. For upstreams that need encoded slashes (%2F) or other encodings wsgate otherwise refuses as ambiguous; without it, paths are matched and forwarded in canonical form (dot segments resolved, unreserved characters decoded).',
    ),
  allowOrigins: z
    .array(
      parsed(parseOrigin, {
        type: 'string',
        examples: ['https://app.example.com'],
      }).describe('An exact origin: scheme://host[:port], no path.'),
    )
    .min(1, { error: 'list at least one origin, or leave out allowOrigins to accept any origin' })
    .optional()
    .describe(
      'Browser origins allowed to open WebSockets on this route (the Origin header, compared exactly). Default: any origin.',
    ),
  tap: tapLevel().optional().describe('The tap level for this route; overrides the listener and tap.level.'),
  rules: ruleRefs().describe("Names of top-level rules for this route's connections, after the listener's."),
  keepalive: keepalive().optional(),
  relay: relaySettings().optional(),
});

function parseOrigin(input: unknown): Parsed<string> {
  if (typeof input !== 'string')
    return { ok: false, message: `expected an origin string; got ${JSON.stringify(input)}` };
  if (input === '*') {
    return {
      ok: false,
      message: '"*" is not allowed: list exact origins, or leave out allowOrigins to accept any origin',
    };
  }
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#\s]+)(.*)$/.exec(input);
  if (m === null) {
    return { ok: false, message: `invalid origin ${JSON.stringify(input)}: expected e.g. "https://app.example.com"` };
  }
  if (m[3] !== '') {
    return {
      ok: false,
      message: `invalid origin ${JSON.stringify(input)}: an origin has no path; write "${m[1]}://${m[2]}"`,
    };
  }
  // Browsers send the serialized origin (RFC 6454 §6.2): lower-case host, no default port.
  const url = URL.parse(input);
  if (url === null) {
    // A browser serializes its origin from a parsed URL, so one that does not parse (an unbracketed IPv6 host, a
    // port out of range) would be listed and never match: refuse it and say how to write it.
    const why =
      unbracketedIpv6Message(input) ??
      'not a URL a browser could send, e.g. "https://app.example.com" or "http://[::1]:3000"';
    return { ok: false, message: `invalid origin ${JSON.stringify(input)}: ${why}` };
  }
  // An opaque origin (chrome-extension://id) serializes as "null"; such clients send the scheme and host as written.
  return { ok: true, value: url.origin !== 'null' ? url.origin : input.toLowerCase() };
}
