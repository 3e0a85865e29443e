// The URL a HAR entry gives a WebSocket is the one its client asked for: an absolute-form handshake to a forward
// listener (`GET http://host/path`) keeps its own URL with the scheme made ws/wss (it once came out as
// ws://host/http://host/path), a ws:// inside a CONNECT tunnel is ws://, and a client's own X-Forwarded-Proto
// decides nothing: a forward listener sends it on unchecked, a reverse listener replaces it with what it saw.
// biome-ignore-all lint/suspicious/noExplicitAny: HAR answers are JSON that the assertions read field by field.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import WebSocket from 'ws';
import { harUrl } from '../../../src/traffic/har.ts';
import type { StoredConnection } from '../../../src/traffic/records.ts';
import { startTestWsgate } from '../../helpers/wsgate.ts';
import { rawConnect, readUntil } from '../forward/helpers.ts';
import { call, eventually, startEchoUpstream } from './helpers.ts';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

async function startProxyWithInspector(t: import('node:test').TestContext, upstream: string) {
  const gate = await startTestWsgate(t, {
    listeners: [
      { name: 'proxy', bind: '127.0.0.1:0', forward: {}, tap: 'meta' },
      { name: 'web', bind: '127.0.0.1:0', routes: [{ name: 'echo', match: { pathPrefix: '/' }, upstream }] },
    ],
    shutdown: { grace: '200ms' },
    inspector: { bind: '127.0.0.1:0' },
  });
  const admin = gate.running.inspector!.admin.address.port;
  const web = gate.running.listeners.get('web')!.port;
  return { gate, admin, proxy: gate.port, web };
}

/** A raw handshake on `socket` with this request target; resolves with the answer's status line. */
async function handshake(socket: net.Socket, target: string, host: string, extra = ''): Promise<string> {
  socket.write(
    `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
  );
  const head = await readUntil(socket, (buf) => buf.includes('\r\n\r\n'));
  return head.toString('latin1').split('\r\n')[0]!;
}

async function harOf(admin: number, id: string): Promise<any> {
  const answer = await call(admin, 'GET', `/api/connections/${id}/har`);
  assert.equal(answer.status, 200, answer.body);
  return answer.json.log.entries[0];
}

async function connectionsTo(admin: number, path: string): Promise<any> {
  const list = await eventually(
    () => call(admin, 'GET', '/api/connections'),
    (a) => a.json.connections.some((c: any) => c.path === path),
    `a record for ${path}`,
  );
  return list.json.connections.find((c: any) => c.path === path);
}

test('an absolute-form WebSocket through a forward listener has its own URL in the HAR, as ws://', async (t) => {
  const echo = await startEchoUpstream(t);
  const { admin, proxy } = await startProxyWithInspector(t, echo.url);
  const authority = echo.url.slice('ws://'.length);

  for (const [target, xfp] of [
    [`http://${authority}/chat?room=1`, 'X-Forwarded-Proto: https\r\n'],
    [`ws://${authority}/feed`, ''],
  ] as const) {
    const socket = net.connect(proxy, '127.0.0.1');
    t.after(() => socket.destroy());
    await once(socket, 'connect');
    assert.match(await handshake(socket, target, authority, xfp), / 101 /);
    const record = await connectionsTo(admin, target);
    const entry = await harOf(admin, record.id);
    const path = target.slice(target.indexOf(authority) + authority.length);
    // The client's X-Forwarded-Proto: https is its own claim, sent on by a forward proxy, not what it used.
    assert.equal(entry.request.url, `ws://${authority}${path}`);
    socket.destroy();
  }
  const chat = await harOf(admin, (await connectionsTo(admin, `http://${authority}/chat?room=1`)).id);
  assert.deepEqual(chat.request.queryString, [{ name: 'room', value: '1' }]);
});

test('a ws:// inside a CONNECT tunnel and a reverse listener’s WebSocket have ws:// URLs with their path', async (t) => {
  const echo = await startEchoUpstream(t);
  const { admin, proxy, web } = await startProxyWithInspector(t, echo.url);
  const authority = echo.url.slice('ws://'.length);

  const tunnel = await rawConnect(proxy, authority);
  assert.equal(tunnel.status, 200);
  const inTunnel = new WebSocket(`ws://${authority}/in-tunnel`, { createConnection: () => tunnel.socket.resume() });
  await once(inTunnel, 'open');
  t.after(() => inTunnel.terminate());
  const tunnelled = await harOf(admin, (await connectionsTo(admin, '/in-tunnel')).id);
  assert.equal(tunnelled.request.url, `ws://${authority}/in-tunnel`);
  assert.equal(tunnelled._wsgate.upstream, `ws://${authority}`);

  // A reverse listener replaces the client's X-Forwarded-Proto with what it saw (plain TCP): ws://.
  const reverse = new WebSocket(`ws://127.0.0.1:${web}/rev?a=b`, { headers: { 'X-Forwarded-Proto': 'https' } });
  await once(reverse, 'open');
  t.after(() => reverse.terminate());
  const entry = await harOf(admin, (await connectionsTo(admin, '/rev?a=b')).id);
  assert.equal(entry.request.url, `ws://127.0.0.1:${web}/rev?a=b`);
});

test('a forward route’s scheme is its upstream’s (wss:// for an intercepted tunnel); a reverse one’s is the proxy’s', () => {
  const base = {
    id: 'w1',
    listener: 'proxy',
    route: 'proxy/tunnel',
    host: 'echo.test:8443',
    path: '/chat',
    upstream: 'wss://echo.test:8443',
    forwarded: [['X-Forwarded-Proto', 'http']],
  } as unknown as StoredConnection;
  assert.equal(harUrl(base), 'wss://echo.test:8443/chat');
  assert.equal(harUrl({ ...base, upstream: 'ws://echo.test:8443' }), 'ws://echo.test:8443/chat');
  // A route of another listener that happens to end in /tunnel is a reverse route: its X-Forwarded-Proto counts.
  const reverse = { ...base, listener: 'web', route: 'web/x/tunnel', forwarded: [['X-Forwarded-Proto', 'https']] };
  assert.equal(harUrl(reverse as StoredConnection), 'wss://echo.test:8443/chat');
  assert.equal(harUrl({ ...base, path: 'https://echo.test:8443/a?b' }), 'wss://echo.test:8443/a?b');
});
