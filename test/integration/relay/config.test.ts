// The relay driven by the config, end to end through a running wsgate: rules named by a route relay its
// connections (a replace in both directions, a close), a route without rules stays on the byte-exact passthrough,
// every hit is a ws.rule line, keepalive from the config keeps a silent connection through limits.idleTimeout, and a
// route whose only rule injects (at open, every interval) is relayed so that its injections go out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configFromObject } from '../../../src/config/load.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';
import { connectionLog } from '../tap/support.ts';
import { connect, startUpstream, until } from './support.ts';

test('config rules: a route with rules is relayed, another route is not, and each hit is a ws.rule line', async (t) => {
  const upstream = await startUpstream(t);
  const up = `ws://127.0.0.1:${upstream.port}`;
  const gw = await startTestWsgate(
    t,
    reverseConfig(
      [
        { name: 'chat', match: { path: '/chat' }, upstream: up, rules: ['rename', 'bye'] },
        { name: 'plain', match: { path: '/plain' }, upstream: up },
      ],
      {
        rules: [
          {
            name: 'rename',
            match: { type: 'text' },
            actions: [{ replace: { pattern: '/"user":"([\\w-]+)"/g', with: '"user":"$1-x"' } }],
          },
          {
            name: 'bye',
            match: { direction: 'toServer', text: 'quit' },
            actions: [{ close: { code: 4000, reason: 'bye' } }],
          },
        ],
      },
    ),
  );
  const chat = await connect(`${gw.ws}/chat`);
  chat.ws.send('{"user":"ada"}');
  await until(() => chat.messages[0], 'echo');
  // Replaced on the way up, and the echo once more on the way down.
  assert.equal(upstream.received[0]!.data.toString(), '{"user":"ada-x"}');
  assert.equal(chat.messages[0]!.data.toString(), '{"user":"ada-x-x"}');
  chat.ws.send('quit');
  assert.deepEqual(await chat.closed, { code: 4000, reason: 'bye' });
  const log = await connectionLog(gw.logs, '/chat');
  assert.equal(log.open.relay, true);
  const rules = gw.logs.lines.filter((l) => l.event === 'ws.rule' && l.conn === log.conn);
  assert.deepEqual(
    rules.slice(0, 2).map((l) => [l.dir, l.rule]),
    [
      ['toUpstream', 'rename'],
      ['toClient', 'rename'],
    ],
  );
  assert.ok(rules.some((l) => l.rule === 'bye' && l.action === 'close' && l.dir === 'toUpstream'));
  assert.equal(log.close.closeCode, 4000);
  assert.equal(log.close.termination, 'WC');

  const plain = await connect(`${gw.ws}/plain`);
  plain.ws.send('{"user":"bob"}');
  await until(() => plain.messages[0], 'plain echo');
  assert.equal(plain.messages[0]!.data.toString(), '{"user":"bob"}');
  plain.ws.close();
  const plainLog = await connectionLog(gw.logs, '/plain');
  assert.equal(plainLog.open.relay, undefined);
});

test('config keepalive keeps a silent connection open through limits.idleTimeout', async (t) => {
  const upstream = await startUpstream(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: `ws://127.0.0.1:${upstream.port}`, keepalive: '100ms' }], {
      limits: { idleTimeout: '300ms' },
    }),
  );
  const c = await connect(`${gw.ws}/ka`);
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(c.ws.readyState, c.ws.OPEN);
  c.ws.close(1000);
  await c.closed;
  const log = await connectionLog(gw.logs, '/ka');
  const keepalive = log.close.keepalive as { pings: number; pongs: number };
  assert.ok(keepalive.pings >= 4 && keepalive.pongs >= 2, JSON.stringify(keepalive));
});

