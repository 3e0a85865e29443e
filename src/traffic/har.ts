// HAR 1.2 export of WebSocket connections, in the form Chrome DevTools writes and imports: one entry per
// connection (the handshake as request and 101 response, `_resourceType: "websocket"`) with its messages in
// `_webSocketMessages` as { type: "send" | "receive", time (epoch seconds), opcode, data }. "send" is what the
// client sent (toUpstream). Text data is the text; binary data is base64, as Chrome exports it (the tap's
// previews hold binary as hex). Data is the whole message the store kept (up to inspector.store.maxMessageBytes),
// else the preview; what stays cut is counted in the entry's `_wsgate` field, as are evicted messages. A message
// a relay rule acted on (rewrote, dropped) carries those hits in `_wsgateRules`. Pure.
import { messageData as payloadOf } from './records.ts';
import type { StoredConnection, StoredMessage } from './store.ts';

type HarHeader = { name: string; value: string };

const OPCODES: Record<string, number> = { text: 1, binary: 2, close: 8, ping: 9, pong: 10 };

export type HarLog = {
  log: { version: '1.2'; creator: { name: string; version: string }; pages: []; entries: unknown[] };
};

function headers(pairs: [string, string][]): HarHeader[] {
  return pairs.map(([name, value]) => ({ name, value }));
}

function headersSize(pairs: [string, string][]): number {
  let n = 2;
  for (const [name, value] of pairs) n += name.length + value.length + 4;
  return n;
}

function messageData(m: StoredMessage): string {
  if (m.kind === 'close') {
    return m.code === undefined ? '' : `${m.code}${m.reason ? ` ${m.reason}` : ''}`;
  }
  // The whole payload when the store kept it (tap payload, inspector.store.maxMessageBytes), else the preview.
  return payloadOf(m).data;
}

type HarRuleHit = { rule: string; action: string; detail: string };

export type HarMessage = {
  type: 'send' | 'receive';
  time: number;
  opcode: number;
  data: string;
  _wsgateRules?: HarRuleHit[];
};

/**
 * `data` is the message as it came off the wire, as Chrome records what the browser saw. A relay rule may have
 * changed it (replace, setJson) or dropped it on its way to the other side: `_wsgateRules` lists those hits, so a
 * reader of the HAR does not take a message the other side never got, or got rewritten, for what it received.
 */
export function harMessage(m: StoredMessage, hits?: readonly HarRuleHit[]): HarMessage {
  const message: HarMessage = {
    type: m.dir === 'toUpstream' ? 'send' : 'receive',
    time: Date.parse(m.time) / 1000,
    opcode: OPCODES[m.kind] ?? 0,
    data: messageData(m),
  };
  if (hits !== undefined) message._wsgateRules = hits.map(({ rule, action, detail }) => ({ rule, action, detail }));
  return message;
}

/** A connection's rule hits by the seq of the message each acted on (hits on no message are left out). */
function hitsBySeq(c: StoredConnection): Map<number, HarRuleHit[]> {
  const bySeq = new Map<number, HarRuleHit[]>();
  for (const hit of c.rules) {
    if (hit.messageSeq === undefined) continue;
    const list = bySeq.get(hit.messageSeq);
    if (list === undefined) bySeq.set(hit.messageSeq, [hit]);
    else list.push(hit);
  }
  return bySeq;
}

/**
 * The URL a client asked for: ws:// or wss://, Host and path. An absolute-form request to a forward listener (`GET
 * http://host/path`) names it whole; a forward route dials what the client asked for (TLS when the tunnel was
 * intercepted), so its upstream's scheme is the client's; behind a reverse listener it is the X-Forwarded-Proto
 * wsgate sent on.
 */
export function harUrl(c: StoredConnection): string {
  const absolute = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(c.path);
  if (absolute !== null) return `${secureScheme(absolute[1]!) ? 'wss' : 'ws'}://${absolute[2]}`;
  const host = c.host ?? 'unknown';
  // A forward route sends on the client's own X-Forwarded-Proto, if any, unchecked: its upstream says what it was.
  const proto = isForwardRoute(c)
    ? (c.upstream?.split(':')[0] ?? 'ws')
    : c.forwarded.find(([n]) => n.toLowerCase() === 'x-forwarded-proto')?.[1];
  const secure = proto !== undefined && secureScheme(proto);
  return `${secure ? 'wss' : 'ws'}://${host}${c.path.startsWith('/') ? c.path : `/${c.path}`}`;
}

