// The shape of the config's `limits`: the sizes, timeouts and counts that bound each connection and listener, with
// their defaults (the README's config example and error table; docs/deploy.md). Pure.
import { z } from 'zod';
import { duration, flag, positiveSize } from './fields.ts';

export const limits = z.strictObject({
  maxHeaderBytes: positiveSize().prefault('16KiB').describe('The largest request or response head accepted.'),
  headersTimeout: duration()
    .prefault('10s')
    .describe('How long a client may take to send its request head; 0 turns the limit off.'),
  bodyTimeout: duration()
    .prefault('60s')
    .describe(
      "The longest pause between two reads of a request body (nginx's client_body_timeout): 408 if the response has not started, else the connection is cut. 0 turns the limit off.",
    ),
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
    .describe(
      "Connections one listener accepts at once; further ones are closed at once and logged. The listener's as a whole: with workers, each takes its share.",
    ),
  maxConnectionsPerClient: z
    .number()
    .int()
    .min(1)
    .default(256)
    .describe(
      'Connections one client may hold on a listener at once; more get 503. A client is its address, an IPv6 client its network (limits.clientIpv6Prefix). Loopback clients are not counted unless limits.exemptLoopbackClients is false.',
    ),
  maxHandshakesPerSecond: z
    .int({ error: 'must be a whole number' })
    .min(0)
    .default(0)
    .describe(
      "WebSocket handshakes one listener admits per second (up to a second's worth at once); more get 503 with Retry-After before anything is dialed, so a reconnect storm after an upstream restart reaches the upstreams at this pace. The listener's rate as a whole: with workers, each takes its share. 0 turns it off.",
    ),
  maxHandshakesPerClientPerSecond: z
    .int({ error: 'must be a whole number' })
    .min(0)
    .default(0)
    .describe(
      "WebSocket handshakes one client address may make per second on a listener (up to a second's worth at once); more get 429 with Retry-After before anything is dialed, so one client stuck in a reconnect loop cannot take the listener's rate or the upstreams' capacity. Counts the client address: the peer's, the one X-Forwarded-For names from a trustForwarded peer, or the one a PROXY protocol header names (listener proxyProtocol). An IPv6 client counts as its network (limits.clientIpv6Prefix). Loopback clients are not counted unless limits.exemptLoopbackClients is false. 0 turns it off.",
    ),
  maxFrameBytes: positiveSize()
    .prefault('16MiB')
    .describe(
      'The largest WebSocket frame payload; a longer frame is a violation (WSG_WS_FRAME_TOO_LARGE, close 1009), reported as soon as its header arrives. tap.onViolation decides whether wsgate only logs it or closes the connection.',
    ),
  maxMessageBytes: positiveSize()
    .prefault('64MiB')
    .describe(
      'The largest WebSocket message, all its fragments together (bytes on the wire, compressed when permessage-deflate is on); more is a violation (WSG_WS_MESSAGE_TOO_LARGE, close 1009). tap.onViolation decides what wsgate does.',
    ),
  maxFragments: z
    .number()
    .int()
    .min(1)
    .default(1024)
    .describe(
      'The most frames one WebSocket message may be split into; more is a violation (WSG_WS_TOO_MANY_FRAGMENTS, close 1008). tap.onViolation decides what wsgate does.',
    ),
  maxPendingPings: z
    .number()
    .int()
    .min(1)
    .default(60)
    .describe(
      'The most pings one side of a WebSocket may send that the other side has not answered with a pong (a ping flood); more is a violation (WSG_WS_TOO_MANY_PENDING_PINGS, close 1008). tap.onViolation decides what wsgate does.',
    ),
  clientIpv6Prefix: z
    .int({ error: 'must be a whole number' })
    .min(32)
    .max(128)
    .default(64)
    .describe(
      'How much of an IPv6 client address the per-client limits (maxConnectionsPerClient, maxHandshakesPerClientPerSecond) count: its network of this many bits. A host or household is handed a whole /64 and may send from any address in it, so counting single addresses would let one client take a fresh limit per address. 128 counts each address; IPv4 clients are always their address.',
    ),
  exemptLoopbackClients: flag()
    .prefault(true)
    .describe(
      'limits.maxConnectionsPerClient and limits.maxHandshakesPerClientPerSecond do not count loopback clients (on a developer machine every browser, CLI and test connects from 127.0.0.1); set false to count them too, e.g. to test the limits.',
    ),
});
