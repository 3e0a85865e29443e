// The rules' injections at open and `every:` on a connection that is not relayed (passthrough-control.ts through
// injector.ts): the same injections on a relayed and on a passthrough connection give the same message and rule
// events, the passthrough one keeps permessage-deflate, its ticks stop at the end, and a periodic injection waits
// for a message boundary — while a fragmented message is in flight its ticks are skipped and said so; once a
// violation lost the framing of its direction, that is said once and its ticks stop.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WsEvent } from '../../../src/events.ts';
import type { Injection } from '../../../src/rules/types.ts';
import { OPCODE, RawWsClient, startRawUpstream, waitUntil } from '../../helpers/raw-ws.ts';
import { connect, handRules, startGate, startUpstream, until } from './support.ts';

const INJECTIONS: Injection[] = [
  { rule: 'greet', message: { direction: 'toClient', type: 'text', data: Buffer.from('hello-client') } },
  { rule: 'greet', message: { direction: 'toUpstream', type: 'binary', data: Buffer.from([1, 2, 3]) } },
  { rule: 'tick', everyMs: 30, message: { direction: 'toUpstream', type: 'text', data: Buffer.from('tick') } },
];

/** What an injection's events say, without the connection's id, route and time. */
function said(events: WsEvent[]): unknown[] {
  return events
    .filter((e) => (e.type === 'message' && e.origin === 'wsgate') || e.type === 'rule')
    .map((e) => {
      const { conn: _c, route: _r, time: _t, ...rest } = e;
      return rest;
    });
}

test('injections: a passthrough connection reports what a relayed one does, and keeps permessage-deflate', async (t) => {
  const upstream = await startUpstream(t, { perMessageDeflate: true, onConnection: () => {} });
  const gate = await startGate(t, {
    upstreamPort: upstream.port,
    rules: (path) => handRules({ needsRelay: path === '/relay', injections: INJECTIONS }),
  });
  const runs: Record<string, unknown[]> = {};
  for (const path of ['/relay', '/pass']) {
    const c = await connect(`${gate.url}${path}`);
    await until(() => c.messages[0], `the greeting on ${path}`);
    assert.equal(c.messages[0]!.data.toString(), 'hello-client');
    const ticks = () => gate.of(path).filter((e) => e.type === 'rule' && e.rule === 'tick');
    await waitUntil(() => ticks().length >= 3, `three ticks on ${path}`);
    assert.equal((await gate.session(path)).mode, path === '/relay' ? 'relay' : 'passthrough');
    // relay.deflate strip takes the offer out on the relay; the passthrough leaves the negotiation alone.
    assert.equal(/permessage-deflate/.test(c.ws.extensions), path === '/pass', `${path}: ${c.ws.extensions}`);
    c.ws.close(1000);
    await c.closed;
    await gate.end(path);
    const count = gate.of(path).length;
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(gate.of(path).length, count, `${path}: nothing after the end (the tick's timer is cleared)`);
    // The greetings and the first three ticks: a message event of wsgate's, then the hit that names it.
    runs[path] = said(gate.of(path)).slice(0, 10);
  }
  assert.deepEqual(runs['/pass'], runs['/relay']);
  assert.deepEqual(runs['/pass']!.slice(0, 4), [
    {
      type: 'message',
      dir: 'toClient',
      kind: 'text',
      size: 12,
      fragments: 1,
      compressed: false,
      origin: 'wsgate',
      preview: 'hello-client',
      truncated: false,
    },
    { type: 'rule', dir: 'toClient', rule: 'greet', action: 'inject', detail: 'text 12 B', ofMessage: true },
    {
      type: 'message',
      dir: 'toUpstream',
      kind: 'binary',
      size: 3,
      fragments: 1,
      compressed: false,
      origin: 'wsgate',
      preview: '010203',
      truncated: false,
    },
    { type: 'rule', dir: 'toUpstream', rule: 'greet', action: 'inject', detail: 'binary 3 B', ofMessage: true },
  ]);
  const atServer = upstream.received.filter((m) => m.path === '/pass');
  assert.deepEqual(atServer[0], { path: '/pass', data: Buffer.from([1, 2, 3]), isBinary: true });
  assert.ok(atServer.slice(1).every((m) => !m.isBinary && m.data.toString() === 'tick'));
});

