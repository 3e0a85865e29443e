// permessage-deflate on relayed connections, against `ws` on both ends: stripped from the handshake by default
// (nothing compressed), or kept (relay.deflate: keep) with the relay inflating and re-deflating each direction
// with the negotiated window bits (9–15) and context takeover on and off.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RuleMessage, Verdict } from '../../../src/rules/types.ts';
import { connect, handRules, startGate, startUpstream, until } from './support.ts';

// A rewrite, so the relay must really decode and re-encode every message.
const suffix = (m: RuleMessage): Verdict =>
  m.type === 'text'
    ? { send: [{ ...m, data: Buffer.concat([m.data, Buffer.from(`|${m.direction}`)]) }], hits: [] }
    : { send: [m], hits: [] };

// Repetitive text, so later messages refer back into earlier ones when context takeover is on.
const texts = Array.from(
  { length: 6 },
  (_, i) => `{"type":"typing","user":"ada lovelace","n":${i},"pad":"${'abc'.repeat(50 + i)}"}`,
);

test('deflate strip (default): the extension is removed from the handshake and nothing is compressed', async (t) => {
  let offered: string | undefined = 'unset';
  const upstream = await startUpstream(t, { perMessageDeflate: { threshold: 0 } });
  upstream.wss.on('headers', (_h, req) => {
    offered = req.headers['sec-websocket-extensions'];
  });
  const gate = await startGate(t, { upstreamPort: upstream.port, rules: () => handRules({ onMessage: suffix }) });
  const c = await connect(`${gate.url}/strip`, { perMessageDeflate: { threshold: 0 } });
  assert.equal(offered, undefined, 'the upstream got no Sec-WebSocket-Extensions');
  assert.equal(c.ws.extensions, '');
  for (const text of texts) c.ws.send(text);
  await until(() => (c.messages.length === texts.length ? true : undefined), 'echoes');
  assert.deepEqual(
    c.messages.map((m) => m.data.toString()),
    texts.map((x) => `${x}|toUpstream|toClient`),
  );
  assert.ok(
    gate.of('/strip').every((e) => e.type !== 'frame' || !e.rsv1),
    'no frame was compressed',
  );
  c.ws.close();
  await c.closed;
});

type Case = { bits: number; serverNoContext: boolean; clientNoContext: boolean };
const cases: Case[] = [
  { bits: 15, serverNoContext: false, clientNoContext: false },
  { bits: 9, serverNoContext: false, clientNoContext: false },
  { bits: 12, serverNoContext: true, clientNoContext: false },
  { bits: 10, serverNoContext: false, clientNoContext: true },
  { bits: 9, serverNoContext: true, clientNoContext: true },
  { bits: 15, serverNoContext: true, clientNoContext: true },
];

for (const { bits, serverNoContext, clientNoContext } of cases) {
  const name = `window bits ${bits}, server context takeover ${serverNoContext ? 'off' : 'on'}, client ${clientNoContext ? 'off' : 'on'}`;
  test(`deflate keep: ${name}`, async (t) => {
    const upstream = await startUpstream(t, { perMessageDeflate: { threshold: 0 } });
    const gate = await startGate(t, {
      upstreamPort: upstream.port,
      rules: () => handRules({ onMessage: suffix, deflate: 'keep' }),
    });
    const path = `/keep-${bits}-${serverNoContext}-${clientNoContext}`;
    const c = await connect(`${gate.url}${path}`, {
      perMessageDeflate: {
        threshold: 0,
        clientMaxWindowBits: bits,
        serverMaxWindowBits: bits,
        serverNoContextTakeover: serverNoContext,
        clientNoContextTakeover: clientNoContext,
      },
    });
    // What the upstream's 101 agreed, as the relay read it.
    const open = gate.of(path).find((e) => e.type === 'open');
    const agreed = open?.type === 'open' ? (open.extensions ?? '') : '';
    assert.match(agreed, /permessage-deflate/);
    assert.match(agreed, new RegExp(`server_max_window_bits=${bits}`));
    assert.match(agreed, new RegExp(`client_max_window_bits=${bits}`));
    assert.equal(agreed.includes('server_no_context_takeover'), serverNoContext);
    assert.equal(agreed.includes('client_no_context_takeover'), clientNoContext);
    for (const text of texts) c.ws.send(text);
    await until(() => (c.messages.length === texts.length ? true : undefined), 'echoes');
    assert.deepEqual(
      upstream.received.map((r) => r.data.toString()),
      texts.map((x) => `${x}|toUpstream`),
    );
    assert.deepEqual(
      c.messages.map((m) => m.data.toString()),
      texts.map((x) => `${x}|toUpstream|toClient`),
    );
    // What arrived at wsgate was compressed both ways (ws with threshold 0 compresses everything).
    const frames = gate.of(path).filter((e) => e.type === 'frame');
    assert.ok(frames.length >= texts.length * 2);
    assert.ok(frames.every((e) => e.type === 'frame' && e.rsv1));
    c.ws.close(1000);
    assert.equal((await c.closed).code, 1000);
    const end = await gate.end(path);
    assert.equal(end.clean, true);
  });
}

test('deflate keep: a deflate bomb from the upstream closes it with 1009 and tells the client 1014', async (t) => {
  const bomb = Buffer.alloc(8 * 1024 * 1024, 0x61);
  const upstream = await startUpstream(t, {
    perMessageDeflate: { threshold: 0 },
    onConnection: (ws) => ws.send(bomb),
  });
  const serverClosed = new Promise<number>((resolve) =>
    upstream.wss.on('connection', (ws) => ws.on('close', (code) => resolve(code))),
  );
  const gate = await startGate(t, {
    upstreamPort: upstream.port,
    rules: () => handRules({ deflate: 'keep' }),
    limits: { maxMessageBytes: 1024 * 1024 },
  });
  const c = await connect(`${gate.url}/bomb`, { perMessageDeflate: { threshold: 0 } });
  const closed = await c.closed;
  assert.equal(closed.code, 1014);
  assert.equal(c.messages.length, 0, 'the bomb never reached the client');
  assert.equal(await serverClosed, 1009);
  const end = await gate.end('/bomb');
  assert.equal(end.endedBy, 'wsgate');
  assert.equal(end.how, 'limit');
  assert.equal(end.closeCode, 1009);
});
