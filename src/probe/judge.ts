// What each answer on the way to a WebSocket means, and what to change: the proxy's answer to CONNECT, the
// server's (or a middlebox's) answer to the Upgrade, the negotiated subprotocol and extensions, and how an idle
// connection ended. The steps (steps.ts) do the I/O and hand the answers here, so every verdict and hint can be
// tested from values alone. The proxy product is named from the headers that give it away (Via, Server,
// X-Squid-Error, x-wsgate-error), because the advice differs per product. Pure.
import { type HeaderPairs, headerTokens, headerValue } from '../http/head.ts';
import { computeAcceptKey } from '../websocket/handshake.ts';
import { fail, ok, type Verdict, warn } from './report.ts';

const KNOWN_PRODUCTS: [RegExp, string][] = [
  [/\bsquid(?:\/([\w.]+))?/i, 'Squid'],
  [/\bwsgate\b|\bwsgate-[0-9a-f]+/i, 'wsgate'],
  [/zscaler/i, 'Zscaler'],
  [/bluecoat|proxysg/i, 'Blue Coat ProxySG'],
  [/forti(?:gate|net|web)/i, 'FortiGate'],
  [/mcafee|skyhigh/i, 'McAfee/Skyhigh Web Gateway'],
  [/ironport|cisco/i, 'Cisco Secure Web Appliance'],
  [/tinyproxy(?:\/([\w.]+))?/i, 'Tinyproxy'],
  [/privoxy/i, 'Privoxy'],
  [/\bats\b|apachetrafficserver/i, 'Apache Traffic Server'],
  [/varnish/i, 'Varnish'],
  [/haproxy/i, 'HAProxy'],
  [/envoy/i, 'Envoy'],
  [/nginx(?:\/([\w.]+))?/i, 'nginx'],
];

/** The proxy or middlebox product named by a response's headers, with its version when given. */
export function productOf(headers: HeaderPairs): string | undefined {
  if (headerValue(headers, 'x-wsgate-error') !== undefined) return 'wsgate';
  // Via and Server carry versions; X-Squid-Error only says that Squid wrote the answer.
  const texts = [
    headerValue(headers, 'via'),
    headerValue(headers, 'proxy-agent'),
    headerValue(headers, 'server'),
    headerValue(headers, 'x-squid-error') === undefined ? undefined : 'squid',
  ].filter((t): t is string => t !== undefined);
  for (const text of texts) {
    for (const [pattern, name] of KNOWN_PRODUCTS) {
      const m = pattern.exec(text);
      if (m) return m[1] === undefined ? name : `${name} ${m[1]}`;
    }
  }
  return undefined;
}

/** "403 Forbidden from Squid 5.7" or "403 Forbidden". */
function fromWhom(statusLine: string, product: string | undefined): string {
  return product === undefined ? statusLine : `${statusLine} from ${product}`;
}

/** The authentication schemes a 407 offers (Basic, Negotiate, NTLM, Digest, …). */
export function authSchemes(headers: HeaderPairs): string[] {
  return headers
    .filter(([n]) => n.toLowerCase() === 'proxy-authenticate')
    .map(([, v]) => v.trim().split(/\s+/)[0] ?? '')
    .filter((s) => s !== '');
}

function authHint(schemes: string[], hadCredentials: boolean): string {
  const offered = schemes.length === 0 ? 'no scheme' : schemes.join(', ');
  const basic = schemes.some((s) => s.toLowerCase() === 'basic');
  if (hadCredentials) {
    return basic
      ? 'The proxy rejected the user and password given: check them (probe sends them as Basic).'
      : `The proxy offers ${offered} only; wsgate and most WebSocket clients send Basic.`;
  }
  const how =
    'Give credentials in the proxy URL (--proxy http://user:pass@host:port, HTTPS_PROXY likewise; wsgate: proxies[].url or HTTPS_PROXY)';
  return basic
    ? `The proxy offers ${offered}. ${how}.`
    : `The proxy offers ${offered}, not Basic: browsers answer it with the system login; for wsgate or a CLI client run a local helper proxy that speaks ${offered} (e.g. cntlm, px) and point --proxy at it.`;
}