test('injections on the passthrough wait for a message boundary: ticks during a fragmented message are skipped', async (t) => {
  const upstream = await startUpstream(t, { onConnection: () => {} });
  const gate = await startGate(t, {
    upstreamPort: upstream.port,
    rules: () => handRules({ needsRelay: false, injections: [INJECTIONS[2]!] }),
  });
  const client = await RawWsClient.connect(t, gate.port, { path: '/frag' });
  const ticks = () => gate.of('/frag').filter((e) => e.type === 'rule' && e.rule === 'tick');
  await waitUntil(() => ticks().length >= 1, 'a first tick');
  // A text message begun but not finished: nothing of wsgate's may go in before its last fragment.
  await client.send({ opcode: OPCODE.TEXT, payload: 'part-1 ', fin: false });
  await waitUntil(
    () => ticks().some((e) => e.type === 'rule' && e.detail.includes('still waits for a message boundary')),
    'a skipped tick',
  );
  const during = upstream.received.length;
  await client.send({ opcode: OPCODE.CONTINUATION, payload: 'part-2', fin: true });
  await until(() => upstream.received.find((m) => m.data.toString() === 'part-1 part-2'), 'the whole message');
  await waitUntil(() => upstream.received.length >= during + 3, 'ticks after the message');
  // The one tick that waited went out after the message, never inside it; the skipped ones never.
  const texts = upstream.received.map((m) => m.data.toString());
  const whole = texts.indexOf('part-1 part-2');
  assert.ok(texts.slice(0, whole).every((s) => s === 'tick'));
  assert.ok(texts.slice(whole + 1).every((s) => s === 'tick'));
  const sent = ticks().filter((e) => e.type === 'rule' && e.detail === 'text 4 B').length;
  await waitUntil(() => upstream.received.length >= sent, 'every tick reported as sent arrived');
  // The log says what the server got, in its order: the tick that waited is reported when written, after the
  // fragmented message, not at its timer (it would then precede the message it followed on the wire).
  const logged = gate
    .of('/frag')
    .filter((e) => e.type === 'message' && e.dir === 'toUpstream')
    .map((e) => (e.type === 'message' ? e.preview : ''));
  assert.deepEqual(logged.slice(0, texts.length), texts);
});

test('injections on the passthrough through a throttle fault: ticks are skipped while its lane holds maxBufferedBytes', async (t) => {
  const upstream = await startUpstream(t, { onConnection: () => {} });
  const payload = Buffer.alloc(64 * 1024, 9);
  const gate = await startGate(t, {
    upstreamPort: upstream.port,
    maxBufferedBytes: 1024 * 1024,
    rules: () =>
      handRules({
        needsRelay: false,
        connection: { throttle: { rule: 'slow', toClient: 1024 } },
        injections: [{ rule: 'tick', everyMs: 2, message: { direction: 'toClient', type: 'binary', data: payload } }],
      }),
  });
  const c = await connect(`${gate.url}/throttled`);
  const ticks = () => gate.of('/throttled').filter((e) => e.type === 'rule' && e.rule === 'tick');
  const skipped = () => ticks().filter((e) => e.type === 'rule' && e.detail.startsWith('skipped'));
  await waitUntil(() => skipped().length >= 20, '20 skipped ticks');
  // The lane stops taking them at maxBufferedBytes (1 MiB): about 16 of 64 KiB, never every tick's worth.
  const sent = ticks().length - skipped().length;
  assert.ok(sent >= 1 && sent <= 18, `${sent} injections went into the throttled lane`);
  c.ws.terminate();
});

test('injections on the passthrough after a violation lost the framing: said once, not at every tick', async (t) => {
  // A raw upstream: it keeps the connection open whatever the client sends, as a lenient server would.
  const upstream = await startRawUpstream(t, { record: false });
  const gate = await startGate(t, {
    upstreamPort: upstream.port,
    tap: { onViolation: 'log' },
    rules: () =>
      handRules({
        needsRelay: false,
        injections: [
          { rule: 'tick', everyMs: 5, message: { direction: 'toUpstream', type: 'text', data: Buffer.from('tick') } },
        ],
      }),
  });
  const client = await RawWsClient.connect(t, gate.port, { path: '/lost' });
  const ticks = () => gate.of('/lost').filter((e) => e.type === 'rule' && e.rule === 'tick');
  await waitUntil(() => ticks().length >= 2, 'two ticks');
  // A frame header whose 64-bit length has its top bit set: the tap cannot find where the frame ends (§5.2).
  await client.write(Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]));
  await waitUntil(() => gate.of('/lost').some((e) => e.type === 'violation'), 'the violation');
  const lost = () => ticks().filter((e) => e.type === 'rule' && e.detail.includes('framing toward the server is lost'));
  await waitUntil(() => lost().length >= 1, 'the skipped tick');
  // Sixty ticks' time: still the one line, with what the first said.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(lost().length, 1);
  assert.match(
    (lost()[0] as { detail: string }).detail,
    /^skipped: the framing toward the server is lost \(a protocol violation\); no more ticks of this rule on this connection$/,
  );
  assert.equal(ticks().at(-1), lost()[0], 'nothing of the rule after it');
  assert.equal((await gate.session('/lost')).mode, 'passthrough');
});
