// The hold action through a whole wsgate (config rule → relay → admin API): a held message waits, later ones in
// its direction wait behind it, and it leaves forwarded with new data, dropped, or by its timeout unchanged; a
// hold added at run time (POST /api/rules/hold) holds the next message of one direction.
// biome-ignore-all lint/suspicious/noExplicitAny: API answers are JSON that the assertions read field by field.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import type WebSocket from 'ws';
import { openWs } from '../../helpers/ws-client.ts';
import { call, eventually, type Inspected, startEchoUpstream, startInspected } from './helpers.ts';

/** wsgate in front of an echo server with a hold rule on text to the server that contains "hold". */
async function holdGate(t: TestContext, hold: unknown = true): Promise<Inspected> {
  const echo = await startEchoUpstream(t);
  return startInspected(t, echo.url, {
    extra: {
      rules: [
        { name: 'catch', match: { direction: 'toServer', text: '/hold/' }, actions: [{ hold }] },
        // Every other connection of the route is relayed too (a runtime hold needs the relay).
        { name: 'relayed', match: { text: '/never-matches-anything-\\u0000/' }, actions: [{ mark: 'x' }] },
      ],
      listeners: [
        {
          name: 'test',
          bind: '127.0.0.1:0',
          routes: [
            {
              name: 'echo',
              match: { pathPrefix: '/' },
              upstream: echo.url,
              tap: 'payload',
              rules: ['catch', 'relayed'],
            },
          ],
        },
      ],
    },
  });
}

/** Collects what a client receives, as text. */
function inbox(t: TestContext, ws: WebSocket): string[] {
  const got: string[] = [];
  ws.on('message', (data) => got.push(String(data)));
  t.after(() => ws.terminate());
  return got;
}

async function heldNow(gate: Inspected, count: number): Promise<any[]> {
  const answer = await eventually(
    () => call(gate.adminPort, 'GET', '/api/held'),
    (a) => a.json?.held?.length === count,
    `${count} held message(s)`,
  );
  return answer.json.held;
}

test('a held message is edited and forwarded; the one behind it waits and follows in order', async (t) => {
  const gate = await holdGate(t);
  const ws = await openWs(`${gate.ws}/chat`);
  const got = inbox(t, ws);
  ws.send('hold me');
  ws.send('after');
  const [held] = await heldNow(gate, 1);
  assert.equal(held.text, 'hold me');
  assert.equal(held.type, 'text');
  assert.equal(held.direction, 'toUpstream');
  assert.equal(held.rule, 'catch');
  assert.equal(held.onTimeout, 'forward');
  assert.ok(Date.parse(held.deadline) - Date.parse(held.since) === 30_000, 'the default timeout is 30 s');
  // A round trip on another connection proves the gate is working while this one waits.
  const other = await openWs(`${gate.ws}/other`);
  const otherGot = inbox(t, other);
  other.send('ping-other');
  await eventually(
    async () => otherGot.length,
    (n) => n === 1,
    'the other connection echoed',
  );
  assert.deepEqual(got, [], 'nothing passes the held message');
  const forward = await call(gate.adminPort, 'POST', `/api/held/${held.id}/forward`, { body: { text: 'edited!' } });
  assert.equal(forward.status, 200, forward.body);
  assert.deepEqual(forward.json.forwarded, { id: held.id, edited: true });
  await eventually(
    async () => got.length,
    (n) => n === 2,
    'both echoes',
  );
  assert.deepEqual(got, ['edited!', 'after']);
  assert.deepEqual((await call(gate.adminPort, 'GET', '/api/held')).json.held, []);
  const again = await call(gate.adminPort, 'POST', `/api/held/${held.id}/forward`, { body: {} });
  assert.equal(again.status, 404, 'a released message cannot be released twice');
  const c = await call(gate.adminPort, 'GET', `/api/connections/${held.conn}`);
  const actions = c.json.connection.rules.map((r: any) => r.action);
  // One event per step of the hold: taken (the hold lane's, not the rule step's as well), then edited; each names it.
  assert.deepEqual(
    c.json.connection.rules.filter((r: any) => r.action === 'hold' || r.action === 'edit').map((r: any) => r.action),
    ['hold', 'edit'],
    `rule events: ${actions.join(',')}`,
  );
  const [taken, edited] = c.json.connection.rules.filter((r: any) => r.action === 'hold' || r.action === 'edit');
  assert.match(taken.detail, /^held until .*, then forward$/, "the hold lane's event, with the deadline");
  assert.equal(taken.held, held.id, 'each step names the held message');
  assert.equal(edited.held, held.id);
});

test('a dropped held message never arrives; what waited behind it does', async (t) => {
  const gate = await holdGate(t);
  const ws = await openWs(`${gate.ws}/drop`);
  const got = inbox(t, ws);
  ws.send('hold this one');
  ws.send('then this');
  const [held] = await heldNow(gate, 1);
  const drop = await call(gate.adminPort, 'POST', `/api/held/${held.id}/drop`, { body: {} });
  assert.equal(drop.status, 200, drop.body);
  await eventually(
    async () => got.length,
    (n) => n === 1,
    'the echo of the second',
  );
  // One more round trip: had the dropped message gone through, its echo would come before this one's.
  ws.send('last');
  await eventually(
    async () => got.length,
    (n) => n === 2,
    'the last echo',
  );
  assert.deepEqual(got, ['then this', 'last']);
});

