// Reload never leaves fewer working listeners than the last good config: a listener renamed on its address keeps
// serving there (its open connections too), and one moved to a busy address fails the reload as a whole, with the
// old ones still serving.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import WebSocket from 'ws';
import { configFromObject } from '../../../src/config/load.ts';
import { parsePrometheusText, sampleValue } from '../../helpers/prom-text.ts';
import { assertHealthy, startRawSink } from '../../helpers/raw.ts';
import { startSilentServer } from '../../helpers/servers.ts';
import { startTestWsgate } from '../../helpers/wsgate.ts';
import { eventually, rawConnect, readUntil, startTcpServer } from '../forward/helpers.ts';
import { startEchoUpstream } from '../inspector/helpers.ts';

/** A port nothing listens on now (bound on port 0, then closed). */
async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const listener = (name: string, bind: string, upstream: string) => ({
  name,
  bind,
  routes: [{ name: `${name}-all`, upstream }],
});

test('a listener renamed on the same address keeps serving there, under its new name', async (t) => {
  const sink = await startRawSink(t);
  const upstream = `http://127.0.0.1:${sink.port}`;
  const gw = await startTestWsgate(t, {
    listeners: [listener('old', '127.0.0.1:0', upstream)],
    shutdown: { grace: '200ms' },
  });
  const port = gw.port;
  await assertHealthy(t, port);

  await gw.running.reload(
    configFromObject({ listeners: [listener('new', `127.0.0.1:${port}`, upstream)], shutdown: { grace: '200ms' } }),
  );
  assert.equal(
    gw.logs.events('config.reload_failed').length,
    0,
    JSON.stringify(gw.logs.events('config.reload_failed')),
  );
  assert.equal(gw.logs.events('config.reloaded').length, 1);
  assert.deepEqual([...gw.running.listeners.keys()], ['new']);
  assert.equal(gw.running.listeners.get('new')?.port, port);
  await assertHealthy(t, port);
  assert.deepEqual(gw.running.readiness().listeners, [{ name: 'new', bound: true }]);
});

test('a listener moved to a busy address fails the reload; every old listener keeps serving', async (t) => {
  const sink = await startRawSink(t);
  const upstream = `http://127.0.0.1:${sink.port}`;
  const busy = await startSilentServer(t);
  const config = {
    listeners: [listener('a', '127.0.0.1:0', upstream), listener('b', '127.0.0.1:0', upstream)],
    shutdown: { grace: '200ms' },
  };
  const gw = await startTestWsgate(t, config);
  const a = gw.running.listeners.get('a')!.port;
  const b = gw.running.listeners.get('b')!.port;
  // a moves to the busy port; b is renamed on its own port (a handover), c is new on a free one: none may stay.
  await gw.running.reload(
    configFromObject({
      listeners: [
        listener('c', '127.0.0.1:0', upstream),
        listener('b2', `127.0.0.1:${b}`, upstream),
        listener('a', `127.0.0.1:${busy.port}`, upstream),
      ],
      shutdown: { grace: '200ms' },
    }),
  );
  const failed = await gw.logs.waitFor('config.reload_failed');
  assert.equal(failed.code, 'WSG_LISTEN_FAILED');
  assert.equal(failed.listener, 'a');
  assert.equal(failed.cause, 'EADDRINUSE');
  assert.match(String(failed.msg), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${busy.port}: EADDRINUSE`));
  // The log line carries the cause's hint, as the CLI prints it at start.
  assert.match(String(failed.hint), new RegExp(`^Another process holds port ${busy.port} here`));
  assert.equal(gw.logs.events('config.reloaded').length, 0);
  assert.deepEqual(
    [...gw.running.listeners].map(([name, address]) => [name, address.port]),
    [
      ['a', a],
      ['b', b],
    ],
  );
  await assertHealthy(t, a);
  await assertHealthy(t, b);
  assert.equal(gw.logs.events('listener.start').filter((l) => l.listener === 'c').length, 1, 'c was started');

  // The same change without the busy port applies.
  await gw.running.reload(
    configFromObject({
      listeners: [listener('c', '127.0.0.1:0', upstream), listener('b2', `127.0.0.1:${b}`, upstream)],
      shutdown: { grace: '200ms' },
    }),
  );
  await gw.logs.waitFor('config.reloaded');
  assert.deepEqual([...gw.running.listeners.keys()].sort(), ['b2', 'c']);
  await assertHealthy(t, b);
  await assertHealthy(t, gw.running.listeners.get('c')!.port);
});

test('an open WebSocket of a listener a reload removes gets 1001 saying so, not "shutting down"', async (t) => {
  const echo = await startEchoUpstream(t);
  const gw = await startTestWsgate(t, {
    listeners: [listener('old', '127.0.0.1:0', echo.url), listener('stays', '127.0.0.1:0', echo.url)],
    shutdown: { grace: '2s' },
  });
  const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/`);
  await once(ws, 'open');
  const closed = once(ws, 'close');
  const stays = gw.running.listeners.get('stays')!.port;
  await gw.running.reload(
    configFromObject({ listeners: [listener('stays', `127.0.0.1:${stays}`, echo.url)], shutdown: { grace: '2s' } }),
  );
  const [code, reason] = (await closed) as [number, Buffer];
  assert.equal(code, 1001);
  assert.equal(reason.toString(), 'listener closed by a config reload');
});

