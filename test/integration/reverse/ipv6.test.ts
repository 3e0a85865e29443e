// A reverse listener on [::1] in front of an upstream on [::1]: per-client limits count the IPv6 client, and a
// connection they refuse is answered 503 and nothing more: its request never reaches the upstream, whether the
// client's address is the peer's or a PROXY header's. Loopback stays exempt in every spelling a header may give it.
// A route's IPv6 host matches every spelling of its address in the Host header. An IPv4 client of a dual-stack
// listener is named by its IPv4 address, not the IPv4-mapped one Node reports.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import tls from 'node:tls';
import { formatProxyV1, type ProxiedAddress } from '../../../src/net/proxy-protocol.ts';
import { parseResponse, RawClient, startRawSink, wsHandshake } from '../../helpers/raw.ts';
import { makeSelfSigned, tempDir, writePair } from '../../helpers/tls.ts';
import { startTestWsgate } from '../../helpers/wsgate.ts';

const CLIENT6: ProxiedAddress = { address: '2001:db8::7', port: 40000, family: 'IPv6' };
const FRONT6: ProxiedAddress = { address: '2001:db8::1', port: 80, family: 'IPv6' };

async function setup(t: TestContext, listener: Record<string, unknown> = {}, limits: Record<string, unknown> = {}) {
  const sink = await startRawSink(t, undefined, '::1');
  const gw = await startTestWsgate(t, {
    listeners: [{ name: 'v6', bind: '[::1]:0', routes: [{ upstream: sink.wsUrl }], ...listener }],
    limits,
    shutdown: { grace: '200ms' },
  });
  return { sink, gw };
}

for (const proxied of [false, true]) {
  const how = proxied ? 'named by a PROXY header' : 'the peer itself';
  test(`over maxConnectionsPerClient, an IPv6 client (${how}) gets 503 and the upstream never sees the request`, async (t) => {
    const { sink, gw } = await setup(t, proxied ? { proxyProtocol: true } : {}, {
      maxConnectionsPerClient: 1,
      exemptLoopbackClients: false,
    });
    const header = proxied ? formatProxyV1(CLIENT6, FRONT6) : '';
    const first = await RawClient.connect(t, gw.port, '::1');
    first.write(`${header}GET /kept HTTP/1.1\r\nHost: [::1]\r\n\r\n`);
    assert.equal((await first.response()).status, 200);
    // The request comes with the connection (as a balancer's or a browser's first bytes do).
    for (const opening of [`GET /refused HTTP/1.1\r\nHost: [::1]\r\n\r\n`, wsHandshake('/refused-ws')]) {
      const again = await RawClient.connect(t, gw.port, '::1');
      again.write(header + opening);
      const refused = await again.response();
      assert.equal(refused.status, 503);
      assert.equal(refused.headers['x-wsgate-error'], 'WSG_TOO_MANY_CONNECTIONS');
      assert.ok(await again.waitClosed(), 'wsgate closed the refused connection');
    }
    const limit = await gw.logs.waitFor('conn.limit');
    assert.equal(limit.client, proxied ? CLIENT6.address : '::1');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(sink.requestLines(), ['GET /kept HTTP/1.1'], 'only the admitted request reached the upstream');
    assert.deepEqual(
      gw.logs.events('http.access').map((l) => l.path),
      ['/kept'],
      'no access line for a request of a refused connection',
    );
  });
}

test('a PROXY header naming the IPv4-mapped loopback client leaves it exempt from maxConnectionsPerClient', async (t) => {
  const { sink, gw } = await setup(t, { proxyProtocol: true }, { maxConnectionsPerClient: 1 });
  // HAProxy on a dual-stack socket writes a local IPv4 client this way (TCP6 with ::ffff:127.0.0.1).
  const local: ProxiedAddress = { address: '::ffff:127.0.0.1', port: 40001, family: 'IPv6' };
  const held: RawClient[] = [];
  for (const path of ['/one', '/two']) {
    const client = await RawClient.connect(t, gw.port, '::1');
    client.write(
      `${formatProxyV1({ ...local, port: local.port + held.length }, FRONT6)}GET ${path} HTTP/1.1\r\nHost: [::1]\r\n\r\n`,
    );
    held.push(client);
    assert.equal((await client.response()).status, 200, `${path}: loopback clients are not counted`);
  }
  assert.deepEqual(sink.requestLines(), ['GET /one HTTP/1.1', 'GET /two HTTP/1.1']);
  assert.equal(gw.logs.events('conn.limit').length, 0);
});

