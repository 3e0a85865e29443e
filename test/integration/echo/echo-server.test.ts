import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { type EchoServer, startEchoServer } from '../../../src/echo/server.ts';
import { WsgateError } from '../../../src/errors.ts';

const TIMEOUT = { timeout: 30_000 };
// close() must not wait out ws's 30 s close timer or node's 60 s headers timeout; this guard sits well above the
// server's own 2 s grace and well below both, so a hanging close() fails instead of passing slowly.
const HANG_GUARD = { timeout: 10_000 };

async function start(t: TestContext): Promise<EchoServer> {
  const server = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => server.close());
  return server;
}

async function open(
  t: TestContext,
  url: string,
  options: { protocols?: string[]; deflate?: boolean } = {},
): Promise<WebSocket> {
  const ws = new WebSocket(url, options.protocols ?? [], {
    perMessageDeflate: options.deflate ?? false,
    maxPayload: 64 * 1024 * 1024,
  });
  ws.on('error', () => {});
  t.after(() => ws.terminate());
  await once(ws, 'open');
  return ws;
}

async function roundTrip(
  ws: WebSocket,
  data: Buffer | string,
  binary: boolean,
): Promise<{ data: Buffer; isBinary: boolean }> {
  const reply = once(ws, 'message');
  ws.send(data, { binary });
  const [got, isBinary] = (await reply) as [Buffer, boolean];
  return { data: got, isBinary };
}

type HttpReply = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

async function http(url: string, method: string, body?: string): Promise<HttpReply> {
  // agent: false sends `Connection: close`, so no pooled socket outlives the test.
  const req = request(url, { method, agent: false });
  if (body !== undefined) req.end(body);
  else req.end();
  const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') };
}

/** Close everything the test opened, then wait until no TCP handle is left in the process. */
async function assertNoOpenSockets(server: EchoServer): Promise<void> {
  await server.close();
  const tcp = () => process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP'));
  // Handles leave the list on a later tick than their 'close' event; poll a little before calling it a leak.
  for (let i = 0; i < 100 && tcp().length > 0; i++) await sleep(10);
  assert.deepEqual(tcp(), [], 'TCP handles still open');
}

test('the address and URL are the bound ones', TIMEOUT, async (t) => {
  const server = await start(t);
  assert.equal(server.address.host, '127.0.0.1');
  assert.ok(server.address.port > 0);
  assert.equal(server.url, `ws://127.0.0.1:${server.address.port}/echo`);
  await assertNoOpenSockets(server);
});

test('text is echoed as text, unchanged', TIMEOUT, async (t) => {
  const server = await start(t);
  const ws = await open(t, server.url);
  for (const text of ['hello', '', 'ünïcödé ✓ 🚀', '{"type":"typing"}']) {
    const reply = await roundTrip(ws, text, false);
    assert.equal(reply.isBinary, false, `type of ${JSON.stringify(text)}`);
    assert.equal(reply.data.toString('utf8'), text);
  }
  await assertNoOpenSockets(server);
});

for (const deflate of [false, true]) {
  test(
    `binary is echoed as binary, byte for byte (permessage-deflate ${deflate ? 'on' : 'off'})`,
    TIMEOUT,
    async (t) => {
      const server = await start(t);
      const ws = await open(t, server.url, { deflate });
      assert.equal(ws.extensions.includes('permessage-deflate'), deflate);
      for (const size of [1, 64 * 1024, 16 * 1024 * 1024]) {
        const sent = randomBytes(size);
        const reply = await roundTrip(ws, sent, true);
        assert.equal(reply.isBinary, true, `type of ${size} bytes`);
        assert.equal(reply.data.length, size);
        assert.ok(reply.data.equals(sent), `${size} bytes differ`);
      }
      await assertNoOpenSockets(server);
    },
  );
}

test('a fragmented message comes back whole', TIMEOUT, async (t) => {
  const server = await start(t);
  const ws = await open(t, server.url);
  const reply = once(ws, 'message');
  ws.send('frag', { fin: false });
  ws.send('mented', { fin: true });
  const [data, isBinary] = (await reply) as [Buffer, boolean];
  assert.equal(isBinary, false);
  assert.equal(data.toString(), 'fragmented');
  await assertNoOpenSockets(server);
});

