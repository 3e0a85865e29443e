// upstreams[].proxyProtocol: wsgate writes a PROXY header (v1 or v2) at the start of every connection to the
// upstream, naming the client. The upstream here reads the header itself (parseProxyHeader), records it, and then
// serves HTTP, WebSocket echo (and TLS) on the rest of the connection, as HAProxy's accept-proxy or nginx's
// `listen … proxy_protocol` would.
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocketServer } from 'ws';
import {
  formatProxyV2,
  type ProxiedAddress,
  type ProxyHeader,
  parseProxyHeader,
} from '../../../src/net/proxy-protocol.ts';
import { RawClient, wsHandshake } from '../../helpers/raw.ts';
import { type CertAndKey, makeSelfSigned, tempDir, writePem } from '../../helpers/tls.ts';
import { openWs, roundTrip } from '../../helpers/ws-client.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';

type Arrival = { header?: ProxyHeader; invalid?: string; socket: net.Socket; closed: boolean };

/**
 * An upstream that expects a PROXY header on every connection: HTTP answers with the index of the connection the
 * request came on (JSON), WebSockets echo. With `pair`, the rest of the connection is TLS.
 */
async function startHeaderReadingUpstream(t: TestContext, pair?: CertAndKey) {
  const arrivals: Arrival[] = [];
  const app = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const conn = arrivals.findIndex(
      (a) => a.socket === req.socket || a.socket === (req.socket as { _parent?: unknown })._parent,
    );
    const body = JSON.stringify({ conn, url: req.url });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const server =
    pair === undefined ? http.createServer(app) : https.createServer({ cert: pair.cert, key: pair.key }, app);
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) =>
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })),
    ),
  );
  const front = net.createServer((socket) => {
    const arrival: Arrival = { socket, closed: false };
    arrivals.push(arrival);
    socket.on('error', () => {});
    socket.on('close', () => {
      arrival.closed = true;
    });
    let bytes = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      const parse = parseProxyHeader(bytes);
      if (parse.kind === 'more') return;
      socket.off('data', onData);
      socket.pause();
      if (parse.kind === 'invalid') {
        arrival.invalid = parse.reason;
        socket.destroy();
        return;
      }
      arrival.header = parse.header;
      if (bytes.length > parse.header.length) socket.unshift(bytes.subarray(parse.header.length));
      server.emit('connection', socket);
      // An HTTP server reads through 'data'; a TLS server reads the bytes put back itself.
      if (socket.listenerCount('data') > 0) socket.resume();
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const port = (front.address() as net.AddressInfo).port;
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const a of arrivals) a.socket.destroy();
        front.close(() => resolve());
      }),
  );
  return { port, arrivals };
}

function getJson(
  url: string,
  agent: http.Agent,
): Promise<{ body: { conn: number }; local: { address: string; port: number } }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
          local: { address: req.socket!.localAddress!, port: req.socket!.localPort! },
        }),
      );
    });
    req.on('error', reject);
  });
}

const LOOPBACK = (port: number): ProxiedAddress => ({ address: '127.0.0.1', port, family: 'IPv4' });

test('v1 on a WebSocket: the upstream reads the client and the address it connected to, then echoes', async (t) => {
  const upstream = await startHeaderReadingUpstream(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app' }], {
      upstreams: [{ name: 'app', url: `ws://127.0.0.1:${upstream.port}`, proxyProtocol: 'v1' }],
    }),
  );
  const ws = await openWs(`${gw.ws}/chat`);
  t.after(() => ws.terminate());
  const clientPort = (ws as unknown as { _socket: net.Socket })._socket.localPort!;
  assert.equal((await roundTrip(ws, 'hello')).data.toString(), 'hello');
  assert.equal(upstream.arrivals.length, 1);
  assert.deepEqual(upstream.arrivals[0]!.header, {
    version: 1,
    length: `PROXY TCP4 127.0.0.1 127.0.0.1 ${clientPort} ${gw.port}\r\n`.length,
    source: LOOPBACK(clientPort),
    destination: LOOPBACK(gw.port),
  });
});

