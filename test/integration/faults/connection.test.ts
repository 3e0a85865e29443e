// Connection faults (docs/faults.md) as a real ws client sees them through wsgate's Upgrade forwarder: idleCut and
// maxLifetime close TCP with no Close frame (1006), throttle/latency/buffer slow and clump traffic, halfOpen stops
// one direction without FIN, resetAfter resets. Timing assertions are loose lower bounds, never tight.
import assert from 'node:assert/strict';
import type net from 'node:net';
import { test } from 'node:test';
import type WebSocket from 'ws';
import { openWs, roundTrip } from '../../helpers/ws-client.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';
import { faultRules, startEchoUpstream, startFaultGate } from './harness.ts';

function closed(ws: WebSocket): Promise<{ code: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => ws.once('close', (code) => resolve({ code, ms: performance.now() - started })));
}

test('idleCut: after the silence both TCP connections close with no Close frame; the client sees 1006', async (t) => {
  const up = await startEchoUpstream(t);
  const gate = await startFaultGate(
    t,
    `ws://127.0.0.1:${up.port}`,
    faultRules({}, { idleCut: { rule: 'lb-idle', ms: 300 } }),
  );
  const ws = await openWs(gate.url);
  t.after(() => ws.terminate());
  // Traffic keeps it open: three round trips spaced below the cut.
  for (let i = 0; i < 3; i++) {
    assert.equal((await roundTrip(ws, `m${i}`)).data.toString(), `m${i}`);
    await new Promise((r) => setTimeout(r, 150));
  }
  const { code, ms } = await closed(ws);
  assert.equal(code, 1006, 'no Close frame reached the client');
  assert.ok(ms >= 100 && ms < 5000, `closed ${ms} ms after the last traffic`);
  const end = await gate.end();
  assert.equal(end.termination, 'WX');
  assert.equal(end.how, 'fault');
  assert.equal(end.closeCode, 1006);
  assert.match(end.detail ?? '', /idleCut \(rule "lb-idle"\)/);
});

test('maxLifetime: the connection is cut while busy, 1006 at the client, the end line names the rule', async (t) => {
  const up = await startEchoUpstream(t);
  const gate = await startFaultGate(
    t,
    `ws://127.0.0.1:${up.port}`,
    faultRules({}, { maxLifetime: { rule: 'short-lived', ms: 400 } }),
  );
  const ws = await openWs(gate.url);
  t.after(() => ws.terminate());
  const done = closed(ws);
  let sent = 0;
  const timer = setInterval(() => {
    if (ws.readyState === ws.OPEN && sent < 200) {
      ws.send(`tick ${sent++}`);
    }
  }, 20);
  t.after(() => clearInterval(timer));
  const { code } = await done;
  clearInterval(timer);
  assert.equal(code, 1006);
  const end = await gate.end();
  assert.equal(end.termination, 'WX');
  assert.match(end.detail ?? '', /maxLifetime \(rule "short-lived"\)/);
});

test('throttle: a 48 KiB echo at 32 KiB/s per direction takes over a second', async (t) => {
  const up = await startEchoUpstream(t);
  const rate = 32 * 1024;
  const gate = await startFaultGate(
    t,
    `ws://127.0.0.1:${up.port}`,
    faultRules({}, { throttle: { rule: 'slow-link', toUpstream: rate, toClient: rate } }),
  );
  const ws = await openWs(gate.url);
  t.after(() => ws.terminate());
  const payload = Buffer.alloc(48 * 1024, 7);
  const started = performance.now();
  const echo = await roundTrip(ws, payload);
  const ms = performance.now() - started;
  assert.equal(echo.data.length, payload.length);
  // 48 KiB each way at 32 KiB/s is 3 s of link time; allow a wide margin below and above.
  assert.ok(ms >= 1500, `the echo took only ${Math.round(ms)} ms`);
  assert.ok(ms < 15_000, `the echo took ${Math.round(ms)} ms`);
});