test('permessage-deflate is negotiated when the client asks, and only then', TIMEOUT, async (t) => {
  const server = await start(t);
  const withDeflate = await open(t, server.url, { deflate: true });
  assert.match(withDeflate.extensions, /^permessage-deflate\b/);
  const compressible = 'abc'.repeat(10_000);
  assert.equal((await roundTrip(withDeflate, compressible, false)).data.toString(), compressible);

  const without = await open(t, server.url, { deflate: false });
  assert.equal(without.extensions, '');
  await assertNoOpenSockets(server);
});

test('the first offered subprotocol is accepted', TIMEOUT, async (t) => {
  const server = await start(t);
  const chat = await open(t, server.url, { protocols: ['chat.v1', 'chat.v2'] });
  assert.equal(chat.protocol, 'chat.v1');
  const other = await open(t, server.url, { protocols: ['chat.v2', 'chat.v1'] });
  assert.equal(other.protocol, 'chat.v2');
  const none = await open(t, server.url);
  assert.equal(none.protocol, '');
  await assertNoOpenSockets(server);
});

test('upgrades are accepted on any path', TIMEOUT, async (t) => {
  const server = await start(t);
  const ws = await open(t, `ws://127.0.0.1:${server.address.port}/some/other/path?x=1`);
  assert.equal((await roundTrip(ws, 'hi', false)).data.toString(), 'hi');
  await assertNoOpenSockets(server);
});

test('pings are answered with pongs carrying the same data', TIMEOUT, async (t) => {
  const server = await start(t);
  const ws = await open(t, server.url);
  const pong = once(ws, 'pong');
  ws.ping('are you there');
  const [data] = (await pong) as [Buffer];
  assert.equal(data.toString(), 'are you there');
  await assertNoOpenSockets(server);
});

test('plain GET on any path answers 200 text explaining the server', TIMEOUT, async (t) => {
  const server = await start(t);
  for (const path of ['/', '/echo', '/anything?q=1']) {
    const reply = await http(`http://127.0.0.1:${server.address.port}${path}`, 'GET');
    assert.equal(reply.status, 200, path);
    assert.match(String(reply.headers['content-type']), /^text\/plain/);
    assert.match(reply.body, /wsgate echo server/);
    assert.ok(reply.body.includes(server.url), `body names ${server.url}: ${reply.body}`);
  }
  const head = await http(`http://127.0.0.1:${server.address.port}/`, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  await assertNoOpenSockets(server);
});

test('other methods answer 405 with Allow', TIMEOUT, async (t) => {
  const server = await start(t);
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const reply = await http(`http://127.0.0.1:${server.address.port}/echo`, method, 'some body');
    assert.equal(reply.status, 405, method);
    assert.equal(reply.headers.allow, 'GET, HEAD');
  }
  await assertNoOpenSockets(server);
});

test('close() with an open client resolves, and the client sees 1001', HANG_GUARD, async (t) => {
  const server = await start(t);
  const ws = await open(t, server.url, { deflate: true });
  const closed = once(ws, 'close');
  await server.close();
  const [code, reason] = (await closed) as [number, Buffer];
  assert.equal(code, 1001);
  assert.equal(reason.toString(), 'server shutting down');
  // A second close() is the same, finished shutdown.
  await server.close();
  await assertNoOpenSockets(server);
});

test('close() does not wait on a client that never answers the close frame', HANG_GUARD, async (t) => {
  const server = await start(t);
  // A raw handshake, then silence: the server's close frame is read by the kernel but never answered.
  const socket = connect(server.address.port, '127.0.0.1');
  socket.on('error', () => {});
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  socket.write(
    'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  const [head] = (await once(socket, 'data')) as [Buffer];
  assert.match(head.toString('latin1'), /^HTTP\/1\.1 101 /);
  const ended = once(socket, 'close');
  await server.close();
  await ended;
  await assertNoOpenSockets(server);
});

test('close() also ends idle plain-HTTP connections', HANG_GUARD, async (t) => {
  const server = await start(t);
  const socket = connect(server.address.port, '127.0.0.1');
  socket.on('error', () => {});
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  const ended = once(socket, 'close');
  await server.close();
  await ended;
  await assertNoOpenSockets(server);
});

test('a port already in use is WSG_LISTEN_FAILED', TIMEOUT, async (t) => {
  const server = await start(t);
  await assert.rejects(
    startEchoServer({ host: '127.0.0.1', port: server.address.port }),
    // Said as every listener says it: the address, then the reason's code (not Node's sentence repeating it).
    (err: unknown) =>
      err instanceof WsgateError &&
      err.code === 'WSG_LISTEN_FAILED' &&
      err.message === `cannot listen on 127.0.0.1:${server.address.port}: EADDRINUSE`,
  );
  await assertNoOpenSockets(server);
});
