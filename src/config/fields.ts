// The leaf values of the config schema: durations, sizes, addresses, flags, names, URLs, host patterns, port
// rules, proxy URLs and NO_PROXY lists, each checked by a hand-written parser so a message says what is wrong in
// the config's own words, with a JSON Schema fragment for editors. The grammar itself (host:port, host patterns,
// ports, proxy URLs, NO_PROXY) is net/'s, so config accepts exactly what the code that uses a value understands.
// Pure.

import { z } from 'zod';
import { parseCidrRange } from '../net/cidr.ts';
import { parseHostPattern } from '../net/host-pattern.ts';
import { type HostPort, parseHostPort, unbracketedIpv6Message } from '../net/host-port.ts';
import { parseNoProxy } from '../net/no-proxy.ts';
import { type PortRange, parsePortRule } from '../net/ports.ts';
import { parseProxyUrl } from '../net/proxy-url.ts';
import { parseDuration, parseSize } from './units.ts';

export const MISSING_KEY = 'required key is missing';

const UPSTREAM_URL_MESSAGE = 'expected a ws://, wss://, http:// or https:// URL';

export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The name a listener goes by in the partly parsed config: its own, or "listener-<index>" as resolve.ts names it. */
export function listenerNameOf(l: Record<string, unknown>, index: number): string {
  return typeof l['name'] === 'string' ? l['name'] : `listener-${index}`;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

// Lets editors accept "${VAR}" where the JSON Schema would otherwise demand a number or a unit.
const ENV_REF = '.*\\$\\{[^}]*\\}.*';

/**
 * A value checked by a hand-written parser, so messages say what is wrong in the config's own terms;
 * `jsonSchema` describes the accepted input for editors.
 */
export function parsed<T>(parse: (input: unknown) => Parsed<T>, jsonSchema: Record<string, unknown>) {
  return z
    .unknown()
    .transform((input, ctx): T => {
      const r = input === undefined ? ({ ok: false, message: MISSING_KEY } as const) : parse(input);
      if (r.ok) return r.value;
      ctx.issues.push({ code: 'custom', message: r.message, input });
      return z.NEVER;
    })
    .meta(jsonSchema);
}

const durationJson = {
  anyOf: [
    { type: 'string', pattern: `^(?:\\d+(?:\\.\\d+)?(?:ms|s|m|h)|0|${ENV_REF})$` },
    { type: 'integer', const: 0 },
  ],
  examples: ['500ms', '10s', '5m'],
};

export const duration = () => parsed(parseDuration, durationJson);

export const positiveSize = () =>
  parsed(
    (input): Parsed<number> => {
      const r = parseSize(input);
      return r.ok && r.value === 0 ? { ok: false, message: 'must be at least 1 byte' } : r;
    },
    {
      anyOf: [
        { type: 'integer', minimum: 1 },
        { type: 'string', pattern: `^(?:\\d+(?:\\.\\d+)?(?:B|KB|MB|GB|KiB|MiB|GiB)|\\d+|${ENV_REF})$` },
      ],
      examples: ['16KiB', '1MiB'],
    },
  );

export const hostPort = () =>
  parsed<HostPort>(parseHostPort, {
    anyOf: [
      { type: 'string', examples: ['127.0.0.1:8080', '0.0.0.0:8080', '[::1]:8080'] },
      {
        type: 'object',
        properties: {
          host: { type: 'string', description: 'A host name or IP address (IPv6 without brackets).' },
          port: { type: 'integer', minimum: 0, maximum: 65535, description: 'The port; 0 picks a free port.' },
        },
        required: ['host', 'port'],
        additionalProperties: false,
      },
    ],
  });

// `${VAR}` substitution yields strings, so "true" and "false" count as booleans too.
export const flag = () =>
  parsed(
    (input): Parsed<boolean> => {
      if (typeof input === 'boolean') return { ok: true, value: input };
      if (input === 'true' || input === 'false') return { ok: true, value: input === 'true' };
      return { ok: false, message: `expected true or false; got ${JSON.stringify(input)}` };
    },
    { type: 'boolean' },
  );

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const NAME_MESSAGE = 'a name is letters, digits, ".", "_" and "-", starting with a letter or digit';

export const name = () => z.string().regex(NAME, { error: NAME_MESSAGE });

export const routeName = () =>
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, { error: `${NAME_MESSAGE} (and "/")` });

const PROXYABLE = new Set(['ws:', 'wss:', 'http:', 'https:']);

export function checkUpstreamUrl(text: string): string | undefined {
  const url = URL.parse(text);
  if (url === null || !PROXYABLE.has(url.protocol) || url.hostname === '')
    return unbracketedIpv6Message(text) ?? UPSTREAM_URL_MESSAGE;
  // RFC 6455 §3: a WebSocket URI has no fragment; for HTTP one would never reach the upstream anyway.
  if (url.hash !== '' || text.includes('#')) return 'an upstream URL must not have a #fragment';
  return undefined;
}

export const upstreamUrl = () =>
  z
    .string()
    .superRefine((text, ctx) => {
      const message = checkUpstreamUrl(text);
      if (message !== undefined) ctx.addIssue({ code: 'custom', message, input: text });
    })
    .meta({ examples: ['ws://127.0.0.1:9998', 'https://app.internal:8443'] });

export const filePath = () => z.string().min(1, { error: 'must not be empty' });

