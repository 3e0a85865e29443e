// The probe's WebSocket steps: the opening handshake as a browser sends it (origin-form, or absolute-form to a
// proxy for ws:// as many non-browser clients send it), what was negotiated against what was offered, a message
// round trip (--send), a ping's round-trip time, and how long the connection survives silence (--idle).
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { type HeaderPairs, headerValue, type ResponseHead, serializeRequestHead } from '../http/head.ts';
import { extensionNames, type IdleEnd, judgeIdle, judgeNegotiation, judgeUpgrade, productOf } from './judge.ts';
import { fail, ok, type StepResult, warn } from './report.ts';
import type { Stepped } from './steps.ts';
import { bodyPreview, elapsed, interimHeads, readHead, readSome } from './wire.ts';
import { WsConn } from './ws-conn.ts';

/** What Chromium offers: permessage-deflate with client_max_window_bits. */
export const OFFERED_EXTENSIONS = 'permessage-deflate; client_max_window_bits';

export type HandshakeRequest = {
  url: URL;
  /** Absolute-form (GET http://host/path to a proxy) instead of origin-form. */
  absolute: boolean;
  subprotocols: string[];
  origin?: string | undefined;
  headers: [string, string][];
  proxyAuthorization?: string | undefined;
  /** Reuse a key (--compare sends the same one both ways, so the accept values match). */
  key?: string | undefined;
  /** A proxy is on the path (absolute-form, or a tunnel whose TLS was intercepted). */
  proxied: boolean;
};

export type Handshake = { head: ResponseHead; rest: Buffer; key: string; socket: Socket };

function hostHeader(url: URL): string {
  return url.host; // URL drops the scheme's default port, as Host should (RFC 9112 §3.2)
}

export function handshakeHead(req: HandshakeRequest, key: string): string {
  const path = `${req.url.pathname || '/'}${req.url.search}`;
  const target = req.absolute ? `${req.url.protocol === 'wss:' ? 'https' : 'http'}://${req.url.host}${path}` : path;
  const headers: HeaderPairs = [
    ['Host', hostHeader(req.url)],
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Key', key],
    ['Sec-WebSocket-Version', '13'],
    ['Sec-WebSocket-Extensions', OFFERED_EXTENSIONS],
    ['User-Agent', 'wsgate-probe'],
  ];
  if (req.subprotocols.length > 0) headers.push(['Sec-WebSocket-Protocol', req.subprotocols.join(', ')]);
  if (req.origin !== undefined) headers.push(['Origin', req.origin]);
  if (req.absolute && req.proxyAuthorization !== undefined)
    headers.push(['Proxy-Authorization', req.proxyAuthorization]);
  for (const [name, value] of req.headers) headers.push([name, value]);
  return serializeRequestHead('GET', target, headers);
}

export async function upgradeStep(
  socket: Socket,
  req: HandshakeRequest,
  timeoutMs: number,
): Promise<Stepped<Handshake>> {
  const start = performance.now();
  const key = req.key ?? randomBytes(16).toString('base64');
  const head = handshakeHead(req, key);
  socket.write(head);
  const requestLine = head.slice(0, head.indexOf('\r\n'));
  // 100 Continue, 103 Early Hints: read past, as a browser does, and named beside the answer they came before.
  const interim = interimHeads();
  const read = await readHead(socket, timeoutMs, interim.onHead);
  const after = interim.after();
  const interimFacts = interim.facts();
  if (!read.ok) {
    socket.destroy();
    const closed = read.why === 'closed' || read.why === 'error';
    return {
      result: {
        step: 'upgrade',
        ms: elapsed(start),
        verdict: fail(
          'UPGRADE_NO_ANSWER',
          `${requestLine}: ${read.detail}${after}`,
          closed
            ? 'Something on the path closed the connection on seeing the handshake: a filtering proxy or firewall (browsers report 1006), or a server that is not HTTP.'
            : read.why === 'invalid'
              ? 'The answer is not HTTP: is this the right port (wss:// vs ws://)?'
              : 'Nothing answered the handshake in time: a middlebox holding the request, or a server that never answers it.',
        ),
        facts: { request: requestLine, why: read.why, ...interimFacts },
      },
    };
  }
  // The answer's time, not the wait for an error page's text below.
  const ms = elapsed(start);
  const status = read.head.statusCode;
  const statusLine = `${status} ${read.head.statusMessage}`.trim();
  const body = status === 101 ? undefined : bodyPreview(await readSome(socket, read.rest, 2048, 200));
  const judged = judgeUpgrade({
    status,
    statusLine,
    headers: read.head.headers,
    key,
    proxied: req.proxied,
    hadCredentials: req.proxyAuthorization !== undefined,
    ...(body === undefined ? {} : { bodyPreview: body }),
  });
  const verdict = after === '' ? judged : { ...judged, detail: `${judged.detail}${after}` };
  const facts: Record<string, unknown> = {
    request: requestLine,
    status,
    statusLine,
    headers: read.head.headers,
    product: productOf(read.head.headers),
    ...interimFacts,
  };
  if (body !== undefined) facts['body'] = body;
  if (!verdict.ok) {
    socket.destroy();
    return { result: { step: 'upgrade', ms, verdict, facts } };
  }
  return {
    result: { step: 'upgrade', ms, verdict, facts },
    value: { head: read.head, rest: read.rest, key, socket },
  };
}

