// The shape of the config file: every top-level key, its type, default and description (which also feed the
// generated JSON Schema), down to listeners (shape-listener.ts) and routes (shape-route.ts). The input side is what
// people write (durations as "10s", an upstream as a URL or a name). Pure.

import { z } from 'zod';
import { DEFAULT_REDACTED_QUERY_PARAMS, DEFAULT_TOKEN_SUBPROTOCOL_PREFIXES } from '../net/url-credentials.ts';
import {
  duration,
  filePath,
  flag,
  hostPort,
  name,
  noProxyList,
  pacSource,
  positiveSize,
  proxyRef,
  proxyUrl,
  upstreamUrl,
  workers,
} from './fields.ts';
import { limits } from './shape-limits.ts';
import { listener } from './shape-listener.ts';
import { tapLevel } from './shape-route.ts';
import { rule } from './shape-rules.ts';
import { serverEntry } from './shape-servers.ts';

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

/** healthCheck.fails and .passes: how many results in a row change a server's state. */
const checksInARow = () =>
  z.int().min(1, { error: 'must be 1 or more' }).max(100, { error: 'must be 100 or less' }).default(1);

const upstream = z.strictObject({
  name: name().describe('The name routes use to refer to this upstream.'),
  url: upstreamUrl()
    .optional()
    .describe('The upstream server: ws://, wss://, http:// or https:// URL. Give url or servers.'),
  servers: z
    .array(serverEntry())
    .min(1, { error: 'must name at least one server' })
    .optional()
    .describe(
      'Several servers that serve the same thing, as URLs that differ only in host and port. Each new WebSocket (and HTTP request) goes to one of them (balance); a server that refuses or does not answer a connection is skipped for failTimeout, and the upgrade or request is tried on the next server. An entry is a URL, or { url, weight, backup }: weight gives a server a larger share (as nginx weight=), a backup server takes connections only while every other is skipped. Give url or servers.',
    ),
  balance: z
    .enum(['least-connections', 'round-robin', 'ip-hash'])
    .default('least-connections')
    .describe(
      "How servers are picked: the one with the fewest open connections from wsgate (WebSockets are long-lived, so this spreads them evenly), each in turn, or by the client's address (ip-hash: a client keeps its server, as Socket.IO and SockJS fallbacks need; behind trusted proxies, the address X-Forwarded-For names).",
    ),
  failTimeout: duration()
    .prefault('10s')
    .describe('How long a server is skipped after a connection to it failed (as nginx fail_timeout).'),
  healthCheck: z
    .strictObject({
      interval: duration()
        .refine((ms) => ms >= 100, { error: 'must be 100ms or longer' })
        .prefault('10s')
        .describe('How often each server is checked.'),
      timeout: duration()
        .refine((ms) => ms > 0, { error: 'must be longer than 0' })
        .prefault('2s')
        .describe('How long a check may take before it counts as failed.'),
      path: z
        .string()
        .regex(/^\/[^\s]*$/, { error: 'must be a path starting with /' })
        .optional()
        .describe(
          'GET this path (over http or https, as the server URL says) and expect 2xx or 3xx; without it, a TCP (and TLS) connection is the check.',
        ),
      fails: checksInARow().describe(
        'Failed checks in a row that take a server out (as HAProxy fall, Envoy unhealthy_threshold).',
      ),
      passes: checksInARow().describe(
        'Passed checks in a row that bring a server that was out back (as HAProxy rise).',
      ),
    })
    .optional()
    .describe(
      'Active checks of each server of an upstream with servers: `fails` failed checks in a row take the server out, before any client meets it, until `passes` checks in a row succeed.',
    ),
  tls: upstreamTls.optional(),
  via: proxyRef().optional(),
  preconnect: duration()
    .refine((ms) => ms <= 30_000, {
      error: 'must be 30s or less (servers close a connection that sends nothing; 0 turns spares off)',
    })
    .prefault('2s')
    .describe(
      "While WebSocket handshakes to a server of this upstream come less than this apart, wsgate keeps one connection to that server open ahead of time (TCP, and TLS for wss://), so the next handshake does not wait for a connect: a round trip saved, a TLS handshake for wss://. A spare nobody takes is closed after this long; one the server closes or speaks on first is dropped, and a handshake on a spare the server closed meanwhile is sent again on a new connection. Not with via: (each connection is a tunnel of its own) or proxyProtocol (each connection is the client's). 0 turns it off (as Envoy's preconnect_policy, which is off by default; browsers preconnect too).",
    ),
  proxyProtocol: z
    .enum(['v1', 'v2'])
    .optional()
    .describe(
      "Start every connection to this upstream's servers with a PROXY protocol header (v1 text or v2 binary, as HAProxy send-proxy / send-proxy-v2) naming the client's address and port and the address it connected to, for servers that read the client from it (another wsgate's or HAProxy's accept-proxy, nginx listen … proxy_protocol). Plain requests keep their connections alive per client connection only. Health checks send a header naming no client (v1 UNKNOWN, v2 LOCAL). Off by default: a server that does not expect the header reads it as garbage.",
    ),
});

