// Whole messages in the traffic store (tap payload): GET /api/connections/:id/messages/:seq answers the whole
// payload (text, or base64 for binary) while lists and the traffic log keep tap.previewBytes; longer than
// inspector.store.maxMessageBytes is cut and marked; permessage-deflate messages come decoded; the session file
// keeps them for evicted messages; HAR carries them. Messages wsgate sends itself are listed with origin "wsgate",
// and rule hits name the seq of the message they acted on.
// biome-ignore-all lint/suspicious/noExplicitAny: API answers are JSON that the assertions read field by field.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { openWs, roundTrip } from '../../helpers/ws-client.ts';
import { startTestWsgate } from '../../helpers/wsgate.ts';
import { call, eventually, startEchoUpstream, startInspected } from './helpers.ts';

const BIG_TEXT = Array.from({ length: 4000 }, (_, i) => `line ${i} of a long text message`).join('\n');

async function messagesOf(port: number, id: string, min: number): Promise<any[]> {
  const r = await eventually(
    () => call(port, 'GET', `/api/connections/${id}/messages?limit=1000`),
    (a) => a.json.messages?.length >= min,
    `${min} messages`,
  );
  return r.json.messages;
}

async function onlyConnection(port: number): Promise<string> {
  const r = await eventually(
    () => call(port, 'GET', '/api/connections'),
    (a) => a.json.connections.length === 1,
    'one connection',
  );
  return r.json.connections[0].id;
}

test('whole text and binary messages: previews stay short, /messages/:seq and HAR have all of it', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url, { extra: { tap: { previewBytes: 32 } } });
  const ws = await openWs(`${gate.ws}/whole`);
  t.after(() => ws.terminate());
  const binary = randomBytes(3000);
  await roundTrip(ws, BIG_TEXT);
  await roundTrip(ws, binary);
  const id = await onlyConnection(gate.adminPort);
  const list = await messagesOf(gate.adminPort, id, 4);
  const [text, , bin] = list;
  assert.equal(text.kind, 'text');
  assert.ok(text.preview.length <= 32, 'the preview keeps tap.previewBytes');
  assert.equal(text.truncated, true);
  assert.equal(text.data, undefined, 'lists carry no whole payloads');
  assert.equal(text.dataBytes, Buffer.byteLength(BIG_TEXT));

  const one = await call(gate.adminPort, 'GET', `/api/connections/${id}/messages/${text.seq}`);
  assert.equal(one.status, 200, one.body);
  assert.equal(one.json.message.data, BIG_TEXT);
  assert.equal(one.json.message.encoding, 'text');
  assert.equal(one.json.message.dataTruncated, false);
  assert.equal(one.json.source, 'memory');
  const back = await call(gate.adminPort, 'GET', `/api/connections/${id}/messages/${bin.seq}`);
  assert.equal(back.json.message.encoding, 'base64');
  assert.deepEqual(Buffer.from(back.json.message.data, 'base64'), binary);

  const har = await call(gate.adminPort, 'GET', `/api/connections/${id}/har`);
  const wsm = har.json.log.entries[0]._webSocketMessages;
  assert.equal(wsm[0].data, BIG_TEXT);
  assert.equal(wsm[1].data, BIG_TEXT);
  assert.deepEqual(Buffer.from(wsm[2].data, 'base64'), binary);
  assert.equal(har.json.log.entries[0]._wsgate.truncatedMessages, 0);

  // The traffic log's preview is unchanged: previewBytes, no payload field.
  const line: any = gate.logs.lines.find((l: any) => l.event === 'ws.message' && l.conn === id && l.kind === 'text');
  assert.ok(line !== undefined);
  assert.ok(line.preview.length <= 32);
  assert.equal(line.data, undefined);

  assert.equal((await call(gate.adminPort, 'GET', `/api/connections/${id}/messages/999999`)).status, 404);
  assert.equal((await call(gate.adminPort, 'GET', `/api/connections/${id}/messages/x1`)).status, 400);
});

test('longer than inspector.store.maxMessageBytes: cut there and marked', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url, { inspector: { store: { maxMessageBytes: '1KiB' } } });
  const ws = await openWs(`${gate.ws}/cut`);
  t.after(() => ws.terminate());
  await roundTrip(ws, BIG_TEXT);
  const id = await onlyConnection(gate.adminPort);
  const [m] = await messagesOf(gate.adminPort, id, 1);
  assert.equal(m.dataBytes, 1024);
  const one = await call(gate.adminPort, 'GET', `/api/connections/${id}/messages/${m.seq}`);
  assert.equal(one.json.message.data, BIG_TEXT.slice(0, 1024));
  assert.equal(one.json.message.dataTruncated, true);
});