test('v2 on plain requests: kept alive per client connection, never shared between clients, closed with it', async (t) => {
  const upstream = await startHeaderReadingUpstream(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app' }], {
      upstreams: [{ name: 'app', url: `http://127.0.0.1:${upstream.port}`, proxyProtocol: 'v2' }],
    }),
  );
  const alice = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const bob = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => {
    alice.destroy();
    bob.destroy();
  });
  const a1 = await getJson(`${gw.http}/a1`, alice);
  const b1 = await getJson(`${gw.http}/b1`, bob);
  const a2 = await getJson(`${gw.http}/a2`, alice);
  // Alice's two requests came on one connection of hers, and went on one upstream connection; Bob's on another.
  assert.equal(a1.local.port, a2.local.port);
  assert.equal(a1.body.conn, a2.body.conn);
  assert.notEqual(a1.body.conn, b1.body.conn);
  assert.equal(upstream.arrivals.length, 2);
  const named = (i: number) => upstream.arrivals[i]!.header?.source?.port;
  assert.equal(named(a1.body.conn), a1.local.port);
  assert.equal(named(b1.body.conn), b1.local.port);
  assert.deepEqual(upstream.arrivals[a1.body.conn]!.header?.destination, LOOPBACK(gw.port));
  assert.equal(upstream.arrivals[0]!.header?.version, 2);

  // Alice leaves: her upstream connection goes with her; Bob's stays.
  alice.destroy();
  const deadline = Date.now() + 5000;
  while (!upstream.arrivals[a1.body.conn]!.closed && Date.now() < deadline) await sleep(20);
  assert.equal(upstream.arrivals[a1.body.conn]!.closed, true);
  assert.equal(upstream.arrivals[b1.body.conn]!.closed, false);
});

test('wss and https upstreams: the header comes before the TLS handshake', async (t) => {
  const pair = await makeSelfSigned(['127.0.0.1']);
  const dir = tempDir(t);
  const upstream = await startHeaderReadingUpstream(t, pair);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app' }], {
      upstreams: [
        {
          name: 'app',
          url: `wss://127.0.0.1:${upstream.port}`,
          proxyProtocol: 'v2',
          tls: { ca: writePem(dir, 'up.pem', pair.cert) },
        },
      ],
    }),
  );
  const ws = await openWs(`${gw.ws}/secure`);
  t.after(() => ws.terminate());
  assert.equal((await roundTrip(ws, Buffer.from([1, 2, 3]))).data.length, 3);
  const agent = new http.Agent({ keepAlive: false });
  const plain = await getJson(`${gw.http}/over-tls`, agent);
  assert.equal(upstream.arrivals.length, 2);
  assert.equal(upstream.arrivals[plain.body.conn]!.header?.source?.port, plain.local.port);
  assert.ok(upstream.arrivals.every((a) => a.header?.version === 2 && a.invalid === undefined));
});

test('behind a balancer (listener proxyProtocol): the upstream hears of the client and address the balancer named', async (t) => {
  const upstream = await startHeaderReadingUpstream(t);
  const gw = await startTestWsgate(t, {
    listeners: [{ name: 'lb', bind: '127.0.0.1:0', proxyProtocol: true, routes: [{ upstream: 'app' }] }],
    upstreams: [{ name: 'app', url: `ws://127.0.0.1:${upstream.port}`, proxyProtocol: 'v1' }],
    shutdown: { grace: '200ms' },
  });
  const client: ProxiedAddress = { address: '203.0.113.9', port: 40123, family: 'IPv4' };
  const front: ProxiedAddress = { address: '198.51.100.2', port: 443, family: 'IPv4' };
  const raw = await RawClient.connect(t, gw.port);
  raw.write(Buffer.concat([formatProxyV2(client, front), Buffer.from(wsHandshake('/ws'))]));
  assert.equal((await raw.response()).status, 101);
  assert.deepEqual(upstream.arrivals[0]!.header?.source, client);
  assert.deepEqual(upstream.arrivals[0]!.header?.destination, front);
});