export type ConnectAnswer = {
  status: number;
  statusLine: string;
  headers: HeaderPairs;
  /** The CONNECT target's port. */
  port: number;
  /** Whether Proxy-Authorization was sent. */
  hadCredentials: boolean;
};

/** The proxy's answer to CONNECT host:port. */
export function judgeConnect(a: ConnectAnswer): Verdict {
  const product = productOf(a.headers);
  const line = fromWhom(a.statusLine, product);
  if (a.status >= 200 && a.status < 300) return ok('CONNECT_OK', `tunnel open: ${line}`);
  if (a.status === 407) {
    const schemes = authSchemes(a.headers);
    return fail(
      'CONNECT_AUTH_REQUIRED',
      `${line}: the proxy requires authentication (offers ${schemes.length === 0 ? 'no scheme' : schemes.join(', ')})`,
      authHint(schemes, a.hadCredentials),
    );
  }
  const squidError = headerValue(a.headers, 'x-squid-error');
  const why = squidError === undefined ? '' : ` (X-Squid-Error: ${squidError})`;
  if (a.status === 403 && a.port !== 443) {
    return fail(
      'CONNECT_REFUSED_PORT',
      `${line}${why}: the proxy refuses CONNECT to port ${a.port}`,
      `Proxies commonly allow CONNECT only to port 443${product?.startsWith('Squid') ? ' (Squid’s default: http_access deny CONNECT !SSL_ports, acl SSL_ports port 443)' : ''}: serve the WebSocket as wss:// on port 443, or ask the proxy’s admins to allow port ${a.port}.`,
    );
  }
  if (a.status === 403) {
    return fail(
      'CONNECT_REFUSED',
      `${line}${why}: the proxy’s policy does not allow this destination`,
      'Ask the proxy’s admins to allow the host (its category or an allow list), or use a host the policy allows.',
    );
  }
  if (a.status >= 500) {
    return fail(
      'CONNECT_UPSTREAM_FAILED',
      `${line}${why}: the proxy could not reach the server`,
      'The proxy resolves and dials the server itself: check the host name from the proxy’s side (internal DNS, firewall).',
    );
  }
  return fail('CONNECT_FAILED', `${line}${why}: the proxy did not open a tunnel`);
}

export type UpgradeAnswer = {
  status: number;
  statusLine: string;
  headers: HeaderPairs;
  /** The Sec-WebSocket-Key sent. */
  key: string;
  /** A proxy was on the path (absolute-form, or a tunnel whose TLS was intercepted). */
  proxied: boolean;
  hadCredentials: boolean;
  /** The first bytes of a non-101 body, as text, for the detail. */
  bodyPreview?: string;
};

function hasUpgradeTokens(headers: HeaderPairs): boolean {
  return (
    headerTokens(headerValue(headers, 'upgrade')).includes('websocket') &&
    headerTokens(headerValue(headers, 'connection')).includes('upgrade')
  );
}

/**
 * The proxy wrote this answer itself, as its own error page, so the request never reached the server: Squid marks
 * its error pages with X-Squid-Error, wsgate its own answers with X-Wsgate-Error (a wsgate at the server marks
 * them too, which the probe cannot tell apart; through a proxy, the proxy is the likelier author).
 */
function proxyAuthored(headers: HeaderPairs): boolean {
  return headerValue(headers, 'x-squid-error') !== undefined || headerValue(headers, 'x-wsgate-error') !== undefined;
}

const PROXY_REFUSED_HINT =
  'The proxy’s policy refuses this request; its error page (above) names why. Ask the proxy’s admins to allow this host and port, or use wss:// (on port 443): the proxy then sees only a CONNECT tunnel.';

const STRIP_HINT_SQUID =
  'Squid forwards Upgrade only when told to: add `http_upgrade_request_protocols websocket allow all` (Squid 5+). The protocol name is matched case-sensitively and clients send lower-case `websocket`, so `WebSocket` there does not work.';