export const hostPattern = () =>
  parsed<string>(
    (input) => {
      if (typeof input !== 'string')
        return { ok: false, message: `expected a host pattern; got ${JSON.stringify(input)}` };
      const r = parseHostPattern(input);
      return r.ok ? { ok: true, value: input } : r;
    },
    { type: 'string', examples: ['example.com', '*.example.com', '.example.com', '10.0.0.0/8', '*'] },
  ).describe(
    'A host: "example.com" exactly, "*.example.com" any subdomain, ".example.com" both, an IP address or range ("10.0.0.0/8"), or "*".',
  );

/** An IP address or CIDR range, kept as written (net/cidr.ts compiles it where it is used). */
export const cidr = () =>
  parsed<string>(
    (input) => {
      if (typeof input !== 'string')
        return { ok: false, message: `expected an IP address or CIDR range; got ${JSON.stringify(input)}` };
      const r = parseCidrRange(input);
      return r.ok ? { ok: true, value: input } : r;
    },
    { type: 'string', examples: ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32'] },
  ).describe('An IP address ("192.0.2.7") or a CIDR range ("10.0.0.0/8", "2001:db8::/32").');

export const portRule = () =>
  parsed<PortRange>((input) => parsePortRule(input), {
    anyOf: [
      { type: 'integer', minimum: 1, maximum: 65535 },
      { type: 'string', pattern: '^\\d{1,5}(-\\d{1,5})?$' },
    ],
    examples: [443, '8000-8999'],
  }).describe('A port (443) or a range ("8000-8999").');

export const proxyRef = () =>
  z
    .string()
    .min(1, { error: 'must not be empty' })
    .describe('The name of an entry in proxies, or "direct". Default: HTTP_PROXY / HTTPS_PROXY / NO_PROXY.');

export const proxyUrl = () =>
  z
    .string()
    .superRefine((text, ctx) => {
      const r = parseProxyUrl(text);
      if (!r.ok) ctx.addIssue({ code: 'custom', message: r.message, input: text });
    })
    .describe(
      'The proxy: http://host:port or https://host:port, with user:password@ for Basic authentication (sent to this proxy only). Give url or pac, not both.',
    )
    .meta({ examples: ['http://proxy.corp.example:3128', `\${HTTPS_PROXY}`] });

export const pacSource = () =>
  z
    .string()
    .min(1, { error: 'must not be empty' })
    .superRefine((text, ctx) => {
      const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
      if (scheme !== undefined && scheme !== 'http' && scheme !== 'https' && scheme !== 'file') {
        ctx.addIssue({
          code: 'custom',
          message: `a PAC script is a file path or an http://, https:// or file:// URL, not ${scheme}://`,
          input: text,
        });
        return;
      }
      // An http(s):// PAC URL is fetched when wsgate starts; one with an unbracketed IPv6 host could never be.
      const ipv6 = scheme === undefined ? undefined : unbracketedIpv6Message(text);
      if (ipv6 !== undefined) ctx.addIssue({ code: 'custom', message: ipv6, input: text });
    })
    .describe(
      'Instead of url: a PAC script (a file path, or an http(s):// URL fetched directly) whose FindProxyForURL picks the proxy per destination. Its list is tried in order ("PROXY a:3128; PROXY b:3128; DIRECT"): the next entry when a proxy cannot be reached. Loaded at start and on reload; answers are cached for 30 s.',
    )
    .meta({ examples: ['/etc/wsgate/proxy.pac', 'http://wpad.corp.example/wpad.dat'] });

export const noProxyList = () =>
  z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((v) => parseNoProxy(v).value.source.slice())
    .superRefine((entries, ctx) => {
      const r = parseNoProxy(entries);
      if (!r.ok) {
        ctx.addIssue({
          code: 'custom',
          message: `invalid entries ${r.invalid.map((e) => JSON.stringify(e)).join(', ')}: expected host names, ".domain", "host:port", IP addresses, ranges (10.0.0.0/8) or "*"`,
        });
      }
    })
    .describe(
      'Destinations that skip this proxy, as in NO_PROXY: a comma-separated string or a list. Loopback always does unless "<-loopback>" is listed.',
    );

/** More worker processes than this is likelier a typo than a machine that size. */
const MAX_WORKERS = 1024;

/** `workers:` and `run --workers`: a count, or "auto" for one per core (resolved when wsgate starts, not here). */
export function parseWorkers(input: unknown): { ok: true; value: number | 'auto' } | { ok: false; message: string } {
  if (input === 'auto') return { ok: true, value: 'auto' };
  const n =
    typeof input === 'number' ? input : typeof input === 'string' && /^\d+$/.test(input) ? Number(input) : Number.NaN;
  if (Number.isInteger(n) && n >= 1 && n <= MAX_WORKERS) return { ok: true, value: n };
  return {
    ok: false,
    message: `expected a number of worker processes from 1 to ${MAX_WORKERS}, or "auto" (one per core); got ${JSON.stringify(input)}`,
  };
}

export const workers = () =>
  parsed(parseWorkers, {
    anyOf: [
      { type: 'integer', minimum: 1, maximum: MAX_WORKERS },
      { type: 'string', pattern: `^(?:auto|\\d+|${ENV_REF})$` },
    ],
    examples: [1, 'auto', 4],
  });