test('permessage-deflate messages are kept decoded', async (t) => {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0 } });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  server.on('connection', (c) => c.on('message', (d, isBinary) => c.send(d, { binary: isBinary })));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const c of server.clients) c.terminate();
        server.close(() => resolve());
      }),
  );
  const upstream = `ws://127.0.0.1:${(server.address() as { port: number }).port}`;
  const gate = await startInspected(t, upstream, { extra: { tap: { previewBytes: 16 } } });
  const ws = await openWs(`${gate.ws}/deflate`, { perMessageDeflate: { threshold: 0 } });
  t.after(() => ws.terminate());
  await roundTrip(ws, BIG_TEXT);
  const id = await onlyConnection(gate.adminPort);
  const list = await messagesOf(gate.adminPort, id, 2);
  assert.equal(list[0].compressed, true);
  for (const m of list) {
    const one = await call(gate.adminPort, 'GET', `/api/connections/${id}/messages/${m.seq}`);
    assert.equal(one.json.message.data, BIG_TEXT, `${m.dir} decoded`);
  }
});

test('evicted from memory: the whole message is read back from the session file', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url, {
    inspector: { store: { maxMessagesPerConnection: 2 } },
    extra: { tap: { previewBytes: 16 } },
  });
  const ws = await openWs(`${gate.ws}/disk`);
  t.after(() => ws.terminate());
  const first = `first ${BIG_TEXT}`;
  await roundTrip(ws, first);
  for (let i = 0; i < 3; i++) await roundTrip(ws, `later ${i}`);
  const id = await onlyConnection(gate.adminPort);
  const page = await eventually(
    () => call(gate.adminPort, 'GET', `/api/connections/${id}/messages?limit=1`),
    (a) => a.json.source === 'disk' && a.json.messages.length === 1,
    'a page from disk',
  );
  const seq = page.json.messages[0].seq;
  const one = await call(gate.adminPort, 'GET', `/api/connections/${id}/messages/${seq}`);
  assert.equal(one.status, 200, one.body);
  assert.equal(one.json.source, 'disk');
  assert.equal(one.json.message.data, first);
  assert.equal(one.json.message.dataTruncated, false);
});

test('messages wsgate sends (admin send on the passthrough) are listed with origin "wsgate"', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url);
  const ws = await openWs(`${gate.ws}/own`);
  t.after(() => ws.terminate());
  await roundTrip(ws, 'peer');
  const id = await onlyConnection(gate.adminPort);
  const got = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
  const sent = await call(gate.adminPort, 'POST', `/api/connections/${id}/send`, {
    body: { to: 'client', text: 'from the inspector' },
  });
  assert.equal(sent.status, 202, sent.body);
  assert.equal(await got, 'from the inspector');
  const list = await messagesOf(gate.adminPort, id, 3);
  const own = list.find((m) => m.origin === 'wsgate');
  assert.ok(own !== undefined, JSON.stringify(list));
  assert.equal(own.dir, 'toClient');
  assert.equal(own.preview, 'from the inspector');
  assert.equal(list.filter((m) => m.origin === 'wsgate').length, 1, 'the peers’ messages have no origin');
});