test('a renamed listener keeps its open WebSocket; metrics, admin API and lines name each connection once', async (t) => {
  const echo = await startEchoUpstream(t);
  const config = (name: string, port: number) => ({
    listeners: [listener(name, `127.0.0.1:${port}`, echo.url)],
    inspector: { bind: '127.0.0.1:0' },
    shutdown: { grace: '200ms' },
  });
  const gw = await startTestWsgate(t, config('old', 0));
  const admin = gw.running.inspector!.admin.address.port;
  const before = new WebSocket(`ws://127.0.0.1:${gw.port}/`);
  t.after(() => before.terminate());
  await once(before, 'open');

  assert.equal(await gw.running.reload(configFromObject(config('new', gw.port))), true);
  const renamed = gw.logs.events('listener.rename');
  assert.deepEqual(
    renamed.map((l) => [l.listener, l.from]),
    [['new', 'old']],
  );
  assert.equal(gw.logs.events('listener.stop').length, 0, 'nothing was closed');
  assert.equal(gw.logs.events('listener.start').length, 1, 'nothing was bound again');
  assert.deepEqual([...gw.running.listeners.keys()], ['new']);

  // The open one still echoes; a new one joins under the new name.
  before.send('still here');
  const [echoed] = (await once(before, 'message')) as [Buffer];
  assert.equal(echoed.toString(), 'still here');
  const after = new WebSocket(`ws://127.0.0.1:${gw.port}/`);
  t.after(() => after.terminate());
  await once(after, 'open');

  const metrics = parsePrometheusText(await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text());
  const open = (name: string) =>
    sampleValue(metrics, 'wsgate_ws_connections_open', { listener: name, route: `${name}-all` });
  assert.equal(open('old'), 1, 'the connection opened before counts under the name it was accepted under');
  assert.equal(open('new'), 1);
  const listed = (await (await fetch(`http://127.0.0.1:${admin}/api/connections`)).json()) as {
    connections: { id: string; listener: string }[];
  };
  assert.deepEqual(listed.connections.map((c) => c.listener).sort(), ['new', 'old']);
  // The listener's own lines (its access lines here) carry the new name.
  await (await fetch(`http://127.0.0.1:${gw.port}/plain`)).arrayBuffer();
  const access = await gw.logs.waitFor('http.access');
  assert.equal(access.listener, 'new');

  // Closing the first one takes it off the old name's gauge, not the new one's.
  const gone = once(before, 'close');
  before.close();
  await gone;
  await gw.logs.waitFor('ws.close');
  const later = parsePrometheusText(await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text());
  assert.equal(sampleValue(later, 'wsgate_ws_connections_open', { listener: 'old', route: 'old-all' }), 0);
  assert.equal(sampleValue(later, 'wsgate_ws_connections_open', { listener: 'new', route: 'new-all' }), 1);
});

