// Every limit and client-error case, run against every way a request can reach wsgate (issue 10): a reverse
// listener, a forward listener in absolute-form, plain HTTP inside a CONNECT tunnel, and HTTP inside an intercepted
// TLS session. One table of cases times the four kinds, so a door that skips a limit shows up as one failing row.
// Each case checks the exact status, the `x-wsgate-error` code, `Connection: close` and the connection closed,
// the coded log line (quoting the configured limit, not a built-in default), that the upstream received nothing,
// that a connection opened beforehand is still served, and that a fresh connection of the same kind is served
// afterwards. The numbered rows are the hostile cases of ../shared/security/hostile-cases.md (map: CASES.md).
//
// Inside a tunnel or an intercepted session there is one TCP connection: the parser limits apply to the requests
// inside it, while the connection limits count TCP connections to the listener (open tunnels).
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { computeAcceptKey } from '../../src/websocket/handshake.ts';
import {
  ABSOLUTE_FORM,
  assertHealthy,
  Channel,
  ENTRY_KINDS,
  type Entry,
  type EntryKind,
  type EntryOptions,
  REVERSE,
  waitForLine,
} from '../helpers/entry-kinds.ts';
import { defaultResponder, parseResponse, type RawResponse, randomKey, type SinkResponder } from '../helpers/raw.ts';
import type { LogLine } from '../helpers/wsgate.ts';

type Refusal = {
  status: number;
  code: string;
  /** The log event that records the refusal. */
  event: 'http.client_error' | 'upgrade.denied';
  /** What the log message and the response body must say (the configured limit). */
  says?: RegExp;
  /** More fields the log line must carry (e.g. the refused Upgrade token). */
  fields?: Record<string, unknown>;
  /** False where a connection idle beside the refused one would itself be refused (the headers timeout). */
  parallel?: boolean;
};

type Case = {
  name: string;
  limits: Record<string, unknown>;
  /** How the kind is started beyond its limits (e.g. how its upstream answers). */
  options?: EntryOptions;
  run(t: TestContext, entry: Entry, kind: EntryKind): Promise<void>;
};

function junkHeaders(count: number): string {
  let out = '';
  for (let i = 0; i < count; i += 1) out += `X-Junk-${i}: v\r\n`;
  return out;
}

function assertRefused(res: RawResponse, expected: Omit<Refusal, 'event'>): void {
  const shown = `${res.statusLine} ${res.body.toString('latin1').slice(0, 300)}`;
  assert.equal(res.status, expected.status, shown);
  assert.equal(res.headers['x-wsgate-error'], expected.code, shown);
  assert.equal(res.headers.connection, 'close', shown);
  if (expected.says) assert.match(res.body.toString('utf8'), expected.says, 'the response body names the limit');
}

/** A connection of the entry's kind opened before a hostile one, and served after it (one request). */
async function assertParallelServed(parallel: Channel, entry: Entry): Promise<void> {
  parallel.write(`GET ${entry.target('/parallel')} HTTP/1.1\r\nHost: ${entry.host}\r\nConnection: close\r\n\r\n`);
  const res = await parallel.response();
  assert.equal(res.status, 200, `the parallel connection: ${res.statusLine} ${res.body.toString('latin1')}`);
  assert.equal(res.body.toString(), 'ok');
}

/**
 * Requests wsgate must refuse on its own, each on a fresh connection: answer, close, one coded log line each,
 * nothing upstream, a connection opened before them still served, and a fresh one served after.
 */