function secureScheme(scheme: string): boolean {
  const s = scheme.toLowerCase();
  return s === 'https' || s === 'wss';
}

/** A forward listener's routes are `<listener>/forward` and `<listener>/tunnel` (forward/state.ts routeName). */
function isForwardRoute(c: StoredConnection): boolean {
  return (
    c.route !== undefined && c.listener !== undefined && /^(.*)\/(forward|tunnel)$/.exec(c.route)?.[1] === c.listener
  );
}

function queryString(url: string): { name: string; value: string }[] {
  try {
    return [...new URL(url).searchParams].map(([name, value]) => ({ name, value }));
  } catch {
    return [];
  }
}

/**
 * wsgate's side of the handshake. connect: until the upstream connection was made (routing, DNS, TLS, a proxy's
 * CONNECT), or all of it when the handshake failed while connecting; ssl: wsgate's TLS handshake with the upstream,
 * which HAR 1.2 counts inside connect too; wait: the rest, until the upstream's answer (0 when nothing was sent: HAR
 * has no -1 for send, wait and receive). On a spare connection (upstreams[].preconnect) nothing was connected for
 * this handshake: connect and ssl are -1, as HAR has them for a reused connection.
 */
function harTimings(c: StoredConnection) {
  const connect = c.spare === true ? -1 : c.endedInDial === true ? c.handshakeMs : (c.dialMs ?? -1);
  const ssl = connect === -1 ? -1 : (c.tlsMs ?? -1);
  const wait = c.endedInDial === true ? 0 : Math.max(0, c.handshakeMs - Math.max(0, connect));
  return { blocked: -1, dns: -1, connect, ssl, send: 0, wait, receive: 0 };
}

export function harEntry(c: StoredConnection, messages: readonly StoredMessage[], version: string): unknown {
  const url = harUrl(c);
  const hits = hitsBySeq(c);
  const truncated = messages.filter((m) => (m.data === undefined ? m.truncated : m.data.truncated)).length;
  return {
    startedDateTime: c.openedAt,
    time: c.handshakeMs,
    request: {
      method: 'GET',
      url,
      httpVersion: 'HTTP/1.1',
      cookies: [],
      headers: headers(c.request),
      queryString: queryString(url),
      headersSize: headersSize(c.request),
      bodySize: 0,
    },
    response: {
      // A handshake that failed has the status its client got (0 when wsgate answered with nothing but a close).
      status: c.failure?.status ?? 101,
      statusText: c.failure === undefined ? 'Switching Protocols' : c.failure.reason,
      httpVersion: 'HTTP/1.1',
      cookies: [],
      headers: headers(c.response),
      content: { size: 0, mimeType: 'x-unknown' },
      redirectURL: '',
      headersSize: headersSize(c.response),
      bodySize: 0,
    },
    cache: {},
    timings: harTimings(c),
    _resourceType: 'websocket',
    _webSocketMessages: messages.map((m) => harMessage(m, hits.get(m.seq))),
    _wsgate: {
      id: c.id,
      route: c.route,
      listener: c.listener,
      upstream: c.upstream,
      client: c.client,
      state: c.state,
      failure: c.failure,
      closeCode: c.end?.closeCode,
      termination: c.end?.termination,
      evictedMessages: c.evictedMessages,
      truncatedMessages: truncated,
      version,
    },
  };
}

export function harLog(entries: unknown[], version: string): HarLog {
  return { log: { version: '1.2', creator: { name: 'wsgate', version }, pages: [], entries } };
}

/**
 * The same HAR as harLog, as pieces to write one after the other: the head, each entry, the tail. An export of a
 * full store is hundreds of MiB of JSON; built as one string it doubles the store in memory (and past V8's string
 * limit cannot be built at all). Entries are pulled one at a time, so a lazy iterable builds each only when written.
 */
export function* harChunks(entries: Iterable<unknown>, version: string): Generator<string> {
  const head = JSON.stringify(harLog([], version));
  // `…"entries":[]}}`: the entries go between the brackets (entries is the last key of harLog's log).
  yield head.slice(0, -'[]}}'.length + 1);
  let first = true;
  for (const entry of entries) {
    yield `${first ? '' : ','}${JSON.stringify(entry)}`;
    first = false;
  }
  yield ']}}';
}