test('reload: an open relayed connection takes the new definition of a live rule, and keeps a rule that is not live', async (t) => {
  const upstream = await startUpstream(t);
  const up = `ws://127.0.0.1:${upstream.port}`;
  const config = (liveWith: string, fixedWith: string) =>
    reverseConfig([{ upstream: up, rules: ['live-one', 'fixed-one'] }], {
      rules: [
        {
          name: 'live-one',
          live: true,
          match: { direction: 'toServer' },
          actions: [{ replace: { pattern: 'a', with: liveWith } }],
        },
        {
          name: 'fixed-one',
          match: { direction: 'toServer' },
          actions: [{ replace: { pattern: 'b', with: fixedWith } }],
        },
      ],
    });
  const gw = await startTestWsgate(t, config('1', '2'));
  const c = await connect(`${gw.ws}/reload`);
  c.ws.send('ab');
  await until(() => c.messages[0], 'first echo');
  assert.equal(c.messages[0]!.data.toString(), '12');
  await gw.running.reload(configFromObject(config('X', 'Y'), '<test>'));
  c.ws.send('ab');
  await until(() => c.messages[1], 'second echo');
  assert.equal(c.messages[1]!.data.toString(), 'X2', 'the live rule changed, the other did not');
  // A new connection gets the new config entirely.
  const d = await connect(`${gw.ws}/reload-new`);
  d.ws.send('ab');
  await until(() => d.messages[0], 'new echo');
  assert.equal(d.messages[0]!.data.toString(), 'XY');
  c.ws.close();
  d.ws.close();
});

test('shutdown: a relayed connection gets Close 1001 on both sides and the close line says WS', async (t) => {
  let serverClose: number | undefined;
  const upstream = await startUpstream(t, {
    onConnection: (ws) => {
      ws.on('close', (code) => {
        serverClose = code;
      });
    },
  });
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: `ws://127.0.0.1:${upstream.port}`, rules: ['tag'] }], {
      rules: [{ name: 'tag', actions: [{ mark: 'seen' }] }],
    }),
  );
  const c = await connect(`${gw.ws}/down`);
  await gw.running.shutdown();
  assert.equal((await c.closed).code, 1001);
  await until(() => serverClose, 'the server close');
  assert.equal(serverClose, 1001);
  const log = await connectionLog(gw.logs, '/down');
  assert.equal(log.open.relay, true);
  assert.equal(log.close.termination, 'WS');
  assert.equal(log.close.closeCode, 1001);
});

test('config inject: a route whose only rule injects is relayed; at open and every interval, to both sides', async (t) => {
  const upstream = await startUpstream(t, { onConnection: () => {} });
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: `ws://127.0.0.1:${upstream.port}`, rules: ['greet', 'tick'] }], {
      rules: [
        {
          name: 'greet',
          actions: [
            { inject: { to: 'client', text: 'hello-client', on: 'open' } },
            { inject: { to: 'server', text: 'hello-server', on: 'open' } },
          ],
        },
        {
          name: 'tick',
          actions: [
            { inject: { to: 'client', text: 'tick-client', every: '100ms' } },
            { inject: { to: 'server', binary: 'AAE=', every: '100ms' } },
          ],
        },
      ],
    }),
  );
  const c = await connect(`${gw.ws}/inject`);
  await until(() => (c.messages.length >= 3 ? true : undefined), 'three messages at the client', 5000);
  assert.equal(c.messages[0]!.data.toString(), 'hello-client', 'the injection at open comes first');
  assert.ok(c.messages.slice(1).every((m) => m.data.toString() === 'tick-client'));
  await until(() => (upstream.received.length >= 3 ? true : undefined), 'three messages at the server', 5000);
  assert.equal(upstream.received[0]!.data.toString(), 'hello-server');
  assert.ok(upstream.received.slice(1).every((m) => m.isBinary && m.data.equals(Buffer.from([0, 1]))));
  c.ws.close(1000);
  await c.closed;
  const log = await connectionLog(gw.logs, '/inject');
  assert.equal(log.open.relay, true);
  const injected = gw.logs.lines.filter((l) => l.event === 'ws.rule' && l.conn === log.conn && l.action === 'inject');
  assert.ok(injected.some((l) => l.rule === 'greet' && l.dir === 'toClient'));
  assert.ok(injected.some((l) => l.rule === 'tick' && l.dir === 'toUpstream'));
});
