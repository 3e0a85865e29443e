// The relay carries out each kind of verdict end to end, between real `ws` clients and servers: rewrite (a nested
// JSON field, both directions), drop, delay (order kept), inject (at open, on a message, periodically, both
// directions), refragment, and close (codes and reasons arrive at the side they were meant for).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OutMessage, RuleMessage, Verdict } from '../../../src/rules/types.ts';
import { OPCODE, RawWsClient, startRawUpstream, waitUntil } from '../../helpers/raw-ws.ts';
import { connect, handRules, startGate, startUpstream, until } from './support.ts';

const pass = (m: RuleMessage): Verdict => ({ send: [m], hits: [] });

test('a nested JSON field is rewritten in both directions, and each hit is one rule event', async (t) => {
  const upstream = await startUpstream(t);
  const rewrite = (m: RuleMessage): Verdict => {
    if (m.type !== 'text') return pass(m);
    const doc = JSON.parse(m.data.toString('utf8')) as { user: { name: string; seen?: string[] } };
    doc.user.seen = [...(doc.user.seen ?? []), m.direction];
    return {
      send: [{ ...m, data: Buffer.from(JSON.stringify(doc)) }],
      hits: [{ rule: 'tag', action: 'setJson', detail: `set /user/seen (${m.direction})` }],
    };
  };
  const gate = await startGate(t, { upstreamPort: upstream.port, rules: () => handRules({ onMessage: rewrite }) });
  const c = await connect(`${gate.url}/json`);
  c.ws.send(JSON.stringify({ user: { name: 'ada' } }));
  await until(() => c.messages[0], 'echo');
  // The upstream saw the client's message rewritten once; the client sees the echo rewritten again on the way back.
  assert.deepEqual(JSON.parse(upstream.received[0]!.data.toString()), { user: { name: 'ada', seen: ['toUpstream'] } });
  assert.deepEqual(JSON.parse(c.messages[0]!.data.toString()), {
    user: { name: 'ada', seen: ['toUpstream', 'toClient'] },
  });
  c.ws.close(1000, 'bye');
  assert.deepEqual(await c.closed, { code: 1000, reason: 'bye' });
  const end = await gate.end('/json');
  assert.equal(end.closeCode, 1000);
  assert.equal(end.termination, 'CC');
  assert.equal(end.clean, true);
  const rules = gate.of('/json').filter((e) => e.type === 'rule');
  assert.deepEqual(
    rules.map((e) => e.type === 'rule' && [e.dir, e.rule, e.action]),
    [
      ['toUpstream', 'tag', 'setJson'],
      ['toClient', 'tag', 'setJson'],
    ],
  );
  const open = gate.of('/json').find((e) => e.type === 'open');
  assert.equal(open?.type === 'open' && open.relay, true);
});

test('drop, and delay keeps the order within a direction', async (t) => {
  const upstream = await startUpstream(t);
  const rules = (m: RuleMessage): Verdict => {
    const text = m.data.toString();
    if (m.direction === 'toUpstream' && text === 'drop-me') {
      return { send: [], hits: [{ rule: 'd', action: 'drop', detail: 'dropped' }] };
    }
    // Every even message toward the client waits 150 ms; the odd ones behind it must wait too.
    if (m.direction === 'toClient' && m.type === 'text' && Number(text) % 2 === 0) {
      return { send: [{ ...m, delayMs: 150 }], hits: [{ rule: 'slow', action: 'delay', detail: 'delayed 150ms' }] };
    }
    return pass(m);
  };
  const gate = await startGate(t, { upstreamPort: upstream.port, rules: () => handRules({ onMessage: rules }) });
  const c = await connect(`${gate.url}/delay`);
  const started = performance.now();
  c.ws.send('drop-me');
  for (let i = 0; i < 10; i++) c.ws.send(String(i));
  await until(() => (c.messages.length >= 10 ? true : undefined), '10 echoes');
  const took = performance.now() - started;
  assert.deepEqual(
    c.messages.map((m) => m.data.toString()),
    ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  );
  assert.ok(!upstream.received.some((r) => r.data.toString() === 'drop-me'), 'the dropped message never arrived');
  // Five delays of 150 ms, one after the other (each waits behind the previous one at most).
  assert.ok(took >= 140, `took ${took} ms`);
  c.ws.close();
  await c.closed;
});