test('a held message times out and arrives unchanged (onTimeout forward); with onTimeout drop it never does', async (t) => {
  const gate = await holdGate(t, { timeout: '300ms' });
  const ws = await openWs(`${gate.ws}/timeout`);
  const got = inbox(t, ws);
  ws.send('hold until timeout');
  ws.send('behind it');
  await eventually(
    async () => got.length,
    (n) => n === 2,
    'both echoes after the timeout',
  );
  assert.deepEqual(got, ['hold until timeout', 'behind it']);
  const c = await call(gate.adminPort, 'GET', `/api/connections?state=open`);
  const conn = c.json.connections[0].id;
  const detail = await call(gate.adminPort, 'GET', `/api/connections/${conn}`);
  assert.ok(detail.json.connection.rules.some((r: any) => r.action === 'timeout'));

  const dropping = await holdGate(t, { timeout: '200ms', onTimeout: 'drop' });
  const ws2 = await openWs(`${dropping.ws}/timeout-drop`);
  const got2 = inbox(t, ws2);
  ws2.send('hold and lose');
  ws2.send('kept');
  await eventually(
    async () => got2.length,
    (n) => n === 1,
    'the echo of the second',
  );
  assert.deepEqual(got2, ['kept']);
});

test('POST /api/rules/hold holds the next message to the client; binary data is replaced with base64', async (t) => {
  const gate = await holdGate(t);
  const ws = await openWs(`${gate.ws}/runtime`);
  const got: Buffer[] = [];
  ws.on('message', (data) => got.push(data as Buffer));
  t.after(() => ws.terminate());
  const conns = await eventually(
    () => call(gate.adminPort, 'GET', '/api/connections?state=open'),
    (a) => a.json.connections.length === 1,
    'the connection listed',
  );
  const conn = conns.json.connections[0].id;
  const bad = await call(gate.adminPort, 'POST', '/api/rules/hold', { body: { conn, direction: 'sideways' } });
  assert.equal(bad.status, 400);
  const add = await call(gate.adminPort, 'POST', '/api/rules/hold', { body: { conn, direction: 'toClient' } });
  assert.equal(add.status, 200, add.body);
  ws.send(Buffer.from([1, 2, 3]));
  const [held] = await heldNow(gate, 1);
  assert.equal(held.direction, 'toClient');
  assert.equal(held.type, 'binary');
  assert.equal(held.base64, Buffer.from([1, 2, 3]).toString('base64'));
  const off = await call(gate.adminPort, 'POST', '/api/rules/hold', {
    body: { conn, direction: 'toClient', on: false },
  });
  assert.equal(off.status, 200);
  const forward = await call(gate.adminPort, 'POST', `/api/held/${held.id}/forward`, {
    body: { base64: Buffer.from([9, 9]).toString('base64') },
  });
  assert.equal(forward.status, 200, forward.body);
  ws.send(Buffer.from([4]));
  await eventually(
    async () => got.length,
    (n) => n === 2,
    'both messages',
  );
  assert.deepEqual(
    got.map((b) => [...b]),
    [[9, 9], [4]],
  );
  const missing = await call(gate.adminPort, 'POST', '/api/held/nope.h1/drop', { body: {} });
  assert.equal(missing.status, 404);
});

test('what waits behind a held message counts toward limits.maxBufferedBytes: the sender stops being read', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url, {
    extra: {
      limits: { maxBufferedBytes: '64KiB' },
      rules: [{ name: 'catch', match: { direction: 'toServer', text: '/^hold/' }, actions: [{ hold: true }] }],
      listeners: [
        {
          name: 'test',
          bind: '127.0.0.1:0',
          routes: [{ name: 'echo', match: { pathPrefix: '/' }, upstream: echo.url, tap: 'meta', rules: ['catch'] }],
        },
      ],
    },
  });
  const ws = await openWs(`${gate.ws}/pressure`);
  const got = inbox(t, ws);
  ws.send('hold the line');
  const [held] = await heldNow(gate, 1);
  const chunk = 'x'.repeat(16 * 1024);
  const total = 400; // 6.4 MiB: more than the socket buffers between the client and wsgate can take
  for (let i = 0; i < total; i++) ws.send(chunk);
  // Wait until the client cannot hand more to its socket: wsgate has stopped reading it.
  const stuck = await eventually(
    async () => {
      const before = ws.bufferedAmount;
      await new Promise((r) => setTimeout(r, 100));
      return { before, after: ws.bufferedAmount };
    },
    (s) => s.after > 0 && s.after === s.before,
    'the client stuck with unsent data',
  );
  assert.ok(stuck.after > 0, 'the client still holds data wsgate has not read');
  assert.deepEqual(got, []);
  const drop = await call(gate.adminPort, 'POST', `/api/held/${held.id}/drop`, { body: {} });
  assert.equal(drop.status, 200, drop.body);
  await eventually(
    async () => got.length,
    (n) => n === total,
    'every message behind the dropped one, echoed',
    20_000,
  );
  assert.equal(ws.bufferedAmount, 0);
});
