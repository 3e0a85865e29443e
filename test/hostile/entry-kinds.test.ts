// Every limit and client-error case, run against every way a request can reach wsgate (issue 10): a reverse
// listener, a forward listener in absolute-form, plain HTTP inside a CONNECT tunnel, and HTTP inside an intercepted
// TLS session. One table of cases times the four kinds, so a door that skips a limit shows up as one failing row.
// Each case checks the exact status, the `x-wsgate-error` code, `Connection: close` and the connection closed,
// the coded log line (quoting the configured limit, not a built-in default), that the upstream received nothing,
// and that a fresh connection of the same kind is served afterwards.
//
// Inside a tunnel or an intercepted session there is one TCP connection: the parser limits apply to the requests
// inside it, while the connection limits count TCP connections to the listener (open tunnels).
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { assertHealthy, Channel, ENTRY_KINDS, type Entry, waitForLine } from '../helpers/entry-kinds.ts';
import { parseResponse, type RawResponse } from '../helpers/raw.ts';

type Refusal = {
  status: number;
  code: string;
  /** The log event that records the refusal. */
  event: 'http.client_error' | 'upgrade.denied';
  /** What the log message and the response body must say (the configured limit). */
  says?: RegExp;
};

type Case = {
  name: string;
  limits: Record<string, unknown>;
  run(t: TestContext, entry: Entry): Promise<void>;
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

/** A request wsgate must refuse on its own: answer, close, coded log line, nothing upstream, still healthy. */
function refusedRequest(
  name: string,
  limits: Record<string, unknown>,
  request: (entry: Entry) => string,
  expected: Refusal,
): Case {
  return {
    name,
    limits,
    async run(t, entry) {
      const channel = await entry.open(t);
      channel.write(request(entry));
      assertRefused(await channel.response(), expected);
      assert.ok(await channel.waitClosed(), 'wsgate closed the connection after the refusal');
      const line = await waitForLine(entry.logs, expected.event, (l) => l.code === expected.code);
      assert.equal(line.level, 'warn');
      if (expected.event === 'http.client_error') assert.equal(line.status, expected.status);
      if (expected.says) assert.match(String(line.msg), expected.says, 'the log line names the configured limit');
      assert.equal(entry.upstreamText(), '', 'the upstream received nothing');
      await assertHealthy(t, entry);
    },
  };
}

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
    { status: 408, code: 'WSG_HEADERS_TIMEOUT', event: 'http.client_error', says: /within 500 ?ms/ },
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
];

for (const kind of ENTRY_KINDS) {
  for (const c of CASES) {
    test(`${c.name} [${kind.name}]`, async (t) => {
      const entry = await kind.start(t, c.limits);
      await c.run(t, entry);
    });
  }
}
