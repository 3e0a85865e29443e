// The config schema: every key, its type, default and description (which also feed the generated JSON Schema),
// the checks that span keys (unique names, upstream references), and the resolved Config the rest of wsgate
// reads. Pure: values in, values out.
//
// The input side is what people write (durations as "10s", `match` as one object or a list, an upstream as a URL
// or a name); the output side is resolved (milliseconds, always a list, always { name, url }).

import { z } from 'zod';
import { type PortRange, parseHostPattern, parsePortRule } from '../forward/policy.ts';
import { isLoopbackHost } from '../upstream/ip.ts';
import { parseNoProxy } from '../upstream/no-proxy.ts';
import { parseProxyUrl } from '../upstream/proxy-config.ts';
import { type HostPort, parseHostPort } from './address.ts';
import { didYouMean } from './suggest.ts';
import { parseDuration, parseSize } from './units.ts';

export type { HostPort } from './address.ts';

export const MISSING_KEY = 'required key is missing';

export const UPSTREAM_URL_MESSAGE = 'expected a ws://, wss://, http:// or https:// URL';

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

// Lets editors accept "${VAR}" where the JSON Schema would otherwise demand a number or a unit.
const ENV_REF = '.*\\$\\{[^}]*\\}.*';

/**
 * A value checked by a hand-written parser, so messages say what is wrong in the config's own terms;
 * `jsonSchema` describes the accepted input for editors.
 */
function parsed<T>(parse: (input: unknown) => Parsed<T>, jsonSchema: Record<string, unknown>) {
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

const duration = () => parsed(parseDuration, durationJson);

const positiveSize = () =>
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

const hostPort = () =>
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
const flag = () =>
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

const name = () => z.string().regex(NAME, { error: NAME_MESSAGE });

const routeName = () => z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, { error: `${NAME_MESSAGE} (and "/")` });

const PROXYABLE = new Set(['ws:', 'wss:', 'http:', 'https:']);

function checkUpstreamUrl(text: string): string | undefined {
  const url = URL.parse(text);
  if (url === null || !PROXYABLE.has(url.protocol) || url.hostname === '') return UPSTREAM_URL_MESSAGE;
  // RFC 6455 §3: a WebSocket URI has no fragment; for HTTP one would never reach the upstream anyway.
  if (url.hash !== '' || text.includes('#')) return 'an upstream URL must not have a #fragment';
  return undefined;
}

const upstreamUrl = () =>
  z
    .string()
    .superRefine((text, ctx) => {
      const message = checkUpstreamUrl(text);
      if (message !== undefined) ctx.addIssue({ code: 'custom', message, input: text });
    })
    .meta({ examples: ['ws://127.0.0.1:9998', 'https://app.internal:8443'] });

// Host header matching: exact names or a leading "*." label; DNS names are case-insensitive (RFC 4343).
const MATCH_HOST = /^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;

const matchHost = z
  .string()
  .superRefine((host, ctx) => {
    const lower = host.toLowerCase();
    if (MATCH_HOST.test(lower) || /^\[[0-9a-f:.]+\]$/.test(lower)) return;
    const message = /:\d+$/.test(host)
      ? `invalid host ${JSON.stringify(host)}: match the host name without a port`
      : `invalid host ${JSON.stringify(host)}: expected a host name such as "app.example.com" or "*.example.com"`;
    ctx.addIssue({ code: 'custom', message, input: host });
  })
  .transform((host) => host.toLowerCase());

const matchPath = (what: string) =>
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
export function regexOf(value: string): { source: string; flags: string } | undefined {
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
      if (isRecord(m) && m['path'] !== undefined && m['pathPrefix'] !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['pathPrefix'],
          params: { atKey: true },
          message: 'use either path or pathPrefix, not both',
        });
      }
    },
    { when: () => true },
  )
  .describe('Conditions that must all hold (AND). An empty mapping matches every request.');

const TAP_LEVELS = ['off', 'meta', 'frames', 'payload'] as const;

const tapLevel = () =>
  z
    .enum(TAP_LEVELS)
    .describe(
      'How much of each WebSocket connection the traffic log shows: "off" (open and close lines only), "meta" (close codes, ping RTT, counts), "frames" (every frame and message), "payload" (plus payload previews, permessage-deflate decoded).',
    );