test('inject: at open toward both sides, on a message toward the other side, and periodically', async (t) => {
  const upstream = await startUpstream(t, {
    onConnection: (ws) => {
      ws.on('message', (data: Buffer) => {
        if (data.toString() !== 'hello-server') ws.send(`echo:${data.toString()}`);
      });
    },
  });
  let ticks = 0;
  const rules = (m: RuleMessage): Verdict => {
    if (m.direction === 'toUpstream' && m.data.toString() === 'ping-me') {
      const extra: OutMessage = { direction: 'toClient', type: 'text', data: Buffer.from('injected-reply') };
      return { send: [m, extra], hits: [{ rule: 'r', action: 'inject', detail: 'reply' }] };
    }
    return pass(m);
  };
  const gate = await startGate(t, {
    upstreamPort: upstream.port,
    rules: () =>
      handRules({
        onMessage: rules,
        injections: [
          { rule: 'hello', message: { direction: 'toClient', type: 'text', data: Buffer.from('hello-client') } },
          { rule: 'hello', message: { direction: 'toUpstream', type: 'text', data: Buffer.from('hello-server') } },
          {
            rule: 'tick',
            message: { direction: 'toClient', type: 'binary', data: Buffer.from([1, 2, 3]) },
            everyMs: 40,
          },
        ],
      }),
  });
  const c = await connect(`${gate.url}/inject`);
  await until(() => upstream.received.find((r) => r.data.toString() === 'hello-server'), 'hello at the server');
  c.ws.send('ping-me');
  await until(() => c.messages.find((m) => m.data.toString() === 'echo:ping-me'), 'echo');
  await until(() => (c.messages.filter((m) => m.isBinary).length >= 3 ? true : undefined), 'three ticks');
  const texts = c.messages.filter((m) => !m.isBinary).map((m) => m.data.toString());
  assert.equal(texts[0], 'hello-client', 'the injection at open comes first');
  assert.ok(texts.includes('injected-reply'));
  for (const m of c.messages.filter((x) => x.isBinary)) assert.deepEqual([...m.data], [1, 2, 3]);
  ticks = c.messages.filter((m) => m.isBinary).length;
  c.ws.close();
  await c.closed;
  await gate.end('/inject');
  // The periodic injection stops with the connection.
  await new Promise((r) => setTimeout(r, 120));
  assert.ok(ticks >= 3);
  assert.ok(gate.of('/inject').some((e) => e.type === 'rule' && e.action === 'inject' && e.rule === 'tick'));
});

test('refragment: split into frames toward the client (unmasked) and the server (masked, a fresh key per frame)', async (t) => {
  const upstream = await startRawUpstream(t);
  const rules = (m: RuleMessage): Verdict =>
    m.type === 'text' || m.type === 'binary' ? { send: [{ ...m, fragments: 7 }], hits: [] } : pass(m);
  const gate = await startGate(t, { upstreamPort: upstream.port, rules: () => handRules({ onMessage: rules }) });
  const client = await RawWsClient.connect(t, gate.port, { path: '/frag' });
  const up = await upstream.connection('/frag');
  const text = 'x'.repeat(1000);
  await client.send({ opcode: OPCODE.TEXT, payload: text });
  await waitUntil(() => up.frames.length >= 7, '7 frames at the upstream');
  const toServer = up.frames.slice(0, 7);
  assert.deepEqual(
    toServer.map((f) => [f.opcode, f.fin, f.masked]),
    [
      [OPCODE.TEXT, false, true],
      ...Array.from({ length: 5 }, () => [OPCODE.CONTINUATION, false, true]),
      [OPCODE.CONTINUATION, true, true],
    ],
  );
  assert.equal(Buffer.concat(toServer.map((f) => f.payload)).toString(), text);
  assert.equal(new Set(toServer.map((f) => f.maskKey!.toString('hex'))).size, 7, 'a fresh masking key per frame');
  await up.send({ opcode: OPCODE.BINARY, payload: Buffer.alloc(10, 7) });
  await waitUntil(() => client.frames.length >= 7, '7 frames at the client');
  assert.deepEqual(
    client.frames.map((f) => [f.opcode, f.fin, f.masked, f.length]),
    [
      [OPCODE.BINARY, false, false, 2],
      [OPCODE.CONTINUATION, false, false, 2],
      [OPCODE.CONTINUATION, false, false, 2],
      [OPCODE.CONTINUATION, false, false, 1],
      [OPCODE.CONTINUATION, false, false, 1],
      [OPCODE.CONTINUATION, false, false, 1],
      [OPCODE.CONTINUATION, true, false, 1],
    ],
  );
});