function stripHint(product: string | undefined): string {
  const base =
    'Use wss:// (ideally on port 443): the proxy then sees only an opaque CONNECT tunnel and cannot remove the Upgrade.';
  return product?.startsWith('Squid') ? `${base} ${STRIP_HINT_SQUID}` : base;
}

/** The answer to the WebSocket opening handshake (RFC 6455 §4.1 from the client's side). */
export function judgeUpgrade(a: UpgradeAnswer): Verdict {
  const product = productOf(a.headers);
  const line = fromWhom(a.statusLine, product);
  if (a.status === 101) {
    if (!hasUpgradeTokens(a.headers)) {
      return fail(
        'UPGRADE_BAD_101',
        `${a.statusLine} without "Upgrade: websocket" and "Connection: upgrade"`,
        'The server (or something in front of it) sends a malformed 101; browsers fail such a connection.',
      );
    }
    const accept = headerValue(a.headers, 'sec-websocket-accept');
    if (accept !== computeAcceptKey(a.key)) {
      return fail(
        'UPGRADE_BAD_ACCEPT',
        accept === undefined
          ? `${a.statusLine} without Sec-WebSocket-Accept`
          : `${a.statusLine} with a wrong Sec-WebSocket-Accept (${accept}, expected ${computeAcceptKey(a.key)})`,
        'Something answered the handshake without computing the accept key from this request’s Sec-WebSocket-Key (RFC 6455 §4.2.2): a caching or rewriting middlebox, or a broken server. Browsers fail the connection with code 1006.',
      );
    }
    return ok('UPGRADE_OK', `${a.statusLine}`);
  }
  if (a.status === 407) {
    const schemes = authSchemes(a.headers);
    return fail(
      'UPGRADE_AUTH_REQUIRED',
      `${line}: the proxy requires authentication (offers ${schemes.length === 0 ? 'no scheme' : schemes.join(', ')})`,
      authHint(schemes, a.hadCredentials),
    );
  }
  const preview = a.bodyPreview === undefined || a.bodyPreview === '' ? '' : `: ${a.bodyPreview}`;
  // Not the server's answer to a plain GET (nothing was stripped on the way), nor the server refusing.
  if (a.proxied && a.status < 500 && proxyAuthored(a.headers)) {
    return fail(
      'UPGRADE_REFUSED',
      `${line}: the proxy answered the handshake itself, it never reached the server${preview}`,
      PROXY_REFUSED_HINT,
    );
  }
  const upgradeInAnswer = headerTokens(headerValue(a.headers, 'upgrade')).includes('websocket');
  // A 426 that itself asks for websocket, or a plain answer that came through a proxy: the server never saw the
  // Upgrade, so something on the way took it out.
  const stripped =
    (a.status === 426 && upgradeInAnswer) ||
    (!upgradeInAnswer && (a.proxied || headerValue(a.headers, 'via') !== undefined) && a.status < 500);
  if (stripped && a.status !== 403 && a.status !== 404) {
    return fail(
      'UPGRADE_STRIPPED',
      `${line}: something on the path removed the Upgrade header, so the server saw a plain GET`,
      stripHint(product),
    );
  }
  if (a.status === 200) {
    return fail(
      'UPGRADE_NOT_WEBSOCKET',
      `${line}: the server answered the handshake as a plain GET`,
      'Check that the URL is the WebSocket endpoint (path, port); if it is, something in front of the server dropped the Upgrade: try --compare, or wss://.',
    );
  }
  const hints: Record<number, string> = {
    400: 'The server rejected the handshake: compare the headers it expects (Origin, subprotocol, cookies, query token) with --header/--origin/--subprotocol.',
    401: 'The server wants credentials: pass them as the application does (--header "Authorization: …", a cookie or a query token).',
    403: 'Refused by policy: often the Origin check (try --origin with the site’s origin) or a token.',
    404: 'No WebSocket endpoint at this path.',
    426: 'The server wants another WebSocket version or protocol (Sec-WebSocket-Version 13 is what browsers send).',
  };
  if (a.status >= 500 && a.proxied) {
    return fail(
      'UPGRADE_PROXY_ERROR',
      `${line}${preview}`,
      'The proxy could not reach the server or refused the request; its error page (above) names the reason.',
    );
  }
  return fail('UPGRADE_REFUSED', `${line}${preview}`, hints[a.status]);
}

