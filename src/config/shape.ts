// The shape of the config file: every top-level key, its type, default and description (which also feed the
// generated JSON Schema), down to listeners (shape-listener.ts) and routes (shape-route.ts). The input side is what
// people write (durations as "10s", an upstream as a URL or a name). Pure.

import { z } from 'zod';
import {
  duration,
  filePath,
  flag,
  hostPort,
  name,
  noProxyList,
  positiveSize,
  proxyRef,
  proxyUrl,
  upstreamUrl,
  workers,
} from './fields.ts';
import { listener } from './shape-listener.ts';
import { tapLevel } from './shape-route.ts';

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

const upstream = z.strictObject({
  name: name().describe('The name routes use to refer to this upstream.'),
  url: upstreamUrl().describe('The upstream server: ws://, wss://, http:// or https:// URL.'),
  tls: upstreamTls.optional(),
  via: proxyRef().optional(),
});

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
      'Connections one client address may hold on a listener at once; more get 503. Loopback clients are not counted unless limits.exemptLoopbackClients is false.',
    ),
  exemptLoopbackClients: flag()
    .prefault(true)
    .describe(
      'limits.maxConnectionsPerClient does not count loopback clients (on a developer machine every browser, CLI and test connects from 127.0.0.1); set false to count them too, e.g. to test the limit.',
    ),
});

const shutdown = z.strictObject({
  grace: duration()
    .prefault('10s')
    .describe('On SIGTERM/SIGINT, how long open connections may finish before they are closed.'),
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