test('a ping between fragments is passed on at once and the message still arrives whole', async (t) => {
  const upstream = await startUpstream(t);
  const gate = await startGate(t, { upstreamPort: upstream.port, rules: () => handRules() });
  const client = await RawWsClient.connect(t, gate.port, { path: '/ping-between' });
  await client.send({ opcode: OPCODE.TEXT, payload: 'hel', fin: false });
  await client.send({ opcode: OPCODE.PING, payload: 'p1' });
  await waitUntil(() => client.frames.some((f) => f.opcode === OPCODE.PONG), 'the pong');
  await client.send({ opcode: OPCODE.CONTINUATION, payload: 'lo', fin: true });
  await waitUntil(() => client.frames.some((f) => f.opcode === OPCODE.TEXT), 'the echo');
  assert.equal(client.frames.find((f) => f.opcode === OPCODE.PONG)!.payload.toString(), 'p1');
  assert.equal(client.frames.find((f) => f.opcode === OPCODE.TEXT)!.payload.toString(), 'hello');
});

test('close orders: code and reason to the client, to the server, and to both', async (t) => {
  const seen: Record<string, { code: number; reason: string }> = {};
  const upstream = await startUpstream(t, {
    onConnection: (ws, req) => {
      ws.on('close', (code, reason) => {
        seen[req.url ?? ''] = { code, reason: reason.toString() };
      });
      ws.on('message', (d: Buffer) => ws.send(d));
    },
  });
  const closeOn = (m: RuleMessage): Verdict => {
    const text = m.data.toString();
    if (m.direction === 'toUpstream' && text.startsWith('close:')) {
      const to = text.slice('close:'.length) as 'client' | 'server' | 'both';
      return {
        send: [],
        hits: [{ rule: 'c', action: 'close', detail: to }],
        close: { code: 4001, reason: `by rule ${to}`, to },
      };
    }
    return pass(m);
  };
  const gate = await startGate(t, { upstreamPort: upstream.port, rules: () => handRules({ onMessage: closeOn }) });
  for (const to of ['client', 'server', 'both'] as const) {
    const path = `/close-${to}`;
    const c = await connect(`${gate.url}${path}`);
    c.ws.send(`close:${to}`);
    const closed = await c.closed;
    const end = await gate.end(path);
    await until(() => seen[path], `the server's close on ${path}`);
    if (to === 'client' || to === 'both')
      assert.deepEqual(closed, { code: 4001, reason: 'by rule client'.replace('client', to) });
    if (to === 'server' || to === 'both') assert.deepEqual(seen[path], { code: 4001, reason: `by rule ${to}` });
    if (to === 'client') assert.equal(seen[path]!.code, 4001, 'the server hears the client answer with the same code');
    if (to === 'server') assert.equal(closed.code, 4001, 'the client hears the server answer with the same code');
    assert.equal(end.endedBy, 'wsgate');
    assert.equal(end.closeCode, 4001);
    assert.equal(end.termination, 'WC');
  }
});

test('connection faults act on a relayed connection too: latency delays the rewritten message, idleCut cuts with 1006', async (t) => {
  const upstream = await startUpstream(t);
  const upper = (m: RuleMessage): Verdict =>
    m.type === 'text' ? { send: [{ ...m, data: Buffer.from(m.data.toString().toUpperCase()) }], hits: [] } : pass(m);
  const gate = await startGate(t, {
    upstreamPort: upstream.port,
    rules: (path) =>
      handRules({
        onMessage: upper,
        connection: path === '/latency' ? { latency: { rule: 'slow', ms: 150 } } : { idleCut: { rule: 'lb', ms: 200 } },
      }),
  });
  const c = await connect(`${gate.url}/latency`);
  const started = performance.now();
  c.ws.send('hi');
  await until(() => c.messages[0], 'echo');
  const took = performance.now() - started;
  assert.equal(c.messages[0]!.data.toString(), 'HI');
  // Both ways: 150 ms up, 150 ms down.
  assert.ok(took >= 280, `took ${took} ms`);
  c.ws.close();
  await c.closed;

  const d = await connect(`${gate.url}/idle-cut`);
  const closed = await d.closed;
  assert.equal(closed.code, 1006, 'no Close frame: the TCP connection was cut');
  const end = await gate.end('/idle-cut');
  assert.equal(end.how, 'fault');
  assert.match(end.detail ?? '', /idleCut/);
});
