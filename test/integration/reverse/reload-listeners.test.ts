// Reload never leaves fewer working listeners than the last good config: a listener renamed on its address keeps
// serving there, and one moved to a busy address fails the reload as a whole, with the old ones still serving.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import WebSocket from 'ws';
import { configFromObject } from '../../../src/config/load.ts';
import { assertHealthy, startRawSink } from '../../helpers/raw.ts';
import { startSilentServer } from '../../helpers/servers.ts';
import { startTestWsgate } from '../../helpers/wsgate.ts';
import { startEchoUpstream } from '../inspector/helpers.ts';

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

test('an open WebSocket of a listener a reload closes gets 1001 saying so, not "shutting down"', async (t) => {
  const echo = await startEchoUpstream(t);
  const gw = await startTestWsgate(t, {
    listeners: [listener('old', '127.0.0.1:0', echo.url)],
    shutdown: { grace: '2s' },
  });
  const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/`);
  await once(ws, 'open');
  const closed = once(ws, 'close');
  await gw.running.reload(
    configFromObject({ listeners: [listener('new', `127.0.0.1:${gw.port}`, echo.url)], shutdown: { grace: '2s' } }),
  );
  const [code, reason] = (await closed) as [number, Buffer];
  assert.equal(code, 1001);
  assert.equal(reason.toString(), 'listener closed by a config reload');
});
