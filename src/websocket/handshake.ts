// Pure helpers for the HTTP/1.1 side of a WebSocket handshake: validating the client's request,
// rewriting its headers for the upstream, parsing and checking the upstream's response head.
// No sockets here: the upgrade forwarder (upgrade.ts) does the I/O.
import { createHash } from 'node:crypto';

/** RFC 6455 §1.3: the GUID appended to Sec-WebSocket-Key before hashing. */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * RFC 9110 §7.6.1: hop-by-hop fields end at each proxy. Proxy-Authorization is ours (it authenticates the client
 * to wsgate) and Proxy-Connection is a legacy alias of Connection that some clients still send.
 */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export type HeaderPairs = [name: string, value: string][];

export function rawToPairs(raw: readonly string[]): HeaderPairs {
  const pairs: HeaderPairs = [];
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!]);
  return pairs;
}

/** Lower-cased tokens of a comma-separated header such as Connection or Upgrade. */
export function headerTokens(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const joined = Array.isArray(value) ? value.join(',') : value;
  return joined
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t.length > 0);
}

/**
 * Header names a Connection header may not remove. RFC 9110 §7.6.1 lets a sender name any field as a connection
 * option, but wsgate matched the route on Host: were Host dropped, the upstream would pick a (default) virtual host
 * other than the one wsgate routed for.
 */
const NOT_CONNECTION_OPTIONS = new Set(['host']);

/** The header names a request's Connection (and legacy Proxy-Connection) header lists, lower-cased. */
export function connectionOptions(connection: string | string[] | undefined, proxyConnection?: string | string[]) {
  return new Set(
    [...headerTokens(connection), ...headerTokens(proxyConnection)].filter((t) => !NOT_CONNECTION_OPTIONS.has(t)),
  );
}

/**
 * Drops hop-by-hop headers and every header the Connection header names (RFC 9110 §7.6.1: a proxy MUST remove
 * them, Authorization included: the client asked for it, and it only affects the client's own request). Headers
 * wsgate adds itself (X-Forwarded-*) are added after this, so a client cannot remove those by naming them.
 */
export function stripHopByHop(pairs: HeaderPairs): HeaderPairs {
  const connection: string[] = [];
  const proxyConnection: string[] = [];
  for (const [name, value] of pairs) {
    const lower = name.toLowerCase();
    if (lower === 'connection') connection.push(value);
    else if (lower === 'proxy-connection') proxyConnection.push(value);
  }
  const named = connectionOptions(connection, proxyConnection);
  return pairs.filter(([name]) => {
    const lower = name.toLowerCase();
    return !HOP_BY_HOP.has(lower) && !named.has(lower);
  });
}

export function computeAcceptKey(key: string): string {
  return createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');
}

export type UpgradeRequestCheck = { ok: true; key: string } | { ok: false; detail: string };

/** RFC 6455 §4.2.1: what a server must see in an opening handshake before it may answer 101. */
export function checkUpgradeRequest(req: {
  method: string | undefined;
  httpVersion: string;
  headers: Record<string, string | string[] | undefined>;
}): UpgradeRequestCheck {
  const upgrade = headerTokens(req.headers.upgrade);
  if (!upgrade.includes('websocket')) {
    return { ok: false, detail: `Upgrade "${upgrade.join(', ')}" is not supported; only websocket is proxied` };
  }
  if (req.method !== 'GET') return { ok: false, detail: `a WebSocket handshake must be a GET, not ${req.method}` };
  if (req.httpVersion !== '1.1')
    return { ok: false, detail: `a WebSocket handshake needs HTTP/1.1, not ${req.httpVersion}` };
  if (!headerTokens(req.headers.connection).includes('upgrade')) {
    return { ok: false, detail: 'the Connection header must contain "upgrade"' };
  }
  // A body on an upgrade request is a smuggling vector: its bytes would be read as frames.
  const length = req.headers['content-length'];
  if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) {
    return { ok: false, detail: 'a WebSocket handshake must not carry a body' };
  }
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !/^[A-Za-z0-9+/]{22}==$/.test(key.trim())) {
    return { ok: false, detail: 'Sec-WebSocket-Key must be 16 bytes in base64' };
  }
  return { ok: true, key: key.trim() };
}

