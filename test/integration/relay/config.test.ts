// The relay driven by the config, end to end through a running wsgate: rules named by a route relay its
// connections (a replace in both directions, a close), a route without rules stays on the byte-exact passthrough,
// every hit is a ws.rule line, keepalive from the config keeps a silent connection through limits.idleTimeout, and a
// route whose only rules inject (at open, every interval) stays on the passthrough with its extensions, while a
// replace step beside the same injections relays it.
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

test('config inject: a route whose only rules inject stays on the passthrough and keeps permessage-deflate; a replace step relays', async (t) => {
  // The upstream echoes the client's text messages and notes what each handshake asked for and what it agreed.
  const asked = new Map<string, string | undefined>();
  const agreed = new Map<string, string>();
  const upstream = await startUpstream(t, {
    perMessageDeflate: true,
    onConnection: (ws, req) => {
      asked.set(req.url ?? '/', req.headers['sec-websocket-extensions'] as string | undefined);
      agreed.set(req.url ?? '/', ws.extensions);
      ws.on('message', (data: Buffer, isBinary) => {
        if (!isBinary && data.toString() !== 'tick-server') ws.send(data, { binary: false });
      });
    },
  });
  const gw = await startTestWsgate(
    t,
    reverseConfig(
      [
        {
          name: 'inject',
          match: { path: '/inject' },
          upstream: `ws://127.0.0.1:${upstream.port}`,
          rules: ['greet', 'tick'],
        },
        {
          name: 'edit',
          match: { path: '/edit' },
          upstream: `ws://127.0.0.1:${upstream.port}`,
          rules: ['rename', 'greet'],
        },
      ],
      {
        rules: [
          {
            name: 'greet',
            actions: [
              { inject: { to: 'client', text: 'hello-client', on: 'open' } },
              { inject: { to: 'server', binary: 'AAEC', on: 'open' } },
            ],
          },
          {
            name: 'tick',
            actions: [
              { inject: { to: 'client', binary: 'BwcH', every: '50ms' } },
              { inject: { to: 'server', text: 'tick-server', every: '50ms' } },
            ],
          },
          { name: 'rename', match: { type: 'text' }, actions: [{ replace: { pattern: 'ada', with: 'bob' } }] },
        ],
      },
    ),
  );
  const c = await connect(`${gw.ws}/inject`);
  // Both sides keep what they negotiated: the client's offer reached the upstream, whose answer reached the client.
  assert.match(asked.get('/inject') ?? '', /permessage-deflate/);
  assert.match(agreed.get('/inject') ?? '', /permessage-deflate/);
  assert.match(c.ws.extensions, /permessage-deflate/);
  // Compressed messages flow both ways between wsgate's own, uncompressed ones (a bad RSV1 would fail the client).
  const big = `{"user":"ada","pad":"${'x'.repeat(4000)}"}`;
  for (let i = 0; i < 3; i++) c.ws.send(big);
  await until(() => (c.messages.filter((m) => !m.isBinary).length >= 4 ? true : undefined), 'the echoes', 5000);
  await until(() => (c.messages.filter((m) => m.isBinary).length >= 3 ? true : undefined), 'three ticks', 5000);
  assert.equal(c.messages[0]!.data.toString(), 'hello-client', 'the injection at open comes first');
  assert.deepEqual(
    c.messages.filter((m) => !m.isBinary).map((m) => m.data.toString()),
    ['hello-client', big, big, big],
  );
  assert.ok(c.messages.filter((m) => m.isBinary).every((m) => m.data.equals(Buffer.from([7, 7, 7]))));
  await until(() => (upstream.received.length >= 6 ? true : undefined), 'messages at the server', 5000);
  const atServer = upstream.received.filter((m) => m.path === '/inject');
  assert.ok(atServer[0]!.isBinary && atServer[0]!.data.equals(Buffer.from([0, 1, 2])), 'the binary injection first');
  assert.equal(atServer.filter((m) => !m.isBinary && m.data.toString() === big).length, 3);
  assert.ok(atServer.filter((m) => m.data.toString() === 'tick-server').length >= 2, 'ticks toward the server');
  c.ws.close(1000);
  await c.closed;
  const log = await connectionLog(gw.logs, '/inject');
  assert.equal(log.open.relay, undefined, 'not relayed');
  const rules = () => gw.logs.lines.filter((l) => l.event === 'ws.rule' && l.conn === log.conn);
  assert.ok(rules().every((l) => l.action === 'inject'));
  assert.ok(rules().some((l) => l.rule === 'greet' && l.dir === 'toClient' && l.detail === 'text 12 B'));
  assert.ok(rules().some((l) => l.rule === 'greet' && l.dir === 'toUpstream' && l.detail === 'binary 3 B'));
  assert.ok(rules().some((l) => l.rule === 'tick' && l.dir === 'toUpstream' && l.detail === 'text 11 B'));
  // The periodic injections stop with the connection.
  const ticks = rules().length;
  const received = upstream.received.length;
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(rules().length, ticks, 'no tick after the end');
  assert.equal(upstream.received.length, received);

  // A message step relays the connection, and relay.deflate strip takes permessage-deflate out of the handshake.
  const e = await connect(`${gw.ws}/edit`);
  assert.equal(asked.get('/edit'), undefined);
  assert.equal(e.ws.extensions, '');
  await until(() => e.messages[0], 'the injection at open');
  assert.equal(e.messages[0]!.data.toString(), 'hello-client');
  e.ws.send('{"user":"ada"}');
  await until(() => e.messages[1], 'the echo');
  assert.equal(e.messages[1]!.data.toString(), '{"user":"bob"}');
  e.ws.close(1000);
  await e.closed;
  assert.equal((await connectionLog(gw.logs, '/edit')).open.relay, true);
});