test('latency: every chunk is delayed, order kept', async (t) => {
  const up = await startEchoUpstream(t);
  const gate = await startFaultGate(
    t,
    `ws://127.0.0.1:${up.port}`,
    faultRules({}, { latency: { rule: 'far-away', ms: 200 } }),
  );
  const ws = await openWs(gate.url);
  t.after(() => ws.terminate());
  const received: string[] = [];
  ws.on('message', (d: Buffer) => received.push(d.toString()));
  const started = performance.now();
  for (let i = 0; i < 20; i++) ws.send(`n${i}`);
  const deadline = Date.now() + 5000;
  while (received.length < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const ms = performance.now() - started;
  assert.deepEqual(
    received,
    Array.from({ length: 20 }, (_, i) => `n${i}`),
  );
  assert.ok(ms >= 350, `20 echoes through 2 × 200 ms of latency took only ${Math.round(ms)} ms`);
});

/** The code and reason one side's `ws` reports at its close. */
function closedWith(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

for (const [name, faults] of [
  ['latency', { latency: { rule: 'far-away', ms: 200 } }],
  ['buffer', { buffer: { rule: 'av-scanner', everyMs: 300 } }],
] as const) {
  for (const by of ['client', 'server'] as const) {
    test(`${name}: a ${by}-initiated close goes through the slow link in order; both sides see 1000 and its reason`, async (t) => {
      const up = await startEchoUpstream(t);
      const serverSide = new Promise<WebSocket>((resolve) => up.wss.once('connection', resolve));
      const gate = await startFaultGate(t, `ws://127.0.0.1:${up.port}`, faultRules({}, faults));
      const ws = await openWs(gate.url);
      t.after(() => ws.terminate());
      const server = await serverSide;
      const atClient = closedWith(ws);
      const atServer = closedWith(server);
      if (by === 'client') ws.close(1000, 'client-bye');
      else server.close(1000, 'server-bye');
      const reason = `${by}-bye`;
      // The peer answers with the code and reason it received (ws echoes them).
      assert.deepEqual(await atClient, { code: 1000, reason });
      assert.deepEqual(await atServer, { code: 1000, reason });
      const end = await gate.end();
      assert.equal(end.closeCode, 1000);
    });
  }
}

test('buffer: messages sent apart arrive together, in a burst', async (t) => {
  const up = await startEchoUpstream(t);
  const gate = await startFaultGate(
    t,
    `ws://127.0.0.1:${up.port}`,
    faultRules({}, { buffer: { rule: 'av-scanner', everyMs: 400 } }),
  );
  const ws = await openWs(gate.url);
  t.after(() => ws.terminate());
  const arrivals: number[] = [];
  ws.on('message', () => arrivals.push(performance.now()));
  const started = performance.now();
  for (let i = 0; i < 5; i++) {
    ws.send(`b${i}`);
    await new Promise((r) => setTimeout(r, 30));
  }
  const deadline = Date.now() + 5000;
  while (arrivals.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(arrivals.length, 5);
  const spread = Math.max(...arrivals) - Math.min(...arrivals);
  assert.ok(spread < 100, `sent 120 ms apart, they should arrive in one burst; spread ${Math.round(spread)} ms`);
  assert.ok(Math.min(...arrivals) - started >= 150, 'nothing passes before a burst');
});

test('halfOpen: after the delay one direction stops, with no FIN and no close', async (t) => {
  const up = await startEchoUpstream(t);
  const seenUpstream: string[] = [];
  up.wss.on('connection', (s) => s.on('message', (d: Buffer) => seenUpstream.push(d.toString())));
  const gate = await startFaultGate(
    t,
    `ws://127.0.0.1:${up.port}`,
    faultRules({}, { halfOpen: { rule: 'dead-nat', direction: 'toClient', afterMs: 200 } }),
  );
  const ws = await openWs(gate.url);
  t.after(() => ws.terminate());
  assert.equal((await roundTrip(ws, 'before')).data.toString(), 'before');
  await new Promise((r) => setTimeout(r, 300));
  const echoes: string[] = [];
  ws.on('message', (d: Buffer) => echoes.push(d.toString()));
  let clientEnded = false;
  (ws as unknown as { _socket: net.Socket })._socket.once('end', () => {
    clientEnded = true;
  });
  ws.send('after');
  const deadline = Date.now() + 3000;
  while (!seenUpstream.includes('after') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(seenUpstream.includes('after'), 'the other direction still works');
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(echoes, [], 'nothing reaches the client any more');
  assert.equal(clientEnded, false, 'no FIN reached the client');
  assert.equal(ws.readyState, ws.OPEN);
});

test('resetAfter: after N messages both connections are reset (RST); the end line says wsgate did it', async (t) => {
  const up = await startEchoUpstream(t);
  const gate = await startFaultGate(
    t,
    `ws://127.0.0.1:${up.port}`,
    faultRules({}, { resetAfter: { rule: 'flaky', messages: 3 } }),
  );
  const ws = await openWs(gate.url);
  t.after(() => ws.terminate());
  const errors: string[] = [];
  (ws as unknown as { _socket: net.Socket })._socket.on('error', (e: NodeJS.ErrnoException) =>
    errors.push(e.code ?? e.message),
  );
  const done = closed(ws);
  assert.equal((await roundTrip(ws, 'one')).data.toString(), 'one');
  ws.send('two');
  const { code } = await done;
  assert.equal(code, 1006);
  assert.ok(errors.includes('ECONNRESET'), `the client saw a reset, got ${errors.join(',') || 'no error'}`);
  const end = await gate.end();
  assert.equal(end.termination, 'WX');
  assert.match(end.detail ?? '', /resetAfter \(rule "flaky"\): reset after 3 messages/);
});

test('from the config: a route rule with idleCut cuts its connections; another route on the listener is untouched', async (t) => {
  const up = await startEchoUpstream(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig(
      [
        { match: { path: '/cut' }, upstream: `ws://127.0.0.1:${up.port}`, rules: ['lb-idle'] },
        { match: { path: '/keep' }, upstream: `ws://127.0.0.1:${up.port}` },
      ],
      { rules: [{ name: 'lb-idle', actions: [{ idleCut: '300ms' }] }] },
    ),
  );
  const cut = await openWs(`${gw.ws}/cut`);
  const keep = await openWs(`${gw.ws}/keep`);
  t.after(() => {
    cut.terminate();
    keep.terminate();
  });
  const { code } = await closed(cut);
  assert.equal(code, 1006);
  const line = await gw.logs.waitFor('ws.close');
  assert.equal(line.termination, 'WX');
  assert.match(String(line.detail), /idleCut \(rule "lb-idle"\)/);
  assert.equal(keep.readyState, keep.OPEN);
  assert.equal((await roundTrip(keep, 'still here')).data.toString(), 'still here');
});

test('throttle keeps memory bounded: wsgate stops reading a fast sender instead of buffering its bytes', async (t) => {
  const up = await startEchoUpstream(t);
  const gate = await startFaultGate(
    t,
    `ws://127.0.0.1:${up.port}`,
    faultRules({}, { throttle: { rule: 'slow-link', toUpstream: 64 * 1024 } }),
  );
  const ws = await openWs(gate.url);
  t.after(() => ws.terminate());
  // 16 MiB against 64 KiB/s and a 256 KiB bound: unless wsgate pauses its reader, loopback drains it in
  // milliseconds into wsgate's memory and the client's own buffer empties.
  ws.send(Buffer.alloc(16 * 1024 * 1024, 1));
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(
    ws.bufferedAmount > 4 * 1024 * 1024,
    `the client still holds what wsgate did not read (bufferedAmount ${ws.bufferedAmount})`,
  );
});
