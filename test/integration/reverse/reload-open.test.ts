// What a reload does to what is already running, over real sockets: a WebSocket open on a route keeps the upstream
// and the settings it opened with (a changed upstream, a removed route, a lower message limit), new ones get the
// new config, and a config that fails validation changes nothing.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { configFromObject } from '../../../src/config/load.ts';
import { watchConfig } from '../../../src/config/watch.ts';
import type { WsgateError } from '../../../src/errors.ts';
import { namedServer, whoAnswers } from '../../helpers/named-server.ts';
import { makeTestCa, tempDir, writePair } from '../../helpers/tls.ts';
import { startTestWsgate } from '../../helpers/wsgate.ts';

async function openAsking(t: import('node:test').TestContext, url: string) {
  const ws = new WebSocket(url);
  t.after(() => ws.terminate());
  await once(ws, 'open');
  return {
    ws,
    ask: async (text = 'who') => {
      ws.send(text);
      const [data] = (await once(ws, 'message')) as [Buffer];
      return data.toString();
    },
  };
}

const config = (routes: unknown[], limits: Record<string, unknown> = {}) => ({
  listeners: [{ name: 'web', bind: '127.0.0.1:0', routes }],
  limits,
  // WebSocket limits are enforced (not only reported) with onViolation: close.
  tap: { onViolation: 'close' },
  shutdown: { grace: '200ms' },
});

test('a changed upstream: the open WebSocket stays on the old one, new ones go to the new one', async (t) => {
  const a = await namedServer(t, 'A');
  const b = await namedServer(t, 'B');
  const gw = await startTestWsgate(t, config([{ name: 'chat', match: { path: '/chat' }, upstream: a.url }]));
  const open = await openAsking(t, `${gw.ws}/chat`);
  assert.equal(await open.ask(), 'A');

  assert.equal(
    await gw.running.reload(configFromObject(config([{ name: 'chat', match: { path: '/chat' }, upstream: b.url }]))),
    true,
  );
  assert.equal(await open.ask(), 'A', 'the open one still reaches A');
  assert.equal(await whoAnswers(t, `${gw.ws}/chat`), 'B');
});

test('a removed route: its open WebSocket carries on (as Envoy keeps streams of a removed route); new ones are refused', async (t) => {
  const a = await namedServer(t, 'A');
  const gw = await startTestWsgate(
    t,
    config([
      { name: 'chat', match: { path: '/chat' }, upstream: a.url },
      { name: 'feed', match: { path: '/feed' }, upstream: a.url },
    ]),
  );
  const open = await openAsking(t, `${gw.ws}/chat`);
  assert.equal(
    await gw.running.reload(configFromObject(config([{ name: 'feed', match: { path: '/feed' }, upstream: a.url }]))),
    true,
  );
  assert.equal(await open.ask(), 'A');
  const refused = new WebSocket(`${gw.ws}/chat`);
  const [, res] = (await once(refused, 'unexpected-response')) as [unknown, import('node:http').IncomingMessage];
  assert.equal(res.headers['x-wsgate-error'], 'WSG_NO_ROUTE');
  res.resume();
});

test('a lower limits.maxMessageBytes applies to new WebSockets; the open one keeps the limit it opened with', async (t) => {
  const a = await namedServer(t, 'A');
  const routes = [{ name: 'chat', match: { path: '/chat' }, upstream: a.url, tap: 'frames' }];
  const gw = await startTestWsgate(t, config(routes, { maxMessageBytes: '64KiB' }));
  const open = await openAsking(t, `${gw.ws}/chat`);
  assert.equal(await gw.running.reload(configFromObject(config(routes, { maxMessageBytes: '1KiB' }))), true);
  const big = 'x'.repeat(8 * 1024);
  assert.equal(await open.ask(big), 'A', 'the open one still takes 8 KiB messages');
  const fresh = await openAsking(t, `${gw.ws}/chat`);
  fresh.ws.send(big);
  const [code] = (await once(fresh.ws, 'close')) as [number];
  assert.equal(code, 1009, 'a new one gets the new limit');
});

