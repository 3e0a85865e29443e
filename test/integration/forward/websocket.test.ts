// An absolute-form request with `Upgrade: websocket` (`GET ws://host/path` or `GET http://host/path`) is proxied as
// a WebSocket handshake: the upstream sees origin-form, its own authority as Host, Via, and no proxy credentials;
// frames pass both ways, and the session is logged like a reverse-proxied one.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { encodeFrame } from '../../../src/websocket/encoder.ts';
import { OPCODE } from '../../../src/websocket/frame.ts';
import { computeAcceptKey } from '../../../src/websocket/handshake.ts';
import { eventually, forwardConfig, readUntil, startProxy } from './helpers.ts';

async function wsUpstream(t: import('node:test').TestContext) {
  const seen: http.IncomingMessage[] = [];
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (ws, req) => {
    seen.push(req);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  return { port: (wss.address() as net.AddressInfo).port, seen };
}

/** Sends an absolute-form handshake through the proxy; resolves with the socket after the 101. */
async function handshake(proxyPort: number, target: string, extra = ''): Promise<{ socket: net.Socket; head: string }> {
  const socket = net.connect(proxyPort, '127.0.0.1');
  const key = randomBytes(16).toString('base64');
  socket.write(
    `GET ${target} HTTP/1.1\r\nHost: wrong.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n${extra}\r\n`,
  );
  const got = await readUntil(socket, (b) => b.includes('\r\n\r\n'));
  const end = got.indexOf('\r\n\r\n') + 4;
  const head = got.subarray(0, end).toString('latin1');
  if (head.startsWith('HTTP/1.1 101'))
    assert.match(head, new RegExp(`Sec-WebSocket-Accept: ${computeAcceptKey(key).replace(/[+/]/g, '\\$&')}`, 'i'));
  socket.pause();
  if (got.length > end) socket.unshift(got.subarray(end));
  return { socket, head };
}

test('GET ws://host/path through the proxy is a WebSocket: frames pass, headers are a proxy’s', async (t) => {
  const upstream = await wsUpstream(t);
  const gw = await startProxy(t, forwardConfig({}, { listener: { tap: 'payload' } }), { names: ['app.test'] });
  const { socket, head } = await handshake(
    gw.port(),
    `ws://app.test:${upstream.port}/live?room=1`,
    'Proxy-Authorization: Basic dXNlcjpwYXNz\r\nOrigin: http://app.test\r\n',
  );
  t.after(() => socket.destroy());
  assert.match(head, /^HTTP\/1\.1 101 /);
  const req = upstream.seen[0]!;
  assert.equal(req.url, '/live?room=1');
  // RFC 9112 §3.2.2: the target's authority, not the Host the client sent.
  assert.equal(req.headers.host, `app.test:${upstream.port}`);
  assert.match(String(req.headers.via), /^1\.1 wsgate-[0-9a-f]{6}$/);
  assert.equal(req.headers['proxy-authorization'], undefined);
  socket.write(encodeFrame({ opcode: OPCODE.TEXT, payload: 'over absolute-form', maskKey: randomBytes(4) }));
  const echoed = await readUntil(socket, (b) => b.length >= 2 + 18);
  assert.equal(echoed[0], 0x81);
  assert.equal(echoed.subarray(2, 20).toString(), 'over absolute-form');
  const open = await gw.logs.waitFor('ws.open');
  assert.equal(open.route, 'proxy/forward');
  assert.equal(open.upstream, `ws://app.test:${upstream.port}`);
  const message = await gw.logs.waitFor('ws.message');
  assert.equal(message.preview, 'over absolute-form');
  assert.ok(!gw.logs.raw.join('\n').includes('dXNlcjpwYXNz'), 'Proxy-Authorization in the log');
});

test('GET http://host/path with Upgrade: websocket works the same; a denied port is refused before dialing', async (t) => {
  const upstream = await wsUpstream(t);
  const gw = await startProxy(t, forwardConfig({ allowPorts: [upstream.port] }));
  const ok = await handshake(gw.port(), `http://127.0.0.1:${upstream.port}/`);
  assert.match(ok.head, /^HTTP\/1\.1 101 /);
  ok.socket.destroy();
  const denied = await handshake(gw.port(), `http://127.0.0.1:${upstream.port + 1}/`);
  assert.match(denied.head, /^HTTP\/1\.1 403 /);
  assert.match(denied.head, /X-Wsgate-Error: WSG_FORWARD_DENIED/);
  denied.socket.destroy();
  assert.equal((await gw.logs.waitFor('forward.denied')).reason, 'port');
  assert.equal(upstream.seen.length, 1);
});

test('ws.open shows the handshake as the client sent it; only the upstream gets wsgate’s Via', async (t) => {
  const upstream = await wsUpstream(t);
  const gw = await startProxy(t, forwardConfig());
  const viaOf = (pairs: unknown) =>
    (pairs as [string, string][]).filter(([name]) => name.toLowerCase() === 'via').map(([, value]) => value);
  const cases = [
    ['', []],
    ['Via: 1.0 corp-proxy\r\n', ['1.0 corp-proxy']],
  ] as const;
  for (const [i, [extra, received]] of cases.entries()) {
    const { socket, head } = await handshake(gw.port(), `ws://127.0.0.1:${upstream.port}/`, extra);
    t.after(() => socket.destroy());
    assert.match(head, /^HTTP\/1\.1 101 /);
    const sent = upstream.seen.at(-1)!.headers.via;
    assert.equal(sent, [...received, `1.1 wsgate-${/wsgate-([0-9a-f]{6})/.exec(String(sent))?.[1]}`].join(', '));
    await eventually(() => gw.logs.events('ws.open').length > i, 5000, 'the open line');
    const open = gw.logs.events('ws.open')[i]!;
    assert.deepEqual(viaOf(open.request), received, JSON.stringify(open.request));
    assert.deepEqual(viaOf(open.forwarded), [sent]);
  }
});