export type ResponseHead = {
  statusCode: number;
  statusMessage: string;
  httpVersion: string;
  headers: HeaderPairs;
  /** Bytes the head took, including the blank line; what follows belongs to the body or the frames. */
  length: number;
};

export type ResponseHeadResult =
  | { state: 'incomplete' }
  | { state: 'invalid'; detail: string }
  | { state: 'complete'; head: ResponseHead };

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Parses an HTTP/1.x response head from the start of `buf`; waits for more bytes until maxBytes. */
export function parseResponseHead(buf: Buffer, maxBytes: number): ResponseHeadResult {
  const end = buf.indexOf(CRLFCRLF);
  if (end === -1) {
    return buf.length > maxBytes
      ? { state: 'invalid', detail: `response head larger than ${maxBytes} bytes` }
      : { state: 'incomplete' };
  }
  if (end + 4 > maxBytes) return { state: 'invalid', detail: `response head larger than ${maxBytes} bytes` };
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const status = /^HTTP\/(1\.[01]) (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!status) return { state: 'invalid', detail: `bad status line ${JSON.stringify((lines[0] ?? '').slice(0, 80))}` };
  const headers: HeaderPairs = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    // RFC 9112 §5: no whitespace before the colon, and obsolete line folding is rejected.
    if (colon <= 0 || /[\s]/.test(line.slice(0, colon))) {
      return { state: 'invalid', detail: `bad header line ${JSON.stringify(line.slice(0, 80))}` };
    }
    headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return {
    state: 'complete',
    head: {
      httpVersion: status[1]!,
      statusCode: Number(status[2]),
      statusMessage: status[3] ?? '',
      headers,
      length: end + 4,
    },
  };
}

export function headerValue(pairs: HeaderPairs, name: string): string | undefined {
  const values = pairs.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
  return values.length === 0 ? undefined : values.join(', ');
}

/** RFC 6455 §4.1: the checks a client makes on a 101 before it trusts the connection. */
export function checkUpgradeResponse(head: ResponseHead, key: string): { ok: true } | { ok: false; detail: string } {
  if (!headerTokens(headerValue(head.headers, 'upgrade')).includes('websocket')) {
    return { ok: false, detail: 'the 101 response does not upgrade to websocket' };
  }
  if (!headerTokens(headerValue(head.headers, 'connection')).includes('upgrade')) {
    return { ok: false, detail: 'the 101 response lacks "Connection: upgrade"' };
  }
  const accept = headerValue(head.headers, 'sec-websocket-accept');
  if (accept !== computeAcceptKey(key)) {
    return {
      ok: false,
      detail: accept === undefined ? 'Sec-WebSocket-Accept is missing' : 'Sec-WebSocket-Accept is wrong',
    };
  }
  return { ok: true };
}

/** Header values must not smuggle a line break into the head we write. */
function assertSafe(text: string): string {
  if (/[\r\n\0]/.test(text)) throw new Error('header text contains CR, LF or NUL');
  return text;
}

export function serializeRequestHead(method: string, target: string, headers: HeaderPairs): string {
  let head = `${assertSafe(method)} ${assertSafe(target)} HTTP/1.1\r\n`;
  for (const [name, value] of headers) head += `${assertSafe(name)}: ${assertSafe(value)}\r\n`;
  return head + '\r\n';
}

export function serializeResponseHead(statusCode: number, statusMessage: string, headers: HeaderPairs): string {
  let head = `HTTP/1.1 ${statusCode} ${assertSafe(statusMessage)}\r\n`;
  for (const [name, value] of headers) head += `${assertSafe(name)}: ${assertSafe(value)}\r\n`;
  return head + '\r\n';
}