const proxy = z.strictObject({
  name: name().describe('The name upstreams and forward listeners use in via:.'),
  url: proxyUrl().optional(),
  pac: pacSource().optional(),
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
    .describe(
      'Log secrets instead of redacting them: Authorization, Cookie, Set-Cookie and Proxy-Authorization values, passwords in URLs, the query parameters of log.redactQueryParams and token subprotocols. Also shows them in `wsgate check` output, the admin API and HAR exports.',
    ),
  traffic: z
    .string()
    .min(1, { error: 'must not be empty' })
    .optional()
    .describe(
      'Write the traffic log (one JSON line per WebSocket event: open, frame, message, close, end) to this file. Default: the main log.',
    ),
  maxQueueBytes: positiveSize()
    .prefault('16MiB')
    .describe(
      'How far a log destination (stdout, log.file, log.traffic) may fall behind, in bytes not yet written, before traffic lines (ws.frame, ws.message, ws.violation) are dropped; access, error, lifecycle and WebSocket open/close lines are kept up to four times this much. Dropped lines are counted in a log.dropped warning when the destination catches up, and every 10 s while it does not.',
    ),
  redactQueryParams: z
    .array(z.string().min(1))
    .default([...DEFAULT_REDACTED_QUERY_PARAMS])
    .describe(
      'Query parameters whose values are logged as "[redacted]" in every URL and path (case-insensitive), e.g. /ws?token=[redacted]. [] logs them all.',
    ),
  redactSubprotocols: flag()
    .prefault(true)
    .describe(
      'Log Sec-WebSocket-Protocol values that carry a credential as "[redacted]": token-shaped values (a dot-separated part of 20 or more token characters mixing letters and digits, e.g. a JWT) and those starting with one of log.tokenSubprotocolPrefixes. Browsers can only pass a bearer token to a WebSocket this way.',
    ),
  tokenSubprotocolPrefixes: z
    .array(z.string().min(1))
    .default([...DEFAULT_TOKEN_SUBPROTOCOL_PREFIXES])
    .describe(
      'Subprotocols that start with one of these carry a credential after it; it is logged as the prefix and "[redacted]" (with log.redactSubprotocols).',
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
  onViolation: z
    .enum(['log', 'close'])
    .default('log')
    .describe(
      'What wsgate does when a WebSocket peer breaks RFC 6455 or a limits.* WebSocket limit: "log" reports a ws.violation line and passes the bytes on (the peers decide); "close" stops the frame before it is forwarded and closes the connection with the close code RFC 6455 gives (1002 protocol error, 1007 invalid UTF-8, 1008 policy, 1009 too big) to both sides. Limits apply at every tap level.',
    ),
});

const shutdown = z.strictObject({
  grace: duration()
    .prefault('10s')
    .describe('On SIGTERM/SIGINT, how long open connections may finish before they are closed.'),
});

const inspectorStore = z.strictObject({
  maxBytes: positiveSize()
    .prefault('64MiB')
    .describe(
      'Memory for the history the admin API serves (connections, messages and their previews); past it the oldest closed connections are evicted first, then the oldest messages. Evictions are counted and marked in API answers.',
    ),
  maxMessagesPerConnection: z
    .number()
    .int()
    .min(1)
    .default(10_000)
    .describe(
      'The most messages kept in memory per connection; older ones are evicted (still on disk with tap payload).',
    ),
  disk: flag()
    .prefault(true)
    .describe(
      'With tap "payload", also write messages to a session file (SQLite) so history evicted from memory stays readable through the API.',
    ),
  maxMessageBytes: positiveSize()
    .prefault('1MiB')
    .describe(
      'With tap "payload", the most bytes of each message kept whole (decoded when compressed) for the API, the session file and HAR; longer ones are cut and marked truncated. Previews in the traffic log keep tap.previewBytes.',
    ),
  file: filePath()
    .optional()
    .describe('The session file. Default: a temporary file that is removed when wsgate stops.'),
  maxFileBytes: positiveSize()
    .prefault('1GiB')
    .describe('The most message payload the session file keeps; past it the oldest messages are deleted (rotation).'),
});

const inspector = z.strictObject({
  bind: hostPort().describe('The address of the admin API (and inspector), "host:port".'),
  token: z.string().min(1, { error: 'must not be empty' }).optional().describe(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the config file's ${VAR} syntax, not a template.
    'A secret the admin API requires in an `Authorization: Bearer` or `X-Wsgate-Token` header. Required when bind is not a loopback address; write ${VAR} to read it from the environment and keep it out of the file.',
  ),
  store: inspectorStore.prefault({}).describe('The traffic history behind the admin API.'),
});

const echo = z.strictObject({
  bind: hostPort().describe('The address of the built-in echo server (WebSocket and HTTP), "host:port".'),
});

export const configObject = z
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
    inspector: inspector
      .optional()
      .describe('The admin API: connections, messages, live feed, send/close, HAR export. Off when left out.'),
    rules: z
      .array(rule.describe('A named rule: what it matches and what it does.'))
      .default([])
      .describe(
        'Rules that rewrite, drop, delay or inject WebSocket messages and reproduce network faults; routes and listeners name the ones that apply (rules: [name, …]). See docs/rules.md.',
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
