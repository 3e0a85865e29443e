// Hostile cases 15 and 16 on a reverse listener, for plain requests (http-proxy-3) and WebSocket handshakes
// (wsgate's own forwarder), asserted on the raw bytes the upstream sink received.
//
// Case 15, and what is right for Authorization: RFC 9110 §7.6.1 says a proxy MUST remove every field the Connection
// header names, and does not exempt Authorization. A client that names its own Authorization only strips its own
// credentials, so wsgate follows the RFC. What a client must not be able to strip are the fields wsgate adds itself
// (X-Forwarded-For/-Proto/-Host are added after the strip, so naming them removes only the client's own value) and
// Host, on which wsgate chose the route: were it dropped, the upstream would pick another virtual host.
// Case 16: Proxy-Authorization (credentials for a proxy, never for the origin) and Proxy-Connection (a legacy
// Connection) never reach the upstream, nor anything Proxy-Connection names.
// Also here: the same rule on the way back (hop-by-hop fields in the upstream's response stay there, in a refusal of
// a handshake too, relayed byte for byte otherwise) and a client's `Connection: close` being honoured, which an
// upstream's keep-alive used to override.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { computeAcceptKey } from '../../src/websocket/handshake.ts';
import {
  assertHealthy,
  defaultResponder,
  exchange,
  RawClient,
  randomKey,
  startRawSink,
  wsHandshake,
} from '../helpers/raw.ts';
import { reverseConfig, startTestWsgate } from '../helpers/wsgate.ts';

async function setup(t: TestContext) {
  const sink = await startRawSink(t);
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: sink.wsUrl }]));
  return { sink, gw };
}