test('a config file that fails validation on reload changes nothing; the error names file, line, column and key', async (t) => {
  const a = await namedServer(t, 'A');
  const b = await namedServer(t, 'B');
  const gw = await startTestWsgate(t, config([{ name: 'chat', match: { path: '/chat' }, upstream: a.url }]));
  const open = await openAsking(t, `${gw.ws}/chat`);
  const file = join(tempDir(t, 'wsgate-reload-'), 'wsgate.yaml');
  writeFileSync(
    file,
    `listeners:\n  - name: web\n    bind: 127.0.0.1:${gw.port}\n    routes:\n      - match: { path: /chat }\n        upstream: ${b.url}\n        tapp: frames\n`,
  );
  const errors: WsgateError[] = [];
  const watcher = watchConfig(file, {
    env: {},
    onReload: (next) => void gw.running.reload(next),
    onError: (err) => errors.push(err),
  });
  t.after(() => watcher.close());
  await watcher.reload();
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.code, 'WSG_CONFIG_INVALID');
  assert.match(errors[0]!.message, new RegExp(`${file.replaceAll('/', '\\/')}:7:9`));
  assert.match(errors[0]!.message, /tapp/);
  assert.equal(gw.logs.events('config.reloaded').length, 0);
  assert.equal(await open.ask(), 'A');
  assert.equal(await whoAnswers(t, `${gw.ws}/chat`), 'A');
});

test('renewed TLS certificates: new handshakes get the new one, the open wss keeps going', async (t) => {
  const a = await namedServer(t, 'A');
  const ca = await makeTestCa();
  const dir = tempDir(t);
  const first = await ca.issue({ names: ['localhost', '127.0.0.1'] });
  const files = writePair(dir, 'site', first);
  // The same bind (port 0) in both: a listener that keeps its name, kind and bind is updated in place.
  const tlsConfig = () => ({
    listeners: [{ name: 'secure', bind: '127.0.0.1:0', tls: files, routes: [{ upstream: a.url }] }],
    shutdown: { grace: '200ms' },
  });
  const gw = await startTestWsgate(t, tlsConfig());
  const open = new WebSocket(`wss://127.0.0.1:${gw.port}/`, { ca: ca.cert });
  t.after(() => open.terminate());
  await once(open, 'open');
  const served = () => (open as unknown as { _socket: import('node:tls').TLSSocket })._socket;
  assert.equal(served().getPeerX509Certificate()?.fingerprint256, new X509Certificate(first.cert).fingerprint256);

  const renewed = await ca.issue({ names: ['localhost', '127.0.0.1'] });
  writePair(dir, 'site', renewed);
  assert.equal(await gw.running.reload(configFromObject(tlsConfig())), true);
  open.send('who');
  const [answer] = (await once(open, 'message')) as [Buffer];
  assert.equal(answer.toString(), 'A', 'the open wss still relays');

  const fresh = new WebSocket(`wss://127.0.0.1:${gw.port}/`, { ca: ca.cert });
  t.after(() => fresh.terminate());
  await once(fresh, 'open');
  const socket = (fresh as unknown as { _socket: import('node:tls').TLSSocket })._socket;
  assert.equal(socket.getPeerX509Certificate()?.fingerprint256, new X509Certificate(renewed.cert).fingerprint256);
  assert.equal(gw.logs.events('listener.stop').length, 0, 'the listener was not closed');
});

test('a changed tap level applies to new WebSockets; the open one keeps the level it was joined with', async (t) => {
  const a = await namedServer(t, 'A');
  const tapped = (tap: string) => ({
    ...config([{ name: 'chat', match: { path: '/chat' }, upstream: a.url, tap }]),
    inspector: { bind: '127.0.0.1:0' },
  });
  const gw = await startTestWsgate(t, tapped('meta'));
  const admin = gw.running.inspector!.admin.address.port;
  const open = await openAsking(t, `${gw.ws}/chat`);
  assert.equal(await gw.running.reload(configFromObject(tapped('payload'))), true);
  assert.equal(await open.ask('after the reload'), 'A');
  const fresh = await openAsking(t, `${gw.ws}/chat`);
  assert.equal(await fresh.ask('new'), 'A');
  const listed = (await (await fetch(`http://127.0.0.1:${admin}/api/connections`)).json()) as {
    connections: { id: string; tap: string; toUpstream: { messages: number } }[];
  };
  const byId = new Map(listed.connections.map((c) => [c.id, c]));
  assert.deepEqual([...byId.values()].map((c) => c.tap).sort(), ['meta', 'payload']);
});