export function negotiateStep(h: Handshake, subprotocols: string[]): StepResult {
  const verdict = judgeNegotiation({
    offeredProtocols: subprotocols,
    offeredExtensions: extensionNames(OFFERED_EXTENSIONS),
    headers: h.head.headers,
  });
  return {
    step: 'negotiate',
    ms: 0,
    verdict,
    facts: {
      offered: { subprotocols, extensions: OFFERED_EXTENSIONS },
      accepted: {
        subprotocol: headerValue(h.head.headers, 'sec-websocket-protocol') ?? null,
        extensions: headerValue(h.head.headers, 'sec-websocket-extensions') ?? null,
      },
    },
  };
}

const preview = (data: Buffer, text: boolean) => {
  const s = text ? data.toString('utf8') : `<${data.length} bytes binary>`;
  return s.length > 80 ? `${s.slice(0, 79)}…` : s;
};

function endedVerdict(
  e: { type: string; code?: number | undefined; reason?: string; how?: string; detail?: string },
  what: string,
) {
  return e.type === 'close'
    ? fail(
        `${what}_CLOSED`,
        `the server closed the connection with Close ${e.code ?? '(no code)'} ${e.reason ?? ''}`.trim(),
      )
    : fail(`${what}_CLOSED`, `the connection ended without a Close frame (${e.how}: ${e.detail})`);
}

export async function messageStep(conn: WsConn, text: string, timeoutMs: number): Promise<StepResult> {
  const start = performance.now();
  conn.sendText(text);
  const e = await conn.next((x) => x.type === 'message' || x.type === 'close' || x.type === 'end', timeoutMs);
  const ms = elapsed(start);
  if (e === undefined) {
    return {
      step: 'message',
      ms,
      verdict: warn(
        'MESSAGE_NO_REPLY',
        `sent ${JSON.stringify(preview(Buffer.from(text), true))}; no message came back within ${timeoutMs} ms`,
        'Fine if the application does not answer this message; an echo server that stays silent points at a middlebox buffering frames.',
      ),
      facts: { sent: text },
    };
  }
  if (e.type !== 'message') return { step: 'message', ms, verdict: endedVerdict(e, 'MESSAGE'), facts: { sent: text } };
  const same = e.text && e.data.toString('utf8') === text;
  return {
    step: 'message',
    ms,
    verdict: ok('MESSAGE_OK', same ? 'echoed' : `answered: ${JSON.stringify(preview(e.data, e.text))}`),
    facts: { sent: text, received: preview(e.data, e.text), echoed: same },
  };
}

/**
 * A ping and its pong. `unanswered` is the --send text that got no reply (MESSAGE_NO_REPLY): a missing pong on top
 * of it means nothing at all came back after the handshake, which no working WebSocket does, so it is a failure
 * rather than the warning each would be alone (an application may not answer; a path may swallow pings).
 */