test('a TLS listener sends v2 with PP2_TYPE_SSL: the server behind learns its client used TLS', async (t) => {
  const pair = await makeSelfSigned(['127.0.0.1']);
  const dir = tempDir(t);
  const upstream = await startHeaderReadingUpstream(t);
  const gw = await startTestWsgate(t, {
    listeners: [
      {
        name: 'tls',
        bind: '127.0.0.1:0',
        tls: { cert: writePem(dir, 'c.pem', pair.cert), key: writePem(dir, 'k.pem', pair.key) },
        routes: [{ upstream: 'app' }],
      },
      { name: 'plain', bind: '127.0.0.1:0', routes: [{ upstream: 'app' }] },
    ],
    upstreams: [{ name: 'app', url: `ws://127.0.0.1:${upstream.port}`, proxyProtocol: 'v2' }],
    shutdown: { grace: '200ms' },
  });
  const ports = [...gw.running.listeners.values()].map((l) => l.port);
  const secure = await openWs(`wss://127.0.0.1:${ports[0]}/a`, { ca: pair.cert });
  t.after(() => secure.terminate());
  await roundTrip(secure, 'over tls');
  const plain = await openWs(`ws://127.0.0.1:${ports[1]}/b`);
  t.after(() => plain.terminate());
  await roundTrip(plain, 'plain');
  assert.deepEqual(
    upstream.arrivals.map((a) => [a.header?.destination?.port, a.header?.tls]),
    [
      [ports[0], true],
      [ports[1], undefined],
    ],
  );
});

test('health checks send a header that names no client (v2 LOCAL, v1 UNKNOWN) and keep the server in', async (t) => {
  const v2 = await startHeaderReadingUpstream(t);
  const v1 = await startHeaderReadingUpstream(t);
  const other = await startHeaderReadingUpstream(t);
  const gw = await startTestWsgate(t, {
    listeners: [
      { name: 'a', bind: '127.0.0.1:0', routes: [{ upstream: 'two' }] },
      { name: 'b', bind: '127.0.0.1:0', routes: [{ upstream: 'one' }] },
    ],
    upstreams: [
      {
        name: 'two',
        servers: [`http://127.0.0.1:${v2.port}`, `http://127.0.0.1:${other.port}`],
        proxyProtocol: 'v2',
        healthCheck: { interval: '100ms', path: '/health' },
      },
      {
        name: 'one',
        servers: [`http://127.0.0.1:${v1.port}`, `http://127.0.0.1:${other.port}`],
        proxyProtocol: 'v1',
        healthCheck: { interval: '100ms' },
      },
    ],
    shutdown: { grace: '200ms' },
  });
  // Those read so far (a check's connection may be opening right now).
  const read = (arrivals: Arrival[]) =>
    arrivals.filter((a) => a.header !== undefined || a.invalid !== undefined || a.closed);
  const deadline = Date.now() + 5000;
  while ((read(v2.arrivals).length < 2 || read(v1.arrivals).length < 2) && Date.now() < deadline) await sleep(20);
  for (const [upstream, version] of [
    [v2, 2],
    [v1, 1],
  ] as const) {
    const checks = read(upstream.arrivals);
    assert.ok(checks.length >= 2, 'checked at least twice');
    // Each began with a header of that version that names no address: a connection of wsgate's own.
    assert.deepEqual(
      checks.map((a) => [a.invalid, a.header?.version, a.header?.source]),
      checks.map(() => [undefined, version, undefined]),
    );
  }
  assert.equal(gw.logs.events('upstream.server_down').length, 0);
});