const route = z.strictObject({
  name: routeName()
    .optional()
    .describe('Names the route in logs and `wsgate check --explain`. Default: "<listener name>/route-<index>".'),
  match: z
    .union([
      routeMatch,
      z
        .array(routeMatch)
        .min(1, { error: 'list at least one match, or leave out match to match every request' })
        .describe('Alternatives: the route matches when any one of them does (OR).'),
    ])
    .optional()
    .transform((m) => (m === undefined ? [{}] : Array.isArray(m) ? m : [m]))
    .describe(
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
  if (url !== null && url.origin !== 'null') return { ok: true, value: url.origin };
  return { ok: true, value: input.toLowerCase() };
}

const filePath = () => z.string().min(1, { error: 'must not be empty' });

const serverName = matchHost.describe('A server name, exact or "*.example.com" for any one-label subdomain.');

const serverCert = z.strictObject({
  cert: filePath().describe(
    'PEM certificate file: the certificate, then any intermediate certificates. Relative to the working directory.',
  ),
  key: filePath().describe('PEM private key file of that certificate (not encrypted).'),
  serverNames: z
    .array(serverName)
    .min(1, { error: 'list at least one name, or leave out serverNames to use the names in the certificate' })
    .optional()
    .describe('SNI names this certificate is served for. Default: the DNS names in the certificate.'),
});

const listenerTls = z
  .strictObject({
    cert: filePath()
      .optional()
      .describe(
        'PEM certificate file: the certificate, then any intermediate certificates. Relative to the working directory.',
      ),
    key: filePath().optional().describe('PEM private key file of that certificate (not encrypted).'),
    certs: z
      .array(serverCert.describe('One certificate and its key.'))
      .min(1, { error: 'list at least one certificate' })
      .optional()
      .describe(
        'Several certificates, chosen by the server name (SNI) the client asks for; the first is served when none matches.',
      ),
  })
  .superRefine(
    (t, ctx) => {
      if (!isRecord(t)) return;
      const issue = (key: string, message: string) =>
        ctx.addIssue({ code: 'custom', path: [key], params: { atKey: true }, message });
      if (t.certs !== undefined) {
        if (t.cert !== undefined) issue('cert', 'use either cert and key, or certs, not both');
        if (t.key !== undefined) issue('key', 'use either cert and key, or certs, not both');
      } else if (t.cert === undefined && t.key === undefined) {
        ctx.addIssue({ code: 'custom', path: [], message: 'a TLS listener needs cert and key (or certs)' });
      } else if (t.cert === undefined) issue('key', 'key needs its cert next to it');
      else if (t.key === undefined) issue('cert', 'cert needs its key next to it');
    },
    { when: () => true },
  )
  .transform((t) => ({
    certs: (t.certs ?? [{ cert: t.cert ?? '', key: t.key ?? '' }]).map((c) => ({
      cert: c.cert,
      key: c.key,
      serverNames: 'serverNames' in c ? c.serverNames : undefined,
    })),
  }))
  .describe(
    'Serve HTTPS and WSS on this listener (TLS 1.2 or newer, ALPN http/1.1): cert and key, or certs chosen by SNI.',
  );

const upstreamTls = z
  .strictObject({
    ca: filePath()
      .optional()
      .describe(
        "A PEM file of CA certificates trusted for this upstream, in addition to Node's roots and the system's.",
      ),
    servername: z
      .string()
      .min(1, { error: 'must not be empty' })
      .optional()
      .describe("The name sent as SNI and checked against the upstream's certificate. Default: the URL's host."),
    insecure: flag()
      .prefault(false)
      .describe(
        "Do not verify the upstream's certificate. Logged as a warning at start and on every connection; for testing only.",
      ),
  })
  .describe('How wsgate verifies this wss:// or https:// upstream.');

// Forward proxy listeners (forward/listener.ts) and upstream proxies (upstream/network.ts).

const hostPattern = () =>
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

const portRule = () =>
  parsed<PortRange>((input) => parsePortRule(input), {
    anyOf: [
      { type: 'integer', minimum: 1, maximum: 65535 },
      { type: 'string', pattern: '^\\d{1,5}(-\\d{1,5})?$' },
    ],
    examples: [443, '8000-8999'],
  }).describe('A port (443) or a range ("8000-8999").');

const proxyRef = () =>
  z
    .string()
    .min(1, { error: 'must not be empty' })
    .describe('The name of an entry in proxies, or "direct". Default: HTTP_PROXY / HTTPS_PROXY / NO_PROXY.');

const forwardUser = z.strictObject({
  name: z
    .string()
    .min(1, { error: 'must not be empty' })
    .regex(/^[^:\s]+$/, { error: 'a user name has no ":" or whitespace (Basic credentials split at the first ":")' })
    .describe('The user name clients send.'),
  password: z
    .string()
    .min(1, { error: 'must not be empty' })
    .describe(`The password; write "\${VAR}" to take it from the environment rather than the file.`),
});

const forwardAuth = z.strictObject({
  realm: z
    .string()
    .regex(/^[^"\\\x00-\x1f]+$/, { error: 'a realm has no quotes, backslashes or control characters' })
    .default('wsgate')
    .describe('The realm named in the Proxy-Authenticate challenge (browsers show it in the login prompt).'),
  users: z
    .array(forwardUser.describe('One user.'))
    .min(1, { error: 'list at least one user' })
    .describe('Who may use the proxy (Basic proxy authentication; clients without valid credentials get 407).'),
});

const forwardBlock = z.strictObject({
  allowHosts: z
    .array(hostPattern())
    .min(1, { error: 'list at least one host, or leave out allowHosts to allow any host' })
    .optional()
    .describe('Only these hosts may be reached. Default: any host (denyHosts and destinations still apply).'),
  denyHosts: z
    .array(hostPattern())
    .default([])
    .describe('These hosts (and, for addresses and ranges, names resolving into them) are refused with 403.'),
  allowPorts: z
    .array(portRule())
    .min(1, { error: 'list at least one port, or leave out allowPorts for the default' })
    .optional()
    .describe(
      'Ports clients may reach. Default on a loopback address: every port except the ones browsers block (22, 25, …); on any other address: 80 and 443.',
    ),
  destinations: z
    .enum(['any', 'public'])
    .optional()
    .describe(
      '"public" refuses loopback, private, link-local, CGNAT, unique-local and metadata addresses (checked after DNS, before dialing). Default: "any" on a loopback address, "public" otherwise.',
    ),
  auth: forwardAuth.optional().describe('Require Basic proxy authentication (Proxy-Authorization).'),
  via: proxyRef().optional(),
  intercept: z
    .array(hostPattern())
    .default([])
    .describe(
      "Decrypt CONNECT tunnels to these hosts (as the client names them in CONNECT) with leaf certificates from wsgate's CA (tls.caDir, created on first use), so their HTTP and WebSocket traffic is proxied and logged like a reverse listener's; other TLS tunnels pass blindly. Clients must trust the CA: `wsgate ca trust-help`.",
    ),
  upstreamCa: filePath()
    .optional()
    .describe(
      "A PEM file of CA certificates trusted, in addition to Node's roots and the system's, for the TLS connections this listener opens to destinations (intercepted tunnels, https:// and wss:// requests).",
    ),
});

const listener = z.strictObject({
  name: name().optional().describe('Names the listener in logs. Default: "listener-<index>".'),
  bind: hostPort().describe('The address to listen on, "host:port". Port 0 picks a free port.'),
  routes: z
    .array(route.describe('One route; the first whose match holds takes the request.'))
    .min(1, { error: 'list at least one route' })
    .optional()
    .describe('Routes tried top to bottom; the first match wins. A listener has routes (reverse proxy) or forward.'),
  forward: forwardBlock
    .optional()
    .describe(
      'Make this listener a forward proxy (HTTP_PROXY, CONNECT tunnels) instead of a reverse proxy with routes.',
    ),
  tap: tapLevel().optional().describe("The tap level for this listener's routes; overrides tap.level."),
  tls: listenerTls.optional(),
});

const upstream = z.strictObject({
  name: name().describe('The name routes use to refer to this upstream.'),
  url: upstreamUrl().describe('The upstream server: ws://, wss://, http:// or https:// URL.'),
  tls: upstreamTls.optional(),
  via: proxyRef().optional(),
});

const proxyUrl = () =>
  z
    .string()
    .superRefine((text, ctx) => {
      const r = parseProxyUrl(text);
      if (!r.ok) ctx.addIssue({ code: 'custom', message: r.message, input: text });
    })
    .describe(
      'The proxy: http://host:port or https://host:port, with user:password@ for Basic authentication (sent to this proxy only).',
    )
    .meta({ examples: ['http://proxy.corp.example:3128', `\${HTTPS_PROXY}`] });

const noProxyList = () =>
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

const proxy = z.strictObject({
  name: name().describe('The name upstreams and forward listeners use in via:.'),
  url: proxyUrl(),
  noProxy: noProxyList(),
});

const tlsSettings = z.strictObject({
  caDir: filePath()
    .default('~/.wsgate/ca')
    .describe(
      "The directory of wsgate's own CA (ca.pem, ca-key.pem, leaf-key.pem), as `wsgate ca init` creates it; ~ is the home directory.",
    ),
  keyLog: filePath()
    .optional()
    .describe(
      'Append the TLS secrets of every connection (client and upstream side) to this file in NSS key-log format, for Wireshark. Default: the SSLKEYLOGFILE environment variable.',
    ),
});

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const log = z.strictObject({
  level: z.enum(LOG_LEVELS).default('info').describe('The lowest level written; "silent" turns logging off.'),
  format: z
    .enum(['auto', 'json', 'pretty'])
    .default('auto')
    .describe('"pretty" for people, "json" for machines; "auto" picks pretty on a terminal and JSON otherwise.'),
  file: z
    .string()
    .min(1, { error: 'must not be empty' })
    .optional()
    .describe('Write logs to this file (relative to the working directory) instead of stdout.'),
  showSecrets: flag()
    .prefault(false)
    .describe('Log Authorization, Cookie, Set-Cookie and Proxy-Authorization values instead of redacting them.'),
  traffic: z
    .string()
    .min(1, { error: 'must not be empty' })
    .optional()
    .describe(
      'Write the traffic log (one JSON line per WebSocket event: open, frame, message, close, end) to this file. Default: the main log.',
    ),
});

const tap = z.strictObject({
  level: tapLevel().default('meta').describe('The default tap level for every route.'),
  previewBytes: positiveSize()
    .prefault('1KiB')
    .describe('How much of each message payload a "payload" tap shows (text as UTF-8, binary as hex).'),
  maxDecodedBytes: positiveSize()
    .prefault('4MiB')
    .describe(
      'The most a permessage-deflate message is inflated for display; a larger one (a compression bomb) is flagged and its preview cut. The connection itself is never affected.',
    ),
  redactJsonKeys: z
    .array(z.string().min(1))
    .default([])
    .describe('In payload previews, replace the values of these JSON keys (at any depth) with "[redacted]".'),
  redactPatterns: z
    .array(
      z
        .string()
        .min(1)
        .superRefine((source, ctx) => {
          try {
            new RegExp(source, 'g');
          } catch (err) {
            ctx.addIssue({
              code: 'custom',
              message: `invalid regular expression: ${(err as Error).message}`,
              input: source,
            });
          }
        }),
    )
    .default([])
    .describe('In payload previews, replace text matching these regular expressions with "[redacted]".'),
});

const limits = z.strictObject({
  maxHeaderBytes: positiveSize().prefault('16KiB').describe('The largest request or response head accepted.'),
  headersTimeout: duration()
    .prefault('10s')
    .describe('How long a client may take to send its request head; 0 turns the limit off.'),
  connectTimeout: duration()
    .prefault('10s')
    .describe('How long to wait for a TCP (and TLS) connection to an upstream.'),
  handshakeTimeout: duration()
    .prefault('10s')
    .describe("How long to wait for an upstream's answer to a WebSocket upgrade."),
  responseTimeout: duration()
    .prefault('60s')
    .describe("How long to wait for an upstream's response head to a plain HTTP request."),
  idleTimeout: duration()
    .prefault(0)
    .describe('Close a WebSocket when neither side has sent anything for this long; 0 turns it off.'),
  maxBufferedBytes: positiveSize()
    .prefault('64KiB')
    .describe('Bytes buffered per connection and direction before reading from the faster side pauses.'),
  tunnelIdleTimeout: duration()
    .prefault('1h')
    .describe('Close a CONNECT tunnel when neither side has sent anything for this long; 0 turns it off.'),
  maxRequestLineBytes: positiveSize()
    .prefault('8KiB')
    .describe('The longest request line (method, target, version) accepted; longer gets 414.'),
  maxHeaderCount: z
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(100)
    .describe('The most header fields a request may carry; more gets 431.'),
  maxConnections: z
    .number()
    .int()
    .min(1)
    .default(10_000)
    .describe('Connections one listener accepts at once; further ones are closed at once and logged.'),
  maxConnectionsPerClient: z
    .number()
    .int()
    .min(1)
    .default(256)
    .describe(
      'Connections one client address may hold on a listener at once; more get 503. Loopback clients are exempt: on a developer machine every tool connects from 127.0.0.1.',
    ),
});

const shutdown = z.strictObject({
  grace: duration()
    .prefault('10s')
    .describe('On SIGTERM/SIGINT, how long open connections may finish before they are closed.'),
});

/** More worker processes than this is likelier a typo than a machine that size. */
export const MAX_WORKERS = 1024;

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

const workers = () =>
  parsed(parseWorkers, {
    anyOf: [
      { type: 'integer', minimum: 1, maximum: MAX_WORKERS },
      { type: 'string', pattern: `^(?:auto|\\d+|${ENV_REF})$` },
    ],
    examples: [1, 'auto', 4],
  });

const echo = z.strictObject({
  bind: hostPort().describe('The address of the built-in echo server (WebSocket and HTTP), "host:port".'),
});

function listOf(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function looksLikeAddress(text: string): boolean {
  return /^[\w.-]+:\d+(\/.*)?$/.test(text) || text.startsWith('localhost');
}

/**
 * Checks across keys: unique names and upstream references. It also runs when other keys are invalid (so all
 * issues are reported at once), so it reads the partly parsed value defensively.
 */
function crossCheck(value: unknown, ctx: z.RefinementCtx): void {
  if (!isRecord(value)) return;
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });

  const upstreams = new Map<string, number>();
  listOf(value['upstreams']).forEach((u, i) => {
    if (isRecord(u) && u['tls'] !== undefined && typeof u['url'] === 'string' && /^(ws|http):/i.test(u['url'])) {
      issue(['upstreams', i, 'tls'], 'tls applies to wss:// and https:// upstreams only');
    }
    if (!isRecord(u) || typeof u['name'] !== 'string') return;
    const first = upstreams.get(u['name']);
    if (first === undefined) upstreams.set(u['name'], i);
    else
      issue(
        ['upstreams', i, 'name'],
        `duplicate upstream name ${JSON.stringify(u['name'])} (also upstreams[${first}])`,
      );
  });

  const proxies = new Map<string, number>();
  listOf(value['proxies']).forEach((p, i) => {
    if (!isRecord(p) || typeof p['name'] !== 'string') return;
    const first = proxies.get(p['name']);
    if (p['name'] === 'direct') issue(['proxies', i, 'name'], '"direct" is reserved: via: direct means no proxy');
    else if (first === undefined) proxies.set(p['name'], i);
    else issue(['proxies', i, 'name'], `duplicate proxy name ${JSON.stringify(p['name'])} (also proxies[${first}])`);
  });
  const checkVia = (ref: unknown, path: (string | number)[]) => {
    if (typeof ref !== 'string' || ref === '' || ref === 'direct' || proxies.has(ref)) return;
    const known = [...proxies.keys()];
    const hint =
      didYouMean(ref, [...known, 'direct']) ||
      (known.length === 0 ? '; no proxies are defined' : `; defined proxies: ${known.join(', ')}`);
    issue(path, `unknown proxy ${JSON.stringify(ref)}${hint}`);
  };
  listOf(value['upstreams']).forEach((u, i) => {
    if (isRecord(u)) checkVia(u['via'], ['upstreams', i, 'via']);
  });

  const listenerNames = new Map<string, number>();
  const routeNames = new Map<string, string>();
  listOf(value['listeners']).forEach((l, i) => {
    if (!isRecord(l)) return;
    const listenerName = typeof l['name'] === 'string' ? l['name'] : `listener-${i}`;
    const first = listenerNames.get(listenerName);
    if (first === undefined) listenerNames.set(listenerName, i);
    else
      issue(
        ['listeners', i, 'name'],
        `duplicate listener name ${JSON.stringify(listenerName)} (also listeners[${first}])`,
      );
    checkForwardListener(l, i, issue, checkVia);

    listOf(l['routes']).forEach((r, j) => {
      if (!isRecord(r)) return;
      const here = `listeners[${i}].routes[${j}]`;
      const routeName = typeof r['name'] === 'string' ? r['name'] : `${listenerName}/route-${j}`;
      const firstRoute = routeNames.get(routeName);
      if (firstRoute === undefined) routeNames.set(routeName, here);
      else
        issue(
          ['listeners', i, 'routes', j, 'name'],
          `duplicate route name ${JSON.stringify(routeName)} (also ${firstRoute})`,
        );

      const ref = r['upstream'];
      if (typeof ref !== 'string' || ref === '' || ref.includes('://') || upstreams.has(ref)) return;
      const known = [...upstreams.keys()];
      let hint = didYouMean(ref, known);
      if (hint === '' && looksLikeAddress(ref)) hint = `; an inline upstream is a URL such as "ws://${ref}"`;
      else if (hint === '' && known.length === 0) hint = '; no upstreams are defined';
      else if (hint === '') hint = `; defined upstreams: ${known.join(', ')}`;
      issue(['listeners', i, 'routes', j, 'upstream'], `unknown upstream ${JSON.stringify(ref)}${hint}`);
    });
  });
}

/** A listener is a reverse proxy (routes) or a forward proxy (forward), and an exposed forward proxy is never open. */
function checkForwardListener(
  l: Record<string, unknown>,
  i: number,
  issue: (path: (string | number)[], message: string) => void,
  checkVia: (ref: unknown, path: (string | number)[]) => void,
): void {
  const forward = l['forward'];
  if (l['routes'] !== undefined && forward !== undefined) {
    issue(
      ['listeners', i, 'forward'],
      'a listener has either routes (reverse proxy) or forward (forward proxy), not both',
    );
    return;
  }
  if (l['routes'] === undefined && forward === undefined) {
    issue(
      ['listeners', i, 'routes'],
      `${MISSING_KEY}: a listener needs routes (reverse proxy) or forward (forward proxy)`,
    );
    return;
  }
  if (!isRecord(forward)) return;
  if (l['tls'] !== undefined)
    issue(['listeners', i, 'tls'], 'a forward listener does not serve TLS (yet): leave out tls');
  checkVia(forward['via'], ['listeners', i, 'forward', 'via']);
  const bind = l['bind'];
  const host = isRecord(bind) && typeof bind['host'] === 'string' ? bind['host'] : undefined;
  if (
    host !== undefined &&
    !isLoopbackHost(host) &&
    forward['auth'] === undefined &&
    forward['allowHosts'] === undefined
  ) {
    issue(
      ['listeners', i, 'forward'],
      `this forward listener binds ${host}, beyond loopback, with neither auth nor allowHosts: anyone who can reach it could use it as an open proxy. Add forward.auth (users), or forward.allowHosts, or bind 127.0.0.1`,
    );
  }
}

const configObject = z
  .strictObject({
    listeners: z
      .array(listener.describe('A listener: an address and the routes for requests arriving there.'))
      .min(1, { error: 'list at least one listener' })
      .describe('Where wsgate accepts connections, each with its own routes.'),
    upstreams: z
      .array(upstream.describe('A named upstream server.'))
      .default([])
      .describe('Named upstream servers that routes refer to by name.'),
    proxies: z
      .array(proxy.describe('An upstream (corporate) proxy wsgate itself goes through.'))
      .default([])
      .describe(
        'Upstream proxies, chosen with via: on upstreams and forward listeners. Without via:, HTTP_PROXY, HTTPS_PROXY and NO_PROXY apply.',
      ),
    echo: echo
      .optional()
      .describe('The built-in echo server (WebSocket and HTTP), for trying wsgate out. Off when left out.'),
    log: log.prefault({}).describe('Logging.'),
    limits: limits.prefault({}).describe('Sizes and timeouts that bound each connection.'),
    shutdown: shutdown.prefault({}).describe('Graceful shutdown.'),
    workers: workers()
      .prefault(1)
      .describe(
        'Worker processes sharing the listeners: a number, or "auto" for one per core. With more than one, a primary process hands connections to the workers in turn, restarts a worker that crashes, and on SIGHUP replaces them one at a time. `wsgate run --workers` overrides it.',
      ),
    tap: tap.prefault({}).describe('The frame tap: what the traffic log shows of each WebSocket connection.'),
    tls: tlsSettings.prefault({}).describe("wsgate's own CA and the TLS key log."),
  })
  .meta({
    title: 'wsgate configuration',
    description: 'Configuration of wsgate, a WebSocket-aware HTTP proxy.',
  });

/** Defaults that depend on the bind address: a listener reachable from other machines is locked down. */
function resolveForward(
  f: z.output<typeof forwardBlock>,
  bindHost: string,
  tap: z.output<ReturnType<typeof tapLevel>>,
) {
  const loopback = isLoopbackHost(bindHost);
  return {
    allowHosts: f.allowHosts,
    denyHosts: f.denyHosts,
    allowPorts:
      f.allowPorts ??
      (loopback
        ? undefined
        : [
            { from: 80, to: 80 },
            { from: 443, to: 443 },
          ]),
    destinations: f.destinations ?? (loopback ? 'any' : 'public'),
    auth: f.auth === undefined ? undefined : { realm: f.auth.realm, users: f.auth.users.map((u) => ({ ...u })) },
    via: f.via,
    tap,
    intercept: f.intercept,
    upstreamCa: f.upstreamCa,
  };
}

/** The whole config: parsing it yields the resolved, ready-to-use Config. */
export const configSchema = configObject.superRefine(crossCheck, { when: () => true }).transform((cfg) => {
  const upstreams = cfg.upstreams.map((u) => ({ name: u.name, url: u.url, tls: u.tls, via: u.via }));
  const byName = new Map(upstreams.map((u) => [u.name, u]));
  const resolve = (ref: string): { name: string; url: string } => {
    if (ref.includes('://')) return { name: new URL(ref).origin, url: ref };
    const u = byName.get(ref);
    if (u === undefined)
      throw new Error(`unreachable: crossCheck lets unknown upstream ${JSON.stringify(ref)} through`);
    return { name: u.name, url: u.url };
  };
  const listeners = cfg.listeners.map((l, i) => {
    const listenerName = l.name ?? `listener-${i}`;
    return {
      name: listenerName,
      bind: l.bind,
      tls: l.tls,
      forward: l.forward === undefined ? undefined : resolveForward(l.forward, l.bind.host, l.tap ?? cfg.tap.level),
      routes: (l.routes ?? []).map((r, j) => ({
        name: r.name ?? `${listenerName}/route-${j}`,
        match: r.match,
        upstream: resolve(r.upstream),
        changeOrigin: r.changeOrigin,
        allowOrigins: r.allowOrigins,
        tap: r.tap ?? l.tap ?? cfg.tap.level,
      })),
    };
  });
  return {
    listeners,
    upstreams,
    proxies: cfg.proxies.map((p) => ({ name: p.name, url: p.url, noProxy: p.noProxy })),
    echo: cfg.echo === undefined ? undefined : { bind: cfg.echo.bind },
    log: {
      level: cfg.log.level,
      format: cfg.log.format,
      file: cfg.log.file,
      showSecrets: cfg.log.showSecrets,
      traffic: cfg.log.traffic,
    },
    tap: {
      level: cfg.tap.level,
      previewBytes: cfg.tap.previewBytes,
      maxDecodedBytes: cfg.tap.maxDecodedBytes,
      redactJsonKeys: cfg.tap.redactJsonKeys,
      redactPatterns: cfg.tap.redactPatterns,
    },
    limits: { ...cfg.limits },
    shutdown: { grace: cfg.shutdown.grace },
    workers: cfg.workers,
    tls: { caDir: cfg.tls.caDir, keyLog: cfg.tls.keyLog },
  };
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type Listener = Config['listeners'][number];
export type Route = Listener['routes'][number];
export type RouteMatch = Route['match'][number];
export type Upstream = Config['upstreams'][number];
export type LogConfig = Config['log'];
export type LimitsConfig = Config['limits'];
export type LogLevel = LogConfig['level'];
export type TapConfig = Config['tap'];
export type TapLevel = TapConfig['level'];
export type ListenerTlsConfig = NonNullable<Listener['tls']>;
export type UpstreamTlsConfig = NonNullable<Upstream['tls']>;
export type TlsConfig = Config['tls'];
export type ForwardConfig = NonNullable<Listener['forward']>;
export type ProxyConfig = Config['proxies'][number];