export async function pingStep(conn: WsConn, timeoutMs: number, unanswered?: string): Promise<StepResult> {
  const payload = randomBytes(8);
  const start = performance.now();
  conn.ping(payload);
  const e = await conn.next(
    (x) => (x.type === 'pong' && x.data.equals(payload)) || x.type === 'close' || x.type === 'end',
    timeoutMs,
  );
  const ms = elapsed(start);
  if (e === undefined && unanswered !== undefined) {
    return {
      step: 'ping',
      ms,
      verdict: fail(
        'PING_HALF_OPEN',
        `no pong within ${timeoutMs} ms, and no reply to ${JSON.stringify(preview(Buffer.from(unanswered), true))}: nothing came back after the handshake, though the connection stayed open`,
        'A half-open path: something between here and the server (a proxy, NAT or load balancer) stopped forwarding one way without a FIN or RST, so neither side can tell (browsers keep such a socket open). Probe without the proxy (--no-proxy) or with --compare to find the hop; if the server answers neither messages nor pings, give --send a message it does answer.',
      ),
      facts: {},
    };
  }
  if (e === undefined) {
    return {
      step: 'ping',
      ms,
      verdict: warn(
        'PING_NO_PONG',
        `no pong within ${timeoutMs} ms`,
        'RFC 6455 §5.5.2 requires a pong: the server (or a frame-aware middlebox) ignores pings, so ping-based keepalives will not detect dead connections.',
      ),
      facts: {},
    };
  }
  if (e.type !== 'pong') return { step: 'ping', ms, verdict: endedVerdict(e, 'PING'), facts: {} };
  return { step: 'ping', ms, verdict: ok('PING_OK', `pong in ${ms} ms`), facts: { rttMs: ms } };
}

/**
 * Stays silent for silenceMs (or until the connection ends), then checks with a ping that it is still alive. With
 * `pongTimeoutMs` undefined (the ping step got no pong: the server or a middlebox swallows pings) no ping is sent,
 * since its missing pong would say nothing about this silence; only a Close, FIN or RST during it can be seen.
 */
export async function watchIdle(conn: WsConn, silenceMs: number, pongTimeoutMs: number | undefined): Promise<IdleEnd> {
  const start = performance.now();
  // The probe is silent, but the server may not be: a cut amid its frames is no idle cut (judgeIdle).
  conn.trackTraffic();
  const cut = (how: 'fin' | 'rst'): IdleEnd => {
    const afterMs = elapsed(start);
    const t = conn.traffic();
    if (t === undefined || t.frames === 0) return { how, afterMs };
    const quietMs = Math.round(performance.now() - t.lastAt);
    return { how, afterMs, traffic: { frames: t.frames, quietMs, longestGapMs: Math.round(t.longestGapMs) } };
  };
  const e = await conn.next((x) => x.type === 'close' || x.type === 'end', silenceMs);
  if (e !== undefined) {
    const afterMs = elapsed(start);
    if (e.type === 'close') return { how: 'close', afterMs, code: e.code, reason: e.reason };
    return cut(e.type === 'end' && e.how === 'rst' ? 'rst' : 'fin');
  }
  if (pongTimeoutMs === undefined) return { how: 'unchecked', afterMs: elapsed(start) };
  const payload = randomBytes(8);
  const pingAt = performance.now();
  conn.ping(payload);
  const answer = await conn.next(
    (x) => (x.type === 'pong' && x.data.equals(payload)) || x.type === 'close' || x.type === 'end',
    pongTimeoutMs,
  );
  if (answer === undefined) return { how: 'silent', afterMs: elapsed(start) };
  if (answer.type === 'pong') return { how: 'alive', afterMs: elapsed(start), pongMs: elapsed(pingAt) };
  if (answer.type === 'close')
    return { how: 'close', afterMs: elapsed(start), code: answer.code, reason: answer.reason };
  return cut(answer.type === 'end' && answer.how === 'rst' ? 'rst' : 'fin');
}

export async function idleStep(
  conn: WsConn,
  silenceMs: number,
  pongTimeoutMs: number | undefined,
): Promise<StepResult> {
  const start = performance.now();
  const end = await watchIdle(conn, silenceMs, pongTimeoutMs);
  return { step: 'idle', ms: elapsed(start), verdict: judgeIdle(end, silenceMs), facts: { silenceMs, end } };
}

export function openConn(h: Handshake): WsConn {
  const deflate = extensionNames(headerValue(h.head.headers, 'sec-websocket-extensions')).includes(
    'permessage-deflate',
  );
  return new WsConn(h.socket, h.rest, deflate);
}
