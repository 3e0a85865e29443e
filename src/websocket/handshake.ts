// The WebSocket rules of an opening handshake (RFC 6455 §4): what a client's Upgrade request must carry before
// it is forwarded, the accept key, and what an upstream's 101 must say before its connection is trusted. Generic
// HTTP head parsing, writing and hop-by-hop rules are http/'s. Pure: the upgrade forwarder (upgrade.ts) does the I/O.
import { hash } from 'node:crypto';
import { countHeaderLines, headerTokens, headerValue, type ResponseHead } from '../http/head.ts';

/** RFC 6455 §1.3: the GUID appended to Sec-WebSocket-Key before hashing. */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

// One-shot hash(): a Hash object per handshake (createHash, update, digest) cost ~40 µs of the proxy's CPU on
// each handshake in a profile, several times the hashing itself.
export function computeAcceptKey(key: string): string {
  return hash('sha1', key + WS_GUID, 'base64');
}

export type UpgradeRequestCheck = { ok: true; key: string } | { ok: false; detail: string };

/** RFC 6455 §4.2.1: what a server must see in an opening handshake before it may answer 101. */
export function checkUpgradeRequest(req: {
  method: string | undefined;
  httpVersion: string;
  headers: Record<string, string | string[] | undefined>;
  /** node:http's rawHeaders: repeated lines of fields Node keeps only once (Host) are seen only here. */
  rawHeaders?: readonly string[];
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
  // RFC 9112 §3.2: more than one Host line is a 400. Node keeps the first for routing, but the upstream gets the
  // raw lines, and a server that reads another one would serve a virtual host no route was asked about.
  if (countHeaderLines(req.rawHeaders, 'host') > 1)
    return { ok: false, detail: 'the request has more than one Host line' };
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

/** RFC 6455 §4.1: the checks a client makes on a 101 before it trusts the connection. */
export function checkUpgradeResponse(head: ResponseHead, key: string): { ok: true } | { ok: false; detail: string } {
  if (!headerTokens(headerValue(head.headers, 'upgrade')).includes('websocket')) {
    return { ok: false, detail: 'the 101 response does not upgrade to websocket' };
  }
  if (!headerTokens(headerValue(head.headers, 'connection')).includes('upgrade')) {
    return { ok: false, detail: 'the 101 response lacks "Connection: upgrade"' };
  }
  // Repeated, even with the right value twice, the field is "k, k" to a client (RFC 9110 §5.3): say so, not "wrong".
  if (head.headers.filter(([n]) => n.toLowerCase() === 'sec-websocket-accept').length > 1) {
    return { ok: false, detail: 'Sec-WebSocket-Accept is sent more than once' };
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

/**
 * RFC 6455 §4.1: whether the subprotocol a 101 selects is one the client offered (its Sec-WebSocket-Protocol
 * list); a client fails the connection otherwise, also when it offered none. Names compare exactly, as clients
 * compare them. No copies: the comparison runs inside the client's own text.
 */
export function isOfferedProtocol(selected: string, offered: string | string[] | undefined): boolean {
  if (offered === undefined || selected === '') return false;
  if (typeof offered !== 'string') return offered.some((list) => isOfferedProtocol(selected, list));
  for (let start = 0; start <= offered.length; ) {
    let end = offered.indexOf(',', start);
    if (end === -1) end = offered.length;
    let from = start;
    let to = end;
    while (from < to && isOws(offered.charCodeAt(from))) from++;
    while (to > from && isOws(offered.charCodeAt(to - 1))) to--;
    if (to - from === selected.length && offered.startsWith(selected, from)) return true;
    start = end + 1;
  }
  return false;
}

/** RFC 9110 §5.6.3: optional whitespace is spaces and tabs. */
function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}