test('relay: injected messages are wsgate’s, and rule hits name the seq of their message', async (t) => {
  const echo = await startEchoUpstream(t);
  const gw = await startTestWsgate(t, {
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
            rules: ['hello', 'tag', 'answer'],
          },
        ],
      },
    ],
    rules: [
      { name: 'hello', actions: [{ inject: { to: 'client', text: 'welcome', on: 'open' } }] },
      { name: 'tag', match: { direction: 'toServer', text: 'tag me' }, actions: [{ mark: 'tagged' }] },
      {
        name: 'answer',
        match: { direction: 'toServer', text: 'ask' },
        actions: [{ inject: { to: 'client', text: 'answered' } }],
      },
    ],
    shutdown: { grace: '200ms' },
    inspector: { bind: '127.0.0.1:0' },
  });
  const gate = { ws: gw.ws, adminPort: gw.running.inspector!.admin.address.port };
  const ws = new WebSocket(`${gate.ws}/relay`);
  const received: string[] = [];
  ws.on('message', (d) => received.push(String(d)));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  t.after(() => ws.terminate());
  ws.send('tag me');
  ws.send('ask');
  await eventually(
    async () => received,
    (r) => r.includes('answered') && r.includes('tag me') && r.includes('ask'),
    'echoes and injections',
  );
  const id = await onlyConnection(gate.adminPort);
  const list = await messagesOf(gate.adminPort, id, 6);
  const own = list.filter((m) => m.origin === 'wsgate').map((m) => m.preview);
  assert.deepEqual(own.sort(), ['answered', 'welcome']);
  const c = (await call(gate.adminPort, 'GET', `/api/connections/${id}`)).json.connection;
  const bySeq = new Map(list.map((m) => [m.seq, m]));
  const tag = c.rules.find((r: any) => r.rule === 'tag');
  assert.ok(tag !== undefined, JSON.stringify(c.rules));
  assert.equal(bySeq.get(tag.messageSeq)?.preview, 'tag me');
  assert.equal(bySeq.get(tag.messageSeq)?.dir, 'toUpstream');
  const hello = c.rules.find((r: any) => r.rule === 'hello');
  assert.equal(bySeq.get(hello.messageSeq)?.preview, 'welcome');
  const answer = c.rules.find((r: any) => r.rule === 'answer');
  assert.equal(bySeq.get(answer.messageSeq)?.preview, 'ask');
  // The relay hands the store whole messages too.
  const one = await call(gate.adminPort, 'GET', `/api/connections/${id}/messages/${tag.messageSeq}`);
  assert.equal(one.json.message.data, 'tag me');
  assert.equal(one.json.message.dataTruncated, false);
  assert.equal(bySeq.get(tag.messageSeq)?.dataBytes, 6);
});

test('keepalive pings are listed as wsgate’s', async (t) => {
  const echo = await startEchoUpstream(t);
  const gw = await startTestWsgate(t, {
    listeners: [
      {
        name: 'test',
        bind: '127.0.0.1:0',
        routes: [{ name: 'echo', match: { pathPrefix: '/' }, upstream: echo.url, tap: 'payload', keepalive: '50ms' }],
      },
    ],
    shutdown: { grace: '200ms' },
    inspector: { bind: '127.0.0.1:0' },
  });
  const port = gw.running.inspector!.admin.address.port;
  const ws = await openWs(`${gw.ws}/quiet`);
  t.after(() => ws.terminate());
  const id = await onlyConnection(port);
  const r = await eventually(
    () => call(port, 'GET', `/api/connections/${id}/messages?type=ping`),
    (a) => a.json.messages.some((m: any) => m.origin === 'wsgate'),
    'a keepalive ping',
  );
  assert.ok(r.json.messages.every((m: any) => m.origin === 'wsgate'));
});

test('a HAR message that a rule acted on names the rule hits (_wsgateRules): a dropped or rewritten message says so', async (t) => {
  const echo = await startEchoUpstream(t);
  const gw = await startTestWsgate(t, {
    listeners: [
      {
        name: 'test',
        bind: '127.0.0.1:0',
        routes: [
          { name: 'echo', match: { pathPrefix: '/' }, upstream: echo.url, tap: 'payload', rules: ['mask', 'gone'] },
        ],
      },
    ],
    rules: [
      {
        name: 'mask',
        match: { direction: 'toServer', text: 'card' },
        actions: [{ replace: { pattern: 'card', with: 'XXXX' } }],
      },
      { name: 'gone', match: { direction: 'toServer', text: 'secret' }, actions: [{ drop: true }] },
    ],
    shutdown: { grace: '200ms' },
    inspector: { bind: '127.0.0.1:0' },
  });
  const port = gw.running.inspector!.admin.address.port;
  const ws = await openWs(`${gw.ws}/relay`);
  t.after(() => ws.terminate());
  assert.equal(String((await roundTrip(ws, 'my card')).data), 'my XXXX');
  ws.send('secret');
  assert.equal(String((await roundTrip(ws, 'plain')).data), 'plain');
  const id = await onlyConnection(port);
  await messagesOf(port, id, 5);
  const har = (await call(port, 'GET', `/api/connections/${id}/har`)).json;
  const sent = har.log.entries[0]._webSocketMessages.filter((m: any) => m.type === 'send');
  assert.deepEqual(
    sent.map((m: any) => m.data),
    ['my card', 'secret', 'plain'],
    'the HAR has each message as the client sent it',
  );
  assert.equal(sent[0]._wsgateRules.length, 1);
  assert.equal(sent[0]._wsgateRules[0].rule, 'mask');
  assert.equal(sent[0]._wsgateRules[0].action, 'replace');
  assert.deepEqual(
    sent[1]._wsgateRules.map((r: any) => [r.rule, r.action]),
    [['gone', 'drop']],
  );
  assert.equal(sent[2]._wsgateRules, undefined, 'a message no rule touched has no _wsgateRules');
});
