// listeners[].proxyProtocol: wsgate behind a layer-4 balancer. Real sockets play the balancer: they write a PROXY
// header (v1 or v2) and then the client's bytes. The client it names is what the upstream's X-Forwarded-For, the
// access and ws.open lines, and per-client limits see; a connection without a valid header is refused and logged;
// TLS listeners read the header before the handshake.
import assert from 'node:assert/strict';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import tls from 'node:tls';
import { configFromObject } from '../../../src/config/load.ts';
import { formatProxyV1, formatProxyV2, type ProxiedAddress } from '../../../src/net/proxy-protocol.ts';
import { sslTlv } from '../../../src/net/proxy-protocol-tlv.ts';
import { parsePrometheusText, sampleValue } from '../../helpers/prom-text.ts';
import { parseResponse, RawClient, startRawSink, wsHandshake } from '../../helpers/raw.ts';
import { makeSelfSigned, tempDir, writePair } from '../../helpers/tls.ts';
import { startTestWsgate } from '../../helpers/wsgate.ts';

const CLIENT: ProxiedAddress = { address: '203.0.113.7', port: 51234, family: 'IPv4' };
const FRONT: ProxiedAddress = { address: '198.51.100.1', port: 80, family: 'IPv4' };
const CLIENT6: ProxiedAddress = { address: '2001:db8::7', port: 40000, family: 'IPv6' };
const FRONT6: ProxiedAddress = { address: '2001:db8::1', port: 80, family: 'IPv6' };

/** PP2_TYPE_AUTHORITY: the name the client asked the balancer for. */
function authorityTlv(name: string): Buffer {
  const value = Buffer.from(name);
  return Buffer.concat([Buffer.from([0x02, value.length >> 8, value.length & 0xff]), value]);
}