test('a route for host [::1] takes requests and handshakes whose Host writes ::1 another way', async (t) => {
  const sink = await startRawSink(t, undefined, '::1');
  const gw = await startTestWsgate(t, {
    listeners: [{ name: 'v6', bind: '[::1]:0', routes: [{ match: { host: '[::1]' }, upstream: sink.wsUrl }] }],
    shutdown: { grace: '200ms' },
  });
  const hosts = [`[0:0:0:0:0:0:0:1]:${gw.port}`, '[0:0::1]', `[0000::0001]:${gw.port}`];
  for (const [i, host] of hosts.entries()) {
    const client = await RawClient.connect(t, gw.port, '::1');
    client.write(`GET /plain-${i} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    assert.equal((await client.response()).status, 200, `${host}: the route's upstream answered`);
  }
  const ws = await RawClient.connect(t, gw.port, '::1');
  ws.write(wsHandshake('/ws').replace('Host: wsgate.test', `Host: [0:0:0:0:0:0:0:1]:${gw.port}`));
  assert.equal((await ws.response()).status, 101);
  assert.deepEqual(sink.requestLines(), [
    'GET /plain-0 HTTP/1.1',
    'GET /plain-1 HTTP/1.1',
    'GET /plain-2 HTTP/1.1',
    'GET /ws HTTP/1.1',
  ]);
  assert.deepEqual(
    gw.logs.lines.filter((l) => l.code === 'WSG_NO_ROUTE'),
    [],
  );
});

/**
 * Whether an IPv4 client reaches a listener on [::] here (IPv6 present, IPV6_V6ONLY off): only then is there a
 * dual-stack socket to test. Nothing leaves the loopback interface.
 */
async function dualStack(): Promise<boolean> {
  const server = net.createServer((socket) => socket.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '::', resolve);
    });
    const { port } = server.address() as net.AddressInfo;
    return await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  } catch {
    return false;
  } finally {
    server.close();
  }
}

test('a dual-stack listener names an IPv4 client 127.0.0.1, not ::ffff:127.0.0.1: upstream headers and log lines', async (t) => {
  if (!(await dualStack())) {
    t.skip('no dual-stack [::] listener on this machine');
    return;
  }
  const sink = await startRawSink(t);
  const pair = writePair(tempDir(t), 'server', await makeSelfSigned(['app.test']));
  const gw = await startTestWsgate(t, {
    listeners: [
      { name: 'dual', bind: '[::]:0', routes: [{ upstream: sink.wsUrl }] },
      { name: 'dual-tls', bind: '[::]:0', tls: pair, routes: [{ upstream: sink.wsUrl }] },
    ],
    shutdown: { grace: '200ms' },
  });
  const plain = await RawClient.connect(t, gw.port, '127.0.0.1');
  plain.write('GET /plain HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
  assert.equal((await plain.response()).status, 200);
  const ws = await RawClient.connect(t, gw.port, '127.0.0.1');
  ws.write(wsHandshake('/ws'));
  assert.equal((await ws.response()).status, 101);
  // A TLS socket asks its own handle for the peer: the same IPv4 address there.
  const secure = tls.connect({
    port: gw.running.listeners.get('dual-tls')!.port,
    host: '127.0.0.1',
    servername: 'app.test',
    ca: readFileSync(pair.cert, 'utf8'),
  });
  t.after(() => secure.destroy());
  const received: Buffer[] = [];
  secure.on('data', (c: Buffer) => received.push(c));
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', () => resolve());
    secure.once('error', reject);
  });
  secure.write('GET /tls HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
  await new Promise<void>((resolve) => secure.on('close', () => resolve()));
  assert.equal(parseResponse(Buffer.concat(received))?.status, 200);

  const heads = sink.connections.flatMap((c) => c.heads);
  const byPath = Object.fromEntries(
    heads.map((h) => [
      h.split(' ')[1],
      [/^x-forwarded-for:\s*(.*)$/im.exec(h)?.[1], /^forwarded:\s*(.*)$/im.exec(h)?.[1]],
    ]),
  );
  assert.deepEqual(byPath, {
    '/plain': ['127.0.0.1', 'for=127.0.0.1;proto=http;host=app.test'],
    '/ws': ['127.0.0.1', 'for=127.0.0.1;proto=http;host=wsgate.test'],
    '/tls': ['127.0.0.1', 'for=127.0.0.1;proto=https;host=app.test'],
  });
  await gw.logs.waitFor('ws.open');
  const clients = gw.logs.lines
    .filter((l) => l.event === 'http.access' || l.event === 'ws.open')
    .map((l) => [l.event, l.client, l.peer]);
  assert.deepEqual(clients.sort(), [
    ['http.access', '127.0.0.1', undefined],
    ['http.access', '127.0.0.1', undefined],
    ['ws.open', '127.0.0.1', undefined],
  ]);
});