function refusedRequests(
  name: string,
  limits: Record<string, unknown>,
  requests: (entry: Entry) => readonly string[],
  expected: Refusal,
): Case {
  return {
    name,
    limits,
    async run(t, entry) {
      const parallel = expected.parallel === false ? undefined : await entry.open(t);
      const sent = requests(entry);
      for (const request of sent) {
        const channel = await entry.open(t);
        channel.write(request);
        assertRefused(await channel.response(), expected);
        assert.ok(await channel.waitClosed(), 'wsgate closed the connection after the refusal');
        channel.destroy();
      }
      const matches = (l: LogLine) =>
        l.code === expected.code && Object.entries(expected.fields ?? {}).every(([k, v]) => l[k] === v);
      await waitForLine(entry.logs, expected.event, matches);
      const deadline = Date.now() + 3000;
      while (entry.logs.events(expected.event).filter(matches).length < sent.length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const lines = entry.logs.events(expected.event).filter(matches);
      assert.equal(lines.length, sent.length, `one ${expected.event} line per refusal: ${JSON.stringify(lines)}`);
      for (const line of lines) {
        assert.equal(line.level, 'warn');
        if (expected.event === 'http.client_error') assert.equal(line.status, expected.status);
        if (expected.says) assert.match(String(line.msg), expected.says, 'the log line names the configured limit');
      }
      assert.equal(entry.upstreamText(), '', 'the upstream received nothing');
      if (parallel !== undefined) await assertParallelServed(parallel, entry);
      await assertHealthy(t, entry);
    },
  };
}

/** One request wsgate must refuse on its own (see refusedRequests). */
function refusedRequest(
  name: string,
  limits: Record<string, unknown>,
  request: (entry: Entry) => string,
  expected: Refusal,
): Case {
  return refusedRequests(name, limits, (entry) => [request(entry)], expected);
}

/** A WebSocket handshake of the entry's kind for `path`, with `extra` header lines (and `body` after the head). */
function handshake(entry: Entry, path: string, extra: readonly string[] = [], method = 'GET', body = ''): string {
  return [
    `${method} ${entry.target(path)} HTTP/1.1`,
    `Host: ${entry.host}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    `Sec-WebSocket-Key: ${randomKey()}`,
    ...extra,
    '',
    body,
  ].join('\r\n');
}

/** A request head's fields as lower-cased name → values, in order. */
function fieldsOf(head: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    out.set(name, [...(out.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return out;
}

/** The request heads the upstream received, once `count` of them have arrived. */
async function upstreamHeads(entry: Entry, count: number): Promise<string[]> {
  const heads = () => entry.sink.connections.flatMap((c) => c.heads);
  const deadline = Date.now() + 3000;
  while (heads().length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(heads().length, count, `upstream heads: ${JSON.stringify(heads())}`);
  return heads();
}

/**
 * Waits (bounded) until wsgate has let go of every upstream connection that carried a request. (A tunnel kind
 * dials its upstream before any request: the parallel connection's stays open and idle.)
 */
async function assertUpstreamClosed(entry: Entry): Promise<void> {
  const deadline = Date.now() + 5000;
  const open = () => entry.sink.connections.filter((c) => c.heads.length > 0 && !c.closed).length;
  while (open() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(open(), 0, 'wsgate closed its upstream connection');
}

/** The upstream's answer by path: refusals and broken 101s on purpose (cases 19 and 20), defaults otherwise. */
const badUpstream: SinkResponder = (head) => {
  const path = /^\S+ (\S+)/.exec(head)?.[1] ?? '/';
  const accept = computeAcceptKey(/^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? '');
  if (path.endsWith('/refuse')) {
    // Keep-alive, as an upstream that would read whatever comes next on the socket as a new request.
    return 'HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nContent-Length: 4\r\n\r\nnope';
  }
  if (path.endsWith('/no-accept'))
    return 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
  if (path.endsWith('/wrong-accept')) {
    return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAcceptKey(randomKey())}\r\n\r\n`;
  }
  if (path.endsWith('/h2c')) {
    return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
  }
  return defaultResponder(head);
};

const CASES: readonly Case[] = [
  refusedRequest(
    'request line over limits.maxRequestLineBytes gets 414',
    { maxRequestLineBytes: 256 },
    (e) => `GET ${e.target(`/${'a'.repeat(300)}`)} HTTP/1.1\r\nHost: ${e.host}\r\n\r\n`,
    { status: 414, code: 'WSG_URI_TOO_LONG', event: 'http.client_error', says: /longer than 256 bytes/ },
  ),
  refusedRequest(
    'more header fields than limits.maxHeaderCount gets 431',
    { maxHeaderCount: 20 },
    (e) => `GET ${e.target('/many')} HTTP/1.1\r\nHost: ${e.host}\r\n${junkHeaders(30)}\r\n`,
    { status: 431, code: 'WSG_HEADERS_TOO_LARGE', event: 'http.client_error', says: /more than 20 header fields/ },
  ),
  refusedRequest(
    'head over limits.maxHeaderBytes gets 431',
    { maxHeaderBytes: '2KiB' },
    (e) => `GET ${e.target('/big')} HTTP/1.1\r\nHost: ${e.host}\r\nX-Big: ${'b'.repeat(4096)}\r\n\r\n`,
    { status: 431, code: 'WSG_HEADERS_TOO_LARGE', event: 'http.client_error', says: /larger than 2048 bytes/ },
  ),
  refusedRequest(
    'head unfinished after limits.headersTimeout gets 408',
    { headersTimeout: '500ms' },
    // Never finished: the blank line that ends the head does not come.
    (e) => `GET ${e.target('/slow')} HTTP/1.1\r\nHost: ${e.host}\r\nX-Slow: 1\r\n`,
    { status: 408, code: 'WSG_HEADERS_TIMEOUT', event: 'http.client_error', says: /within 500 ?ms/, parallel: false },
  ),
  refusedRequest(
    'a header name with a space gets 400',
    {},
    (e) => `GET ${e.target('/bad')} HTTP/1.1\r\nHost: ${e.host}\r\nBad Header: x\r\n\r\n`,
    { status: 400, code: 'WSG_BAD_REQUEST', event: 'http.client_error' },
  ),
  refusedRequest(
    'Content-Length with Transfer-Encoding (CL.TE smuggling) gets 400',
    {},
    (e) =>
      `POST ${e.target('/cl-te')} HTTP/1.1\r\nHost: ${e.host}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n` +
      `0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: ${e.host}\r\n\r\n`,
    { status: 400, code: 'WSG_BAD_REQUEST', event: 'http.client_error' },
  ),
  refusedRequest(
    'an Upgrade: websocket without Sec-WebSocket-Key gets 400',
    {},
    (e) =>
      `GET ${e.target('/ws')} HTTP/1.1\r\nHost: ${e.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    { status: 400, code: 'WSG_HANDSHAKE_INVALID', event: 'upgrade.denied' },
  ),
  {
    name: 'over limits.maxConnections a new TCP connection is closed and logged; a freed slot serves again',
    limits: { maxConnections: 2 },
    async run(t, entry) {
      const held = [await entry.open(t), await entry.open(t)];
      const extra = await Channel.tcp(t, entry.port);
      extra.write(entry.opening || `GET ${entry.target('/extra')} HTTP/1.1\r\nHost: ${entry.host}\r\n\r\n`);
      assert.ok(await extra.waitClosed(), 'the connection over the limit is closed by wsgate');
      // Closed at once, or (should a front answer it) with a 503: never served.
      const answer = parseResponse(extra.received);
      if (extra.received.length > 0) {
        assert.equal(answer?.status, 503, extra.received.toString('latin1').slice(0, 300));
        assert.equal(answer?.headers['x-wsgate-error'], 'WSG_TOO_MANY_CONNECTIONS');
      }
      const line = await waitForLine(entry.logs, 'conn.limit', (l) => l.scope === 'listener');
      assert.equal(line.limit, 2);
      assert.equal(entry.upstreamText(), '', 'the upstream received nothing');
      held[0]!.destroy();
      await new Promise((r) => setTimeout(r, 150));
      await assertHealthy(t, entry);
      assert.ok(!held[1]!.closed, 'the connections within the limit stayed open');
    },
  },
  {
    name: 'over limits.maxConnectionsPerClient (loopback not exempt) a connection gets 503 and is logged',
    limits: { maxConnectionsPerClient: 2, exemptLoopbackClients: false },
    async run(t, entry) {
      const held = [await entry.open(t), await entry.open(t)];
      const extra = await Channel.tcp(t, entry.port);
      if (entry.opening) extra.write(entry.opening);
      assertRefused(await extra.response(), { status: 503, code: 'WSG_TOO_MANY_CONNECTIONS' });
      assert.ok(await extra.waitClosed(), 'wsgate closed the connection after the 503');
      const line = await waitForLine(entry.logs, 'conn.limit', (l) => l.scope === 'client');
      assert.equal(line.code, 'WSG_TOO_MANY_CONNECTIONS');
      assert.equal(line.limit, 2);
      assert.equal(entry.upstreamText(), '', 'the upstream received nothing');
      held[0]!.destroy();
      await new Promise((r) => setTimeout(r, 150));
      await assertHealthy(t, entry);
      assert.ok(!held[1]!.closed, 'the connections within the limit stayed open');
    },
  },
  // Hostile cases 9-11 at the default limits (8 KiB request line, 16 KiB / 100 header fields), plain and upgrade.
  refusedRequests(
    'case 9: a 9 KiB request line gets 414 at the default limit, plain or upgrade',
    {},
    (e) => {
      const path = `/${'a'.repeat(9 * 1024)}`;
      return [`GET ${e.target(path)} HTTP/1.1\r\nHost: ${e.host}\r\n\r\n`, handshake(e, path)];
    },
    { status: 414, code: 'WSG_URI_TOO_LONG', event: 'http.client_error', says: /longer than 8192 bytes/ },
  ),
  refusedRequests(
    'case 10: one 20 KiB header gets 431 at the default limit, plain or upgrade',
    {},
    (e) => {
      const big = `X-Big: ${'b'.repeat(20 * 1024)}`;
      return [`GET ${e.target('/big')} HTTP/1.1\r\nHost: ${e.host}\r\n${big}\r\n\r\n`, handshake(e, '/big', [big])];
    },
    { status: 431, code: 'WSG_HEADERS_TOO_LARGE', event: 'http.client_error', says: /larger than 16384 bytes/ },
  ),
  refusedRequest(
    'case 10: 150 small headers get 431 at the default limit (100 fields)',
    {},
    (e) => `GET ${e.target('/many')} HTTP/1.1\r\nHost: ${e.host}\r\n${junkHeaders(149)}\r\n`,
    { status: 431, code: 'WSG_HEADERS_TOO_LARGE', event: 'http.client_error', says: /more than 100 header fields/ },
  ),
  refusedRequest(
    'case 11: 2000 junk headers before the upgrade headers (CVE-2024-37890 shape) get 431, no tunnel',
    {},
    // About 12 KiB: under the size limit, far over the count, so a server dropping fields past its count would
    // lose the Upgrade and Sec-WebSocket-Key lines.
    (e) => handshake(e, '/ws').replace(`Host: ${e.host}\r\n`, `Host: ${e.host}\r\n${'a: b\r\n'.repeat(2000)}`),
    { status: 431, code: 'WSG_HEADERS_TOO_LARGE', event: 'http.client_error', says: /more than 100 header fields/ },
  ),
  refusedRequests(
    'case 13: TE.CL, two lengths, chunked not last, CL+TE on an upgrade: 400 each',
    {},
    (e) => {
      const smuggled = `GET ${e.target('/smuggled')} HTTP/1.1\r\nHost: ${e.host}\r\n\r\n`;
      const post = `POST ${e.target('/te')} HTTP/1.1\r\nHost: ${e.host}\r\n`;
      return [
        `${post}Transfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\n${smuggled}`,
        `${post}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
        `${post}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
        handshake(e, '/ws', ['Content-Length: 5', 'Transfer-Encoding: chunked'], 'GET', '0\r\n\r\n'),
      ];
    },
    { status: 400, code: 'WSG_BAD_REQUEST', event: 'http.client_error' },
  ),
  // Hostile cases 17 and 18: upgrades that are not WebSocket handshakes never become tunnels.
  refusedRequest(
    'case 17: Upgrade: h2c with HTTP2-Settings gets 400, logged with its token, never a tunnel',
    {},
    (e) =>
      handshake(e, '/h2c', ['HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA'])
        .replace('Connection: Upgrade', 'Connection: Upgrade, HTTP2-Settings')
        .replace('Upgrade: websocket', 'Upgrade: h2c') + 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    {
      status: 400,
      code: 'WSG_HANDSHAKE_INVALID',
      event: 'upgrade.denied',
      says: /only websocket is proxied/,
      fields: { token: 'h2c' },
    },
  ),
  refusedRequests(
    'case 18: an upgrade on POST, or with a body, gets 400 and no tunnel',
    {},
    (e) => [
      handshake(e, '/ws', ['Content-Length: 5'], 'POST', 'hello'),
      handshake(e, '/ws', ['Content-Length: 5'], 'GET', 'hello'),
      handshake(e, '/ws', ['Transfer-Encoding: chunked'], 'GET', '5\r\nhello\r\n0\r\n\r\n'),
    ],
    { status: 400, code: 'WSG_HANDSHAKE_INVALID', event: 'upgrade.denied', fields: { token: 'websocket' } },
  ),
  {
    name: 'case 14: an absolute-form target with another Host: the upstream gets the target’s authority as Host',
    limits: {},
    async run(t, entry) {
      const parallel = await entry.open(t);
      // The same authority the kind's own requests name, so that every kind routes it to its sink.
      const plain = await entry.open(t);
      plain.write(`GET http://${entry.host}/abs14 HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n`);
      const res = await plain.response();
      assert.equal(res.status, 200, `${res.statusLine} ${res.body.toString('latin1')}`);
      const ws = await entry.open(t);
      ws.write(
        handshake(entry, '/ws14')
          .replace(/^GET \S+/, `GET http://${entry.host}/ws14`)
          .replace(`Host: ${entry.host}`, 'Host: b.test'),
      );
      assert.equal((await ws.response()).status, 101);
      const heads = await upstreamHeads(entry, 2);
      for (const head of heads) {
        assert.match(head, /^GET \/(abs|ws)14 HTTP\/1\.1\r\n/, 'origin-form upstream');
        assert.deepEqual(fieldsOf(head).get('host'), [entry.host], head);
        assert.doesNotMatch(head, /b\.test/, 'the client’s Host is not forwarded anywhere');
      }
      ws.destroy();
      await assertParallelServed(parallel, entry);
    },
  },
  {
    name: 'cases 15 and 16: fields named in Connection, Proxy-Authorization and Proxy-Connection stop at wsgate',
    limits: {},
    async run(t, entry, kind) {
      const parallel = await entry.open(t);
      const hostile = [
        'X-Forwarded-For: 203.0.113.66',
        'Authorization: Bearer client-secret',
        'Proxy-Authorization: Basic cHJveHk6c2VjcmV0',
        'Proxy-Connection: keep-alive, X-Proxy-Only',
        'X-Proxy-Only: 1',
        'Keep-Alive: timeout=600',
        'X-Kept: yes',
      ];
      const plain = await entry.open(t);
      plain.write(
        `GET ${entry.target('/h15')} HTTP/1.1\r\nHost: ${entry.host}\r\nConnection: close, X-Forwarded-For, Authorization\r\n${hostile.join('\r\n')}\r\n\r\n`,
      );
      assert.equal((await plain.response()).status, 200);
      assert.ok(await plain.waitClosed(), 'the client’s Connection: close is honoured');
      const ws = await entry.open(t);
      ws.write(
        handshake(entry, '/ws15', hostile).replace(
          'Connection: Upgrade',
          'Connection: X-Forwarded-For, Authorization, Upgrade',
        ),
      );
      assert.equal((await ws.response()).status, 101);
      const heads = await upstreamHeads(entry, 2);
      for (const head of heads) {
        const f = fieldsOf(head);
        assert.doesNotMatch(head, /client-secret|203\.0\.113\.66|cHJveHk6c2VjcmV0|timeout=600/, head);
        assert.doesNotMatch(head, /^(authorization|proxy-authorization|proxy-connection|x-proxy-only|keep-alive):/im);
        assert.deepEqual(f.get('x-kept'), ['yes']);
        assert.deepEqual(f.get('host'), [entry.host], 'Host cannot be stripped through Connection');
        if (kind === REVERSE) {
          // A reverse proxy vouches for what it saw: its own fields, after the client's were dropped.
          assert.deepEqual(f.get('x-forwarded-for'), ['127.0.0.1'], 'only wsgate’s X-Forwarded-For');
          assert.ok(f.get('x-forwarded-proto') && f.get('forwarded'), 'wsgate’s X-Forwarded-Proto and Forwarded');
        } else {
          // Forward proxies add no forwarding fields; the one the client named in Connection is gone.
          assert.equal(f.get('x-forwarded-for'), undefined, head);
          assert.equal(f.get('via') !== undefined, kind === ABSOLUTE_FORM, 'Via on absolute-form only');
        }
      }
      ws.destroy();
      await assertParallelServed(parallel, entry);
    },
  },
  // Hostile cases 19 and 20: the two WebSocket smuggling shapes, with the upstream answering wrongly on purpose.
  {
    name: 'case 19: an upstream’s 426 reaches the client, the connection closes, a request after it never goes upstream',
    limits: {},
    options: { respond: badUpstream },
    async run(t, entry) {
      const parallel = await entry.open(t);
      const client = await entry.open(t);
      client.write(handshake(entry, '/refuse'));
      const refusal = await client.response();
      assert.equal(refusal.status, 426, 'the client gets the upstream’s own answer');
      assert.equal(refusal.headers.connection, 'close');
      assert.equal(refusal.body.toString(), 'nope');
      client.write(`GET ${entry.target('/internal')} HTTP/1.1\r\nHost: ${entry.host}\r\n\r\n`);
      assert.ok(await client.waitClosed(), 'wsgate closes the connection after a refused upgrade');
      assert.equal(client.received.toString('latin1').match(/HTTP\/1\.1 /g)?.length, 1, 'exactly one response');
      const refused = await waitForLine(entry.logs, 'ws.refused', () => true);
      assert.equal(refused.status, 426);
      await assertUpstreamClosed(entry);
      assert.deepEqual(entry.sink.requestLines(), ['GET /refuse HTTP/1.1'], 'the upstream saw no second request');
      await assertParallelServed(parallel, entry);
      await assertHealthy(t, entry);
    },
  },
  {
    name: 'case 20: an upstream 101 without, or with a wrong, Sec-WebSocket-Accept, or to h2c: 502, upstream cut',
    limits: {},
    options: { respond: badUpstream },
    async run(t, entry) {
      const parallel = await entry.open(t);
      const paths = ['/no-accept', '/wrong-accept', '/h2c'];
      for (const path of paths) {
        const client = await entry.open(t);
        client.write(
          `${handshake(entry, path)}GET ${entry.target('/internal')} HTTP/1.1\r\nHost: ${entry.host}\r\n\r\n`,
        );
        assertRefused(await client.response(), { status: 502, code: 'WSG_UPSTREAM_BAD_RESPONSE' });
        assert.ok(await client.waitClosed(), `${path}: the client connection is closed`);
        client.destroy();
      }
      await waitForLine(entry.logs, 'ws.handshake.bad_accept', () => true);
      const deadline = Date.now() + 3000;
      while (entry.logs.events('ws.handshake.bad_accept').length < paths.length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const lines = entry.logs.events('ws.handshake.bad_accept');
      assert.equal(lines.length, paths.length, JSON.stringify(lines));
      assert.ok(lines.every((l) => l.code === 'WSG_UPSTREAM_BAD_RESPONSE' && l.level === 'warn'));
      assert.equal(entry.logs.events('ws.open').length, 0, 'no session opened');
      await assertUpstreamClosed(entry);
      assert.deepEqual(
        entry.sink.requestLines(),
        paths.map((p) => `GET ${p} HTTP/1.1`),
        'nothing followed the handshakes upstream',
      );
      await assertParallelServed(parallel, entry);
      await assertHealthy(t, entry);
    },
  },
];

for (const kind of ENTRY_KINDS) {
  for (const c of CASES) {
    test(`${c.name} [${kind.name}]`, async (t) => {
      const entry = await kind.start(t, c.limits, c.options);
      await c.run(t, entry, kind);
    });
  }
}