function get(path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: app.test\r\n${extra}\r\n`;
}

async function setup(
  t: TestContext,
  listener: Record<string, unknown> = {},
  limits: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) {
  const sink = await startRawSink(t);
  const gw = await startTestWsgate(t, {
    listeners: [
      { name: 'lb', bind: '127.0.0.1:0', proxyProtocol: true, routes: [{ upstream: sink.wsUrl }], ...listener },
    ],
    limits,
    shutdown: { grace: '200ms' },
    ...extra,
  });
  return { sink, gw };
}

/** The X-Forwarded-For the sink received on each request head, in order. */
function forwardedFor(heads: string[]): string[] {
  return heads.map((h) => /^x-forwarded-for:\s*(.*)$/im.exec(h)?.[1] ?? '(none)');
}

test('v1 and v2 headers: the client they name is the one the upstream, the access line and ws.open see', async (t) => {
  const { sink, gw } = await setup(t);
  const v1 = await RawClient.connect(t, gw.port);
  v1.write(formatProxyV1(CLIENT, FRONT) + get('/plain', 'Connection: close\r\n'));
  assert.equal((await v1.response()).status, 200);

  const v2 = await RawClient.connect(t, gw.port);
  v2.write(Buffer.concat([formatProxyV2(CLIENT6, FRONT6), Buffer.from(wsHandshake('/ws'))]));
  assert.equal((await v2.response()).status, 101);

  const heads = sink.connections.flatMap((c) => c.heads);
  assert.deepEqual(forwardedFor(heads), ['203.0.113.7', '2001:db8::7']);
  // The balancer beside the client, as `peer`.
  const access = await gw.logs.waitFor('http.access');
  assert.deepEqual([access.client, access.peer], ['203.0.113.7', '127.0.0.1']);
  const open = await gw.logs.waitFor('ws.open');
  assert.deepEqual([open.client, open.peer], ['2001:db8::7', '127.0.0.1']);
  // The balancer's own address is in the debug line of each connection.
  const proxied = gw.logs.events('conn.proxied');
  assert.deepEqual(
    proxied.map((l) => [l.peer, l.client, l.version]),
    [
      ['127.0.0.1', '203.0.113.7', 1],
      ['127.0.0.1', '2001:db8::7', 2],
    ],
  );
});

test('an IPv4 client named in IPv4-mapped form (TCP6 ::ffff:a.b.c.d) is its IPv4 address upstream and in the logs', async (t) => {
  const { sink, gw } = await setup(t);
  // HAProxy on a dual-stack socket names an IPv4 client this way; v2 carries the same address as 16 bytes.
  const mapped: ProxiedAddress = { address: '::ffff:127.0.0.1', port: 40002, family: 'IPv6' };
  const mappedFront: ProxiedAddress = { address: '::ffff:127.0.0.1', port: 80, family: 'IPv6' };
  const v1 = await RawClient.connect(t, gw.port);
  v1.write(formatProxyV1(mapped, mappedFront) + get('/plain', 'Connection: close\r\n'));
  assert.equal((await v1.response()).status, 200);
  const v2 = await RawClient.connect(t, gw.port);
  v2.write(Buffer.concat([formatProxyV2(mapped, mappedFront), Buffer.from(wsHandshake('/ws'))]));
  assert.equal((await v2.response()).status, 101);

  const heads = sink.connections.flatMap((c) => c.heads);
  assert.deepEqual(forwardedFor(heads), ['127.0.0.1', '127.0.0.1']);
  for (const head of heads) assert.match(head, /^forwarded: for=127\.0\.0\.1;proto=http;host=/im);
  const access = await gw.logs.waitFor('http.access');
  assert.equal(access.client, '127.0.0.1');
  const open = await gw.logs.waitFor('ws.open');
  assert.equal(open.client, '127.0.0.1');
  assert.deepEqual(
    gw.logs.events('conn.proxied').map((l) => l.client),
    ['127.0.0.1', '127.0.0.1'],
  );
});

test('a balancer that terminated TLS says so (v2 PP2_TYPE_SSL): the upstream is told https', async (t) => {
  const { sink, gw } = await setup(t);
  const proto = (head: string) => /^x-forwarded-proto:\s*(.*)$/im.exec(head)?.[1];
  const viaTls = await RawClient.connect(t, gw.port);
  const withSsl = formatProxyV2(CLIENT, FRONT, Buffer.concat([sslTlv('TLSv1.3'), authorityTlv('chat.example.com')]));
  viaTls.write(Buffer.concat([withSsl, Buffer.from(get('/secure', 'Connection: close\r\n'))]));
  assert.equal((await viaTls.response()).status, 200);
  const ws = await RawClient.connect(t, gw.port);
  ws.write(Buffer.concat([withSsl, Buffer.from(wsHandshake('/secure-ws'))]));
  assert.equal((await ws.response()).status, 101);
  const plain = await RawClient.connect(t, gw.port);
  plain.write(Buffer.concat([formatProxyV2(CLIENT, FRONT), Buffer.from(get('/plain', 'Connection: close\r\n'))]));
  assert.equal((await plain.response()).status, 200);
  // By path: the plain requests may share one kept-alive upstream connection.
  const heads = sink.connections.flatMap((c) => c.heads);
  const byPath = Object.fromEntries(heads.map((h) => [h.split(' ')[1], proto(h)]));
  assert.deepEqual(byPath, { '/secure': 'https', '/secure-ws': 'https', '/plain': 'http' });
  assert.match(heads.find((h) => h.includes('/secure-ws'))!, /^forwarded: .*proto=https/im);
  const proxied = gw.logs.events('conn.proxied');
  assert.deepEqual(
    proxied.map((l) => [l.tls, l.authority]),
    [
      [true, 'chat.example.com'],
      [true, 'chat.example.com'],
      [undefined, undefined],
    ],
  );
});

test('a header trickled byte by byte, then two pipelined requests: both answered in order, nothing lost', async (t) => {
  const { sink, gw } = await setup(t);
  const client = await RawClient.connect(t, gw.port);
  for (const byte of formatProxyV2(CLIENT, FRONT)) {
    client.write(Buffer.from([byte]));
    await new Promise((r) => setTimeout(r, 2));
  }
  client.write(get('/one') + get('/two', 'Connection: close\r\n'));
  const all = await client.until((b) => (b.toString('latin1').match(/HTTP\/1\.1 200/g) ?? []).length === 2, 'two 200s');
  assert.ok(all.length > 0);
  const heads = sink.connections.flatMap((c) => c.heads);
  assert.deepEqual(
    heads.map((h) => h.split(' ')[1]),
    ['/one', '/two'],
  );
  assert.deepEqual(forwardedFor(heads), ['203.0.113.7', '203.0.113.7']);
});

test('no header: HTTP gets a 400 that says why, anything else is closed; logged, counted, nothing reaches the upstream', async (t) => {
  const { sink, gw } = await setup(t, {}, {}, { inspector: { bind: '127.0.0.1:0' } });
  const plain = await RawClient.connect(t, gw.port);
  plain.write(get('/direct'));
  const answer = await plain.response();
  assert.equal(answer.status, 400);
  assert.equal(answer.headers['x-wsgate-error'], 'WSG_PROXY_HEADER_INVALID');
  assert.match(answer.body.toString(), /did not start with a valid PROXY protocol header/);
  assert.ok(await plain.waitClosed());

  const hello = await RawClient.connect(t, gw.port);
  hello.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x10]));
  assert.ok(await hello.waitClosed());
  assert.equal(hello.received.length, 0);

  const lines = gw.logs.events('conn.proxy_header_invalid');
  assert.equal(lines.length, 2);
  assert.equal(lines[0]!.peer, '127.0.0.1');
  assert.equal(lines[0]!.code, 'WSG_PROXY_HEADER_INVALID');
  assert.match(String(lines[0]!.reason), /"GET \/direct HTTP\/1\.1/);
  assert.match(String(lines[1]!.reason), /"\\x16\\x03\\x01\\x00\\x10"/);
  assert.equal(sink.accepted(), 0);
  const admin = gw.running.inspector!.admin.address.port;
  const metrics = parsePrometheusText(await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text());
  const refused = { listener: 'lb', code: 'WSG_PROXY_HEADER_INVALID' };
  assert.equal(sampleValue(metrics, 'wsgate_connections_refused_total', refused), 2);
});

test('a header that never comes: closed after limits.headersTimeout with one line', async (t) => {
  const { gw } = await setup(t, {}, { headersTimeout: '300ms' });
  const client = await RawClient.connect(t, gw.port);
  client.write('PROXY TCP4 203.0.113.7');
  const started = Date.now();
  assert.ok(await client.waitClosed(3000));
  assert.ok(Date.now() - started >= 200, 'not before the timeout');
  const line = await gw.logs.waitFor('conn.proxy_header_timeout');
  assert.equal(line.code, 'WSG_PROXY_HEADER_TIMEOUT');
  assert.equal(line.peer, '127.0.0.1');
});

test('v2 LOCAL (a balancer’s health check): served as the balancer itself', async (t) => {
  const { sink, gw } = await setup(t);
  const local = formatProxyV2(CLIENT, FRONT).subarray(0, 16);
  local[12] = 0x20;
  local[13] = 0x00;
  local.writeUInt16BE(0, 14);
  const client = await RawClient.connect(t, gw.port);
  client.write(Buffer.concat([local, Buffer.from(get('/health', 'Connection: close\r\n'))]));
  assert.equal((await client.response()).status, 200);
  assert.deepEqual(forwardedFor(sink.connections.flatMap((c) => c.heads)), ['127.0.0.1']);
  const access = await gw.logs.waitFor('http.access');
  assert.deepEqual([access.client, access.peer], ['127.0.0.1', undefined], 'no header address: no peer field');
});

test('proxyProtocol.from: only those peers must send the header; others connect as they are', async (t) => {
  const { sink, gw } = await setup(t, { proxyProtocol: { from: ['127.0.0.2'] } });
  const direct = await RawClient.connect(t, gw.port);
  direct.write(get('/direct', 'Connection: close\r\n'));
  assert.equal((await direct.response()).status, 200);

  const balancer = net.connect({ port: gw.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
  t.after(() => balancer.destroy());
  const received: Buffer[] = [];
  balancer.on('data', (c: Buffer) => received.push(c));
  balancer.write(formatProxyV1(CLIENT, FRONT) + get('/via-lb', 'Connection: close\r\n'));
  await new Promise<void>((resolve) => balancer.on('close', () => resolve()));
  assert.equal(parseResponse(Buffer.concat(received))?.status, 200);

  assert.deepEqual(forwardedFor(sink.connections.flatMap((c) => c.heads)), ['127.0.0.1', '203.0.113.7']);
});

test('per-client limits count the client the header names, not the balancer', async (t) => {
  const { gw } = await setup(t, {}, { maxConnectionsPerClient: 1 }, { inspector: { bind: '127.0.0.1:0' } });
  const first = await RawClient.connect(t, gw.port);
  first.write(formatProxyV1(CLIENT, FRONT) + get('/keep'));
  assert.equal((await first.response()).status, 200);
  // The same client again, while its first connection is open: over its limit, though the balancer is loopback.
  const again = await RawClient.connect(t, gw.port);
  again.write(formatProxyV1({ ...CLIENT, port: 51235 }, FRONT) + get('/again'));
  const refused = await again.response();
  assert.equal(refused.status, 503);
  assert.equal(refused.headers['x-wsgate-error'], 'WSG_TOO_MANY_CONNECTIONS');
  // Another client through the same balancer is its own count.
  const other = await RawClient.connect(t, gw.port);
  other.write(formatProxyV1({ ...CLIENT, address: '203.0.113.8' }, FRONT) + get('/other', 'Connection: close\r\n'));
  assert.equal((await other.response()).status, 200);
  const limit = await gw.logs.waitFor('conn.limit');
  assert.equal(limit.client, '203.0.113.7');
  const admin = gw.running.inspector!.admin.address.port;
  const metrics = parsePrometheusText(await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text());
  const counted = { listener: 'lb', code: 'WSG_TOO_MANY_CONNECTIONS' };
  assert.equal(sampleValue(metrics, 'wsgate_connections_refused_total', counted), 1);
});

test('TLS listener: the header comes before the handshake; the client it names is the request’s', async (t) => {
  const dir = tempDir(t);
  const cert = await makeSelfSigned(['app.test']);
  const pair = writePair(dir, 'server', cert);
  const { sink, gw } = await setup(t, { tls: pair });
  const raw = net.connect(gw.port, '127.0.0.1');
  t.after(() => raw.destroy());
  await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
  raw.write(formatProxyV2(CLIENT, FRONT));
  // The listener's certificate is verified (its own issuer, trusted as the only CA): for app.test, the name asked.
  const secure = tls.connect({ socket: raw, servername: 'app.test', ca: cert.cert });
  const received: Buffer[] = [];
  secure.on('data', (c: Buffer) => received.push(c));
  await new Promise<void>((resolve) => secure.once('secureConnect', () => resolve()));
  secure.write(get('/tls', 'Connection: close\r\n'));
  await new Promise<void>((resolve) => secure.on('close', () => resolve()));
  assert.equal(parseResponse(Buffer.concat(received))?.status, 200);
  assert.deepEqual(forwardedFor(sink.connections.flatMap((c) => c.heads)), ['203.0.113.7']);
  assert.equal((await gw.logs.waitFor('http.access')).client, '203.0.113.7');

  // A failed handshake behind the header is logged with the client too.
  const bad = net.connect(gw.port, '127.0.0.1');
  t.after(() => bad.destroy());
  bad.on('error', () => {});
  await new Promise<void>((resolve) => bad.once('connect', () => resolve()));
  // Plain HTTP where a ClientHello should be: OpenSSL refuses it at once.
  bad.write(Buffer.concat([formatProxyV2(CLIENT, FRONT), Buffer.from(get('/not-tls'))]));
  const failed = await gw.logs.waitFor('tls.handshake_failed');
  assert.equal(failed.client, '203.0.113.7');
});

test('a reload turns it on for new connections; shutdown does not wait for a header that never comes', async (t) => {
  const sink = await startRawSink(t);
  const listener = { name: 'lb', bind: '127.0.0.1:0', routes: [{ upstream: sink.wsUrl }] };
  const gw = await startTestWsgate(t, { listeners: [listener], shutdown: { grace: '200ms' } });
  const before = await RawClient.connect(t, gw.port);
  before.write(get('/before', 'Connection: close\r\n'));
  assert.equal((await before.response()).status, 200);

  const port = gw.port;
  await gw.running.reload(
    configFromObject(
      {
        listeners: [{ ...listener, bind: `127.0.0.1:${port}`, proxyProtocol: true }],
        limits: { headersTimeout: '60s' },
        shutdown: { grace: '200ms' },
      },
      '<test>',
    ),
  );
  const after = await RawClient.connect(t, port);
  after.write(formatProxyV1(CLIENT, FRONT) + get('/after', 'Connection: close\r\n'));
  assert.equal((await after.response()).status, 200);
  assert.deepEqual(forwardedFor(sink.connections.flatMap((c) => c.heads)), ['127.0.0.1', '203.0.113.7']);

  const silent = await RawClient.connect(t, port);
  const started = Date.now();
  await gw.running.shutdown();
  assert.ok(Date.now() - started < 2000, `shutdown took ${Date.now() - started} ms`);
  assert.ok(await silent.waitClosed(1000));
});

test('a forward listener takes the header too: absolute-form requests and CONNECT tunnels name the client', async (t) => {
  const sink = await startRawSink(t);
  const gw = await startTestWsgate(t, {
    listeners: [{ name: 'fwd', bind: '127.0.0.1:0', proxyProtocol: true, forward: {} }],
    shutdown: { grace: '200ms' },
  });
  const plain = await RawClient.connect(t, gw.port);
  plain.write(`${formatProxyV1(CLIENT, FRONT)}${get(`${sink.httpUrl}/absolute`, 'Connection: close\r\n')}`);
  assert.equal((await plain.response()).status, 200);
  const forwarded = await gw.logs.waitFor('http.access');
  assert.deepEqual([forwarded.client, forwarded.peer], ['203.0.113.7', '127.0.0.1']);

  const tunnel = await RawClient.connect(t, gw.port);
  const authority = `127.0.0.1:${sink.port}`;
  tunnel.write(`${formatProxyV1(CLIENT, FRONT)}CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  await tunnel.until((b) => b.toString('latin1').startsWith('HTTP/1.1 200'), 'the CONNECT answer');
  tunnel.write(get('/in-tunnel', 'Connection: close\r\n'));
  await tunnel.until((b) => (b.toString('latin1').match(/HTTP\/1\.1 200/g) ?? []).length === 2, 'the tunnelled answer');
  const connectLines = gw.logs.lines.filter((l) => String(l.event).startsWith('connect.') && l.client !== undefined);
  assert.ok(connectLines.length > 0, 'a connect line with the client');
  assert.ok(
    connectLines.every((l) => l.client === '203.0.113.7'),
    JSON.stringify(connectLines.map((l) => [l.event, l.client])),
  );
  // A WebSocket through the forward listener (absolute-form upgrade): its open line names the balancer too.
  const ws = await RawClient.connect(t, gw.port);
  ws.write(`${formatProxyV1(CLIENT, FRONT)}${wsHandshake(`${sink.wsUrl}/fwd-ws`)}`);
  assert.equal((await ws.response()).status, 101);
  const open = await gw.logs.waitFor('ws.open');
  assert.deepEqual([open.client, open.peer], ['203.0.113.7', '127.0.0.1']);
});