/** A request head's fields as lower-cased name → values, in order. */
function fields(head: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    out.set(name, [...(out.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return out;
}

const CASE_15 = [
  'Connection: close, X-Forwarded-For, Authorization, Host',
  'X-Forwarded-For: 203.0.113.66',
  'Authorization: Bearer client-secret',
  'X-Kept: yes',
];

const CASE_16 = [
  'Proxy-Authorization: Basic cHJveHk6c2VjcmV0',
  'Proxy-Connection: keep-alive, X-Proxy-Only',
  'X-Proxy-Only: 1',
  'Keep-Alive: timeout=600',
  'X-Kept: yes',
];

function assertCase15(head: string): void {
  const f = fields(head);
  assert.deepEqual(f.get('x-forwarded-for'), ['127.0.0.1'], 'only wsgate’s X-Forwarded-For, not the client’s');
  assert.equal(f.get('authorization'), undefined, 'Authorization named in Connection is stripped');
  assert.doesNotMatch(head, /client-secret|203\.0\.113\.66/);
  assert.deepEqual(f.get('host'), ['wsgate.test'], 'Host cannot be stripped through Connection');
  assert.deepEqual(f.get('x-kept'), ['yes']);
  assert.ok(f.get('x-forwarded-proto'), 'proxy-added X-Forwarded-Proto present');
  assert.ok(f.get('x-forwarded-host'), 'proxy-added X-Forwarded-Host present');
}

function assertCase16(head: string): void {
  assert.doesNotMatch(head, /proxy-authorization|proxy-connection|x-proxy-only|cHJveHk6c2VjcmV0|timeout=600/i);
  assert.deepEqual(fields(head).get('x-kept'), ['yes']);
}

test('case 15: fields named in Connection are stripped on a plain request; wsgate’s own survive', async (t) => {
  const { sink, gw } = await setup(t);
  const ex = await exchange(t, gw.port, `GET /h15 HTTP/1.1\r\nHost: wsgate.test\r\n${CASE_15.join('\r\n')}\r\n\r\n`);
  assert.equal(ex.response?.status, 200);
  assert.ok(ex.closed, 'the client’s Connection: close is honoured');
  assert.equal(ex.response?.headers.connection, 'close');
  assert.equal(sink.connections.flatMap((c) => c.heads).length, 1);
  assertCase15(sink.connections[0]!.heads[0]!);
  const access = await gw.logs.waitFor('http.access');
  assert.equal(access.status, 200);
  await assertHealthy(t, gw.port);
});

test('case 15: fields named in Connection are stripped on a WebSocket handshake', async (t) => {
  const { sink, gw } = await setup(t);
  const key = randomKey();
  const client = await RawClient.connect(t, gw.port);
  // The handshake's own Connection header is replaced with one that also names fields.
  client.write(wsHandshake('/ws15', CASE_15.slice(1), key).replace('Connection: Upgrade', `${CASE_15[0]}, Upgrade`));
  const res = await client.response();
  assert.equal(res.status, 101);
  assert.equal(res.headers['sec-websocket-accept'], computeAcceptKey(key));
  await gw.logs.waitFor('ws.open');
  const head = sink.connections[0]!.heads[0]!;
  assertCase15(head);
  const f = fields(head);
  assert.deepEqual(f.get('connection'), ['Upgrade'], 'only wsgate’s Connection header goes upstream');
  assert.deepEqual(f.get('upgrade'), ['websocket']);
  await assertHealthy(t, gw.port);
});

test('case 15: a client X-Forwarded-For not named in Connection is replaced, or from a trusted peer kept and appended to; Authorization passes', async (t) => {
  // Issue 11 item 6: only a peer in the listener's trustForwarded may vouch for earlier hops.
  for (const trustForwarded of [undefined, ['127.0.0.0/8']]) {
    const sink = await startRawSink(t);
    const config = reverseConfig([{ upstream: sink.wsUrl }]);
    const listener = (config['listeners'] as Record<string, unknown>[])[0]!;
    if (trustForwarded !== undefined) listener['trustForwarded'] = trustForwarded;
    const gw = await startTestWsgate(t, config);
    const ex = await exchange(
      t,
      gw.port,
      'GET / HTTP/1.1\r\nHost: wsgate.test\r\nX-Forwarded-For: 203.0.113.7\r\nAuthorization: Bearer ok\r\nConnection: close\r\n\r\n',
    );
    assert.equal(ex.response?.status, 200);
    const f = fields(sink.connections[0]!.heads[0]!);
    const expected = trustForwarded === undefined ? /^127\.0\.0\.1$/ : /^203\.0\.113\.7, ?127\.0\.0\.1$/;
    assert.match(f.get('x-forwarded-for')?.join() ?? '', expected);
    assert.deepEqual(f.get('authorization'), ['Bearer ok']);
  }
});

test('case 16: Proxy-Authorization and Proxy-Connection never reach the upstream (plain and WebSocket)', async (t) => {
  const { sink, gw } = await setup(t);
  const plain = await exchange(
    t,
    gw.port,
    `POST /h16 HTTP/1.1\r\nHost: wsgate.test\r\n${CASE_16.join('\r\n')}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`,
  );
  assert.equal(plain.response?.status, 200);
  const client = await RawClient.connect(t, gw.port);
  client.write(wsHandshake('/ws16', CASE_16));
  assert.equal((await client.response()).status, 101);
  await gw.logs.waitFor('ws.open');
  const heads = sink.connections.flatMap((c) => c.heads);
  assert.equal(heads.length, 2);
  for (const head of heads) assertCase16(head);
  // On the raw bytes too, not just the parsed heads.
  assert.doesNotMatch(sink.text(), /proxy-authorization|proxy-connection/i);
  await assertHealthy(t, gw.port);
});

test('hop-by-hop fields of the upstream’s response stay there; keep-alive follows the client', async (t) => {
  const sink = await startRawSink(
    t,
    () =>
      'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Upstream-Only\r\nKeep-Alive: timeout=600\r\nX-Upstream-Only: secret\r\nContent-Length: 2\r\n\r\nok',
  );
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: sink.httpUrl }]));
  const closing = await exchange(t, gw.port, 'GET / HTTP/1.1\r\nHost: wsgate.test\r\nConnection: close\r\n\r\n');
  assert.equal(closing.response?.status, 200);
  assert.equal(closing.response?.headers.connection, 'close');
  assert.ok(closing.closed, 'closed as the client asked, although the upstream keeps alive');
  assert.doesNotMatch(closing.raw.toString('latin1'), /x-upstream-only|timeout=600/i);
  // A keep-alive client keeps its connection: two requests on one socket.
  const client = await RawClient.connect(t, gw.port);
  client.write('GET /1 HTTP/1.1\r\nHost: wsgate.test\r\n\r\n');
  const first = await client.response();
  assert.equal(first.headers.connection, 'keep-alive');
  assert.equal(first.headers['x-upstream-only'], undefined);
  client.write('GET /2 HTTP/1.1\r\nHost: wsgate.test\r\n\r\n');
  await client.until((b) => b.toString('latin1').split('HTTP/1.1 200').length === 3, 'a second response');
  assert.equal(client.closed, false);
});