export type Negotiation = {
  offeredProtocols: string[];
  offeredExtensions: string[];
  headers: HeaderPairs;
};

/** Extension names in a Sec-WebSocket-Extensions value (parameters dropped). */
export function extensionNames(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((e) => (e.split(';')[0] ?? '').trim().toLowerCase())
    .filter((e) => e !== '');
}

/** RFC 6455 §4.1: a client fails the connection on a subprotocol or extension it did not offer. */
export function judgeNegotiation(n: Negotiation): Verdict {
  const protocol = headerValue(n.headers, 'sec-websocket-protocol');
  const extensions = headerValue(n.headers, 'sec-websocket-extensions');
  const accepted = extensionNames(extensions);
  const offered = new Set(n.offeredExtensions.map((e) => e.toLowerCase()));
  const unoffered = accepted.filter((e) => !offered.has(e));
  const said = `subprotocol ${protocol ?? '(none)'}, extensions ${extensions ?? '(none)'}`;
  if (protocol !== undefined && !n.offeredProtocols.includes(protocol)) {
    return fail(
      'NEGOTIATE_SUBPROTOCOL_UNOFFERED',
      `${said}: the server chose subprotocol "${protocol}", which was not offered (${n.offeredProtocols.join(', ') || 'none'})`,
      'Browsers fail this connection: offer the subprotocol the server speaks (--subprotocol) or fix the server’s choice.',
    );
  }
  if (protocol === undefined && n.offeredProtocols.length > 0) {
    return fail(
      'NEGOTIATE_SUBPROTOCOL_MISSING',
      `${said}: subprotocol ${n.offeredProtocols.join(', ')} was offered and none was chosen`,
      'Chromium fails a connection whose offered subprotocols got no answer; the server must echo one of them in Sec-WebSocket-Protocol (or something on the path removed it).',
    );
  }
  if (unoffered.length > 0) {
    return fail(
      'NEGOTIATE_EXTENSION_UNOFFERED',
      `${said}: extension ${unoffered.join(', ')} was not offered`,
      'A client must fail the connection (RFC 6455 §9.1): fix the server or the middlebox that adds the extension.',
    );
  }
  const dropped = n.offeredExtensions.filter((e) => !accepted.includes(e.toLowerCase()));
  if (dropped.length > 0) {
    return ok('NEGOTIATE_OK', `${said}; ${dropped.join(', ')} offered, not taken (fine: messages go uncompressed)`);
  }
  return ok('NEGOTIATE_OK', said);
}

/**
 * The server's frames during the probe's silence, when there were any: how many, how long before the cut the last
 * one came, and the longest pause between them the connection survived (the first counted from the silence's start).
 */
export type IdleTraffic = { frames: number; quietMs: number; longestGapMs: number };

/** How an idle connection ended, as the idle step saw it. */
export type IdleEnd =
  | { how: 'alive'; afterMs: number; pongMs: number }
  | { how: 'close'; afterMs: number; code: number | undefined; reason: string }
  | { how: 'fin' | 'rst'; afterMs: number; traffic?: IdleTraffic }
  | { how: 'silent'; afterMs: number }
  /** No Close, FIN or RST during the silence, and no ping after it: pings get no pong on this path. */
  | { how: 'unchecked'; afterMs: number };

const seconds = (ms: number) => (ms < 10_000 ? (ms / 1000).toFixed(1) : String(Math.round(ms / 1000)));