test('a rename whose old name another listener takes is a handover: the old one closes, the name moves', async (t) => {
  const echo = await startEchoUpstream(t);
  const gw = await startTestWsgate(t, {
    listeners: [listener('a', '127.0.0.1:0', echo.url)],
    shutdown: { grace: '2s' },
  });
  const port = gw.port;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  await once(ws, 'open');
  const closed = once(ws, 'close');
  const other = await freePort();
  await gw.running.reload(
    configFromObject({
      listeners: [listener('b', `127.0.0.1:${port}`, echo.url), listener('a', `127.0.0.1:${other}`, echo.url)],
      shutdown: { grace: '2s' },
    }),
  );
  const [code] = (await closed) as [number, Buffer];
  assert.equal(code, 1001);
  assert.equal(gw.logs.events('listener.rename').length, 0);
  assert.deepEqual([...gw.running.listeners.keys()].sort(), ['a', 'b']);
  const again = new WebSocket(`ws://127.0.0.1:${port}/`);
  t.after(() => again.terminate());
  await once(again, 'open');
});

test('a renamed forward listener keeps its open CONNECT tunnel; new tunnels are logged under the new name', async (t) => {
  const echo = await startTcpServer(t, (socket) => socket.pipe(socket));
  const proxy = (name: string, port: number) => ({
    listeners: [{ name, bind: `127.0.0.1:${port}`, forward: {} }],
    shutdown: { grace: '200ms' },
  });
  const gw = await startTestWsgate(t, proxy('fwd', 0));
  const target = `127.0.0.1:${echo.port}`;
  const first = await rawConnect(gw.port, target);
  t.after(() => first.socket.destroy());
  assert.equal(first.status, 200);

  assert.equal(await gw.running.reload(configFromObject(proxy('fwd2', gw.port))), true);
  assert.deepEqual([...gw.running.listeners.keys()], ['fwd2']);
  assert.equal(gw.logs.events('listener.stop').length, 0, 'the forward listener was not closed');
  assert.equal(gw.logs.events('listener.rename').length, 1);
  first.socket.write('across the reload');
  assert.equal((await readUntil(first.socket, (b) => b.length >= 17)).toString(), 'across the reload');

  const second = await rawConnect(gw.port, target);
  second.socket.end();
  first.socket.end();
  await eventually(() => gw.logs.events('connect.close').length === 2);
  // Each tunnel's line names the listener it was accepted by.
  assert.deepEqual(
    gw.logs
      .events('connect.close')
      .map((l) => l.listener)
      .sort(),
    ['fwd', 'fwd2'],
  );
});

test('two reloads in quick succession: the last one wins, and nothing of the first is left listening', async (t) => {
  const echo = await startEchoUpstream(t);
  const gw = await startTestWsgate(t, {
    listeners: [listener('base', '127.0.0.1:0', echo.url)],
    shutdown: { grace: '200ms' },
  });
  const base = listener('base', '127.0.0.1:0', echo.url);
  const first = configFromObject({
    listeners: [base, listener('x', '127.0.0.1:0', echo.url)],
    shutdown: { grace: '200ms' },
  });
  const second = configFromObject({
    listeners: [base, listener('y', '127.0.0.1:0', echo.url)],
    shutdown: { grace: '200ms' },
  });
  // As SIGHUP and a file event, or the admin API and SIGHUP, can: neither waits for the other.
  const results = await Promise.all([gw.running.reload(first), gw.running.reload(second)]);
  assert.deepEqual(results, [true, true]);
  assert.deepEqual([...gw.running.listeners.keys()].sort(), ['base', 'y']);
  assert.deepEqual(
    gw.running.readiness().listeners.map((l) => l.name),
    ['base', 'y'],
  );
  // x was started by the first and closed by the second: its port answers no more.
  const x = gw.logs.events('listener.start').find((l) => l.listener === 'x');
  assert.ok(x, 'the first reload started x');
  const stopped = gw.logs.events('listener.stop').map((l) => l.listener);
  assert.deepEqual(stopped, ['x']);
  const xPort = Number(String(x.address).split(':').at(-1));
  const refused = await new Promise<string>((resolve) => {
    const socket = net.connect(xPort, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
  assert.equal(refused, 'ECONNREFUSED');
});