/**
 * Upstream refusals of a handshake, by path, as raw bytes: what Connection names, and the fixed hop-by-hop fields,
 * beside fields that must pass exactly (case, order, bytes beyond ASCII, the 426's Upgrade, a chunked body's framing).
 * The sink writes them as UTF-8: wsgate reads and writes head bytes as latin1, so they must come back the same.
 */
const REFUSALS: Record<string, { sent: string; relayed: string }> = {
  '/refuse-named': {
    sent: 'HTTP/1.1 403 Forbidden\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nContent-Length: 2\r\n\r\nno',
    relayed: 'HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno',
  },
  '/refuse-hop': {
    sent: [
      'HTTP/1.1 426 Upgrade Required',
      'upgrade: websocket',
      'Connection: Upgrade, x-hop-one',
      'X-Hop-One: a',
      'Keep-Alive: timeout=600',
      'Proxy-Connection: keep-alive, X-Legacy',
      'X-Legacy: b',
      'Proxy-Authenticate: Basic realm="upstream"',
      'connection: X-HOP-TWO',
      'x-hop-two: c',
      'X-Kept: café',
      'Sec-WebSocket-Version: 13',
      'Content-Length: 4',
      '',
      'nope',
    ].join('\r\n'),
    relayed: [
      'HTTP/1.1 426 Upgrade Required',
      'upgrade: websocket',
      'X-Kept: café',
      'Sec-WebSocket-Version: 13',
      'Content-Length: 4',
      'Connection: close',
      '',
      'nope',
    ].join('\r\n'),
  },
  '/refuse-chunked': {
    // The body goes on byte for byte, chunks and trailer included: the fields that frame it stay, named or not.
    sent: [
      'HTTP/1.1 503 Service Unavailable',
      'Connection: keep-alive, Transfer-Encoding, Trailer, X-Gone',
      'Transfer-Encoding: chunked',
      'Trailer: X-Check',
      'X-Gone: d',
      '',
      '2\r\nno\r\n0\r\nX-Check: 1\r\n\r\n',
    ].join('\r\n'),
    relayed: [
      'HTTP/1.1 503 Service Unavailable',
      'Transfer-Encoding: chunked',
      'Trailer: X-Check',
      'Connection: close',
      '',
      '2\r\nno\r\n0\r\nX-Check: 1\r\n\r\n',
    ].join('\r\n'),
  },
};

test('a relayed refusal of a handshake loses what its Connection names and the hop-by-hop fields, nothing else', async (t) => {
  const sink = await startRawSink(t, (head, conn) => {
    const path = /^\S+ (\S+)/.exec(head)?.[1] ?? '/';
    const refusal = REFUSALS[path];
    if (refusal === undefined) return defaultResponder(head);
    // Ends the chunked body's relay at once rather than at handshakeTimeout.
    setImmediate(() => conn.socket.end());
    return refusal.sent;
  });
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: sink.wsUrl }]));
  for (const [path, { relayed }] of Object.entries(REFUSALS)) {
    const ex = await exchange(t, gw.port, wsHandshake(path));
    assert.ok(ex.closed, `${path}: wsgate closes the connection after the refusal`);
    assert.equal(ex.raw.toString('latin1'), Buffer.from(relayed).toString('latin1'), path);
  }
  await assertHealthy(t, gw.port);
});