function keepaliveHint(afterMs: number): string {
  // Half the cut-off; below 2 s in milliseconds, as whole seconds would round up to the cut-off itself.
  const half = afterMs * 0.5;
  const under =
    afterMs < 2000 ? `${Math.max(50, Math.round(half / 50) * 50)} ms` : `${Math.max(1, Math.floor(half / 1000))} s`;
  return `Send a ping (or any message) at an interval below the cut-off, e.g. every ${under}; with wsgate in the path, set its keepalive below ${seconds(afterMs)} s.`;
}

/** For IDLE_SURVIVED when pings get no pong: what the probe could not see. */
export const UNCHECKED_HINT =
  'A path that drops an idle connection silently (no FIN) cannot be seen this way: make pings work (see the ping step), then probe again.';

/**
 * A cut that came while the server was sending: no longer after its last frame than the longest pause already
 * survived, with a little to spare for timing noise. An idle timer of X fires only after X without a byte, so every
 * pause survived before it is shorter than the quiet it cuts at; a limit on the connection's age (or on its
 * traffic) cuts wherever it falls, usually mid-pause.
 */
function cutWhileBusy(t: IdleTraffic): boolean {
  return t.quietMs <= t.longestGapMs + Math.max(50, t.longestGapMs * 0.1);
}

function judgeCut(end: { how: 'fin' | 'rst'; afterMs: number; traffic?: IdleTraffic }): Verdict {
  const how = `TCP ${end.how.toUpperCase()} without a Close frame`;
  const t = end.traffic;
  if (t === undefined || t.frames === 0) {
    return fail(
      'IDLE_CUT',
      `a middlebox cut the idle connection after about ${seconds(end.afterMs)} s (${how}; browsers report 1006)`,
      keepaliveHint(end.afterMs),
    );
  }
  if (cutWhileBusy(t)) {
    return fail(
      'IDLE_CUT_BUSY',
      `the connection was cut after about ${seconds(end.afterMs)} s (${how}), though it was not idle: the server sent ${t.frames} frames during the silence, the last ${Math.round(t.quietMs)} ms before the cut`,
      'Not an idle timeout, so keepalives will not help: something on the path ends connections after a fixed time or amount of traffic (a load balancer’s or proxy’s maximum connection duration, wsgate’s maxLifetime or resetAfter). Have the client reconnect when it happens, or raise that limit.',
    );
  }
  // The middlebox's idle timer ran from the last byte, not from when the probe fell silent.
  return fail(
    'IDLE_CUT',
    `a middlebox cut the connection after about ${seconds(t.quietMs)} s without traffic (the server's last frame came ${seconds(end.afterMs - t.quietMs)} s into the silence; ${how}; browsers report 1006)`,
    keepaliveHint(t.quietMs),
  );
}

export function judgeIdle(end: IdleEnd, silenceMs: number): Verdict {
  switch (end.how) {
    case 'alive':
      return ok('IDLE_SURVIVED', `alive after ${seconds(silenceMs)} s of silence (pong in ${end.pongMs} ms)`);
    case 'unchecked':
      return warn(
        'IDLE_SURVIVED',
        `no Close, FIN or RST during ${seconds(silenceMs)} s of silence; not confirmed with a ping, as pings get no pong on this path`,
        UNCHECKED_HINT,
      );
    case 'close':
      return fail(
        'IDLE_CLOSED',
        // "idle" would be wrong when the server itself was sending: what it did not get is the probe's traffic.
        `the server closed the connection after about ${seconds(end.afterMs)} s without a frame from the probe, with Close ${end.code ?? '(no code)'}${end.reason === '' ? '' : ` "${end.reason}"`}`,
        keepaliveHint(end.afterMs),
      );
    case 'fin':
    case 'rst':
      return judgeCut(end);
    case 'silent':
      return fail(
        'IDLE_DEAD',
        `after ${seconds(silenceMs)} s of silence the connection no longer answers a ping: something on the path dropped it without telling either side`,
        keepaliveHint(silenceMs),
      );
  }
}
