// The admin API over real HTTP against a running wsgate with real ws clients: listing and filtering connections,
// paging messages, HAR export, config and reload, send and close on a live connection.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openWs, roundTrip } from '../../helpers/ws-client.ts';
import { call, eventually, startEchoUpstream, startInspected } from './helpers.ts';

test('connections are listed and filtered; messages are paged in order with their previews', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url);
  const a = await openWs(`${gate.ws}/chat?room=1`, { headers: { host: 'chat.example.test' } });
  const b = await openWs(`${gate.ws}/other`);
  t.after(() => {
    a.terminate();
    b.terminate();
  });
  for (let i = 0; i < 5; i++) await roundTrip(a, JSON.stringify({ n: i, text: `hello ${i}` }));
  await roundTrip(b, Buffer.from([1, 2, 3]));
  b.close(1000, 'bye');
  await eventually(
    () => call(gate.adminPort, 'GET', '/api/connections?state=closed'),
    (r) => r.json.connections.length === 1,
    'b closed',
  );

  const all = await call(gate.adminPort, 'GET', '/api/connections');
  assert.equal(all.status, 200);
  assert.equal(all.headers['access-control-allow-origin'], undefined);
  assert.equal(all.json.connections.length, 2);
  const byHost = await call(gate.adminPort, 'GET', '/api/connections?host=chat.example');
  assert.deepEqual(
    byHost.json.connections.map((c: { path: string }) => c.path),
    ['/chat?room=1'],
  );
  const open = await call(gate.adminPort, 'GET', '/api/connections?state=open');
  assert.equal(open.json.connections.length, 1);
  const closed = (await call(gate.adminPort, 'GET', '/api/connections?state=closed')).json.connections[0];
  assert.equal(closed.end.closeCode, 1000);
  assert.equal(closed.route, 'echo');
  assert.equal(closed.listener, 'test');
  assert.equal((await call(gate.adminPort, 'GET', '/api/connections?route=nope')).json.connections.length, 0);
  assert.equal((await call(gate.adminPort, 'GET', '/api/connections?text=other')).json.connections.length, 1);
  assert.equal((await call(gate.adminPort, 'GET', '/api/connections?state=weird')).status, 400);

  const id = byHost.json.connections[0].id;
  const one = await call(gate.adminPort, 'GET', `/api/connections/${id}`);
  assert.equal(one.json.connection.id, id);
  assert.equal(one.json.live, true);
  assert.ok(one.json.connection.request.some(([n]: [string]) => n.toLowerCase() === 'host'));

  const page1 = await call(gate.adminPort, 'GET', `/api/connections/${id}/messages?limit=4`);
  assert.equal(page1.json.messages.length, 4);
  assert.equal(page1.json.more, true);
  const page2 = await call(gate.adminPort, 'GET', `/api/connections/${id}/messages?limit=100&after=${page1.json.next}`);
  const messages = [...page1.json.messages, ...page2.json.messages];
  assert.equal(messages.length, 10);
  for (let i = 1; i < messages.length; i++) assert.ok(messages[i].seq > messages[i - 1].seq);
  assert.deepEqual(
    messages.map((m: { dir: string }) => m.dir),
    Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? 'toUpstream' : 'toClient')),
  );
  assert.equal(JSON.parse(messages[0].preview).text, 'hello 0');
  const toClient = await call(gate.adminPort, 'GET', `/api/connections/${id}/messages?direction=toClient`);
  assert.equal(toClient.json.messages.length, 5);
  // toServer, as rules and the hold call name it, is the same direction as the records' toUpstream.
  const toServer = await call(gate.adminPort, 'GET', `/api/connections/${id}/messages?direction=toServer`);
  assert.deepEqual(
    toServer.json.messages.map((m: { dir: string }) => m.dir),
    Array.from({ length: 5 }, () => 'toUpstream'),
  );
  const text3 = await call(gate.adminPort, 'GET', `/api/connections/${id}/messages?text=hello%203`);
  assert.equal(text3.json.messages.length, 2);
  const binary = await call(gate.adminPort, 'GET', `/api/connections/${closed.id}/messages?type=binary`);
  assert.equal(binary.json.messages[0].preview, '010203');
  assert.equal((await call(gate.adminPort, 'GET', '/api/connections/w-nope')).status, 404);
  assert.equal(
    (await call(gate.adminPort, 'GET', '/api/connections/w-nope/messages')).json.error.code,
    'WSG_ADMIN_NOT_FOUND',
  );
});

test('HAR 1.2 with _webSocketMessages in order, per connection and for all', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url);
  const ws = await openWs(`${gate.ws}/har`);
  t.after(() => ws.terminate());
  await roundTrip(ws, 'first');
  await roundTrip(ws, Buffer.from('binary!'));
  await roundTrip(ws, 'last');
  const list = await eventually(
    () => call(gate.adminPort, 'GET', '/api/connections'),
    (r) => r.json.connections[0]?.toClient.messages === 3,
    'six messages',
  );
  const id = list.json.connections[0].id;
  const har = await call(gate.adminPort, 'GET', `/api/connections/${id}/har`);
  assert.equal(har.status, 200);
  assert.match(String(har.headers['content-disposition']), /attachment; filename="wsgate-.*\.har"/);
  const log = har.json.log;
  assert.equal(log.version, '1.2');
  assert.equal(log.creator.name, 'wsgate');
  assert.ok(Array.isArray(log.pages));
  assert.equal(log.entries.length, 1);
  const entry = log.entries[0];
  // The fields HAR 1.2 requires of an entry, request and response, with their types.
  assert.ok(!Number.isNaN(Date.parse(entry.startedDateTime)));
  assert.equal(typeof entry.time, 'number');
  for (const key of ['method', 'url', 'httpVersion', 'cookies', 'headers', 'queryString', 'headersSize', 'bodySize'])
    assert.ok(key in entry.request, `request.${key}`);
  for (const key of [
    'status',
    'statusText',
    'httpVersion',
    'cookies',
    'headers',
    'content',
    'redirectURL',
    'headersSize',
    'bodySize',
  ])
    assert.ok(key in entry.response, `response.${key}`);
  assert.equal(entry.response.status, 101);
  assert.equal(typeof entry.response.content.size, 'number');
  assert.equal(typeof entry.response.content.mimeType, 'string');
  for (const key of ['send', 'wait', 'receive']) assert.equal(typeof entry.timings[key], 'number');
  assert.deepEqual(entry.cache, {});
  assert.match(entry.request.url, /^ws:\/\/127\.0\.0\.1:\d+\/har$/);
  assert.equal(entry._resourceType, 'websocket');
  const msgs = entry._webSocketMessages;
  assert.deepEqual(
    msgs.map((m: { type: string; opcode: number; data: string }) => [m.type, m.opcode, m.data]),
    [
      ['send', 1, 'first'],
      ['receive', 1, 'first'],
      ['send', 2, Buffer.from('binary!').toString('base64')],
      ['receive', 2, Buffer.from('binary!').toString('base64')],
      ['send', 1, 'last'],
      ['receive', 1, 'last'],
    ],
  );
  for (let i = 1; i < msgs.length; i++) assert.ok(msgs[i].time >= msgs[i - 1].time);
  assert.ok(msgs[0].time > 1.7e9 && msgs[0].time < 1e11, 'time is epoch seconds');
  const all = await call(gate.adminPort, 'GET', '/api/har');
  assert.equal(all.json.log.entries.length, 1);
  assert.equal(all.json.log.entries[0]._webSocketMessages.length, 6);
});

test('config is shown redacted; reload without a file is a 409', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url, { inspector: { token: 'sekrit-token-123' } });
  const auth = { authorization: 'Bearer sekrit-token-123' };
  const config = await call(gate.adminPort, 'GET', '/api/config', { headers: auth });
  assert.equal(config.status, 200);
  assert.equal(config.json.config.inspector.token, '[redacted]');
  assert.doesNotMatch(config.body, /sekrit/);
  const reload = await call(gate.adminPort, 'POST', '/api/reload', { headers: auth, body: {} });
  assert.equal(reload.status, 409);
  assert.equal(reload.json.error.code, 'WSG_ADMIN_CONFLICT');
});

test('send to the server and to the client arrives; close with a code arrives', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url);
  const ws = await openWs(`${gate.ws}/ctl`);
  t.after(() => ws.terminate());
  await roundTrip(ws, 'hi');
  const id = (await call(gate.adminPort, 'GET', '/api/connections')).json.connections[0].id;

  assert.equal(
    (await call(gate.adminPort, 'POST', `/api/connections/${id}/send`, { body: { to: 'moon', text: 'x' } })).status,
    400,
  );
  assert.equal(
    (
      await call(gate.adminPort, 'POST', `/api/connections/${id}/send`, {
        body: { to: 'client', text: 'x', base64: 'eA==' },
      })
    ).status,
    400,
  );
  assert.equal(
    (await call(gate.adminPort, 'POST', '/api/connections/w-none/send', { body: { to: 'client', text: 'x' } })).status,
    404,
  );

  // To the client: the client receives it as it is.
  const atClient = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
  const toClient = await call(gate.adminPort, 'POST', `/api/connections/${id}/send`, {
    body: { to: 'client', text: 'from wsgate' },
  });
  assert.equal(toClient.status, 202, toClient.body);
  assert.equal(await atClient, 'from wsgate');
  // To the server: the echo server sends it back, so the client sees it too.
  const echoed = new Promise<Buffer>((resolve) => ws.once('message', (d: Buffer) => resolve(d)));
  const toServer = await call(gate.adminPort, 'POST', `/api/connections/${id}/send`, {
    body: { to: 'server', base64: Buffer.from([0xde, 0xad]).toString('base64') },
  });
  assert.equal(toServer.status, 202, toServer.body);
  assert.deepEqual([...(await echoed)], [0xde, 0xad]);

  const closed = new Promise<[number, string]>((resolve) =>
    ws.once('close', (code, reason) => resolve([code, String(reason)])),
  );
  const close = await call(gate.adminPort, 'POST', `/api/connections/${id}/close`, {
    body: { code: 4001, reason: 'closed by the admin', to: 'client' },
  });
  assert.equal(close.status, 202, close.body);
  assert.deepEqual(await closed, [4001, 'closed by the admin']);
  assert.equal(
    (await call(gate.adminPort, 'POST', `/api/connections/${id}/close`, { body: { code: 1005 } })).status,
    400,
  );
  const after = await eventually(
    () => call(gate.adminPort, 'POST', `/api/connections/${id}/close`, { body: { code: 1000 } }),
    (r) => r.status === 409,
    'a 409 once the connection is closed',
  );
  assert.equal(after.json.error.code, 'WSG_ADMIN_CONFLICT');
});

test('the admin API is not reachable through the proxy listener', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url);
  // The proxy's only route goes to the echo upstream (a ws server, which answers plain GETs with 426): the path is
  // the upstream's, never the admin's, whatever the Host says.
  for (const host of ['127.0.0.1', `127.0.0.1:${gate.adminPort}`, `localhost:${gate.adminPort}`]) {
    const viaProxy = await call(gate.port, 'GET', '/api/connections', { headers: { host } });
    assert.equal(viaProxy.status, 426, viaProxy.body);
    assert.equal(viaProxy.json?.connections, undefined);
  }
});

test('bad calls get 400 naming the field, 405 with Allow, and page sizes out of range are refused', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url);
  const ws = await openWs(`${gate.ws}/edges`);
  t.after(() => ws.terminate());
  await roundTrip(ws, 'hi');
  const id = (await call(gate.adminPort, 'GET', '/api/connections')).json.connections[0].id;
  const refused = async (method: string, path: string, body: unknown, status: number, message: RegExp) => {
    const answer = await call(gate.adminPort, method, path, body === undefined ? {} : { body });
    assert.equal(answer.status, status, `${method} ${path} ${JSON.stringify(body)}: ${answer.body}`);
    assert.match(answer.json.error.message, message);
    return answer;
  };

  // A send with no message, or a message of the wrong type.
  const send = `/api/connections/${id}/send`;
  const noMessage = await refused('POST', send, { to: 'client' }, 400, /message is missing: give "text".*or "base64"/);
  assert.equal(noMessage.json.error.code, 'WSG_ADMIN_BAD_REQUEST');
  await refused('POST', send, { to: 'client', text: 5 }, 400, /"text" must be a string/);
  await refused('POST', send, { to: 'client', base64: '***' }, 400, /"base64" must be a string of base64/);

  // PUT /api/log: a field it does not set is named, as is a bad or missing level.
  await refused('PUT', '/api/log', { format: 'json' }, 400, /only "level" can be changed here, not "format"/);
  await refused('PUT', '/api/log', { level: 'loud' }, 400, /"level" must be one of .*, not "loud"/);
  await refused('PUT', '/api/log', {}, 400, /"level" is missing/);

  // A known path with another method: 405, its own code, and the methods it takes.
  const wrongMethod = await refused(
    'DELETE',
    '/api/connections',
    undefined,
    405,
    /DELETE is not allowed on \/api\/connections/,
  );
  assert.equal(wrongMethod.json.error.code, 'WSG_ADMIN_METHOD_NOT_ALLOWED');
  assert.equal(wrongMethod.headers['allow'], 'GET, HEAD');
  const logPut = await call(gate.adminPort, 'POST', '/api/log', { body: {} });
  assert.deepEqual([logPut.status, logPut.headers['allow']], [405, 'GET, HEAD, PUT']);
  assert.equal((await call(gate.adminPort, 'DELETE', '/api/nothing-here')).status, 404);

  // Page sizes: from 1 to the documented most, else 400 (not one message for 0, not a silent clamp).
  const messages = `/api/connections/${id}/messages`;
  await refused('GET', `${messages}?limit=0`, undefined, 400, /limit must be a whole number from 1 to 1000, not 0/);
  await refused(
    'GET',
    `${messages}?limit=5000`,
    undefined,
    400,
    /limit must be a whole number from 1 to 1000, not 5000/,
  );
  await refused('GET', '/api/connections?limit=0', undefined, 400, /limit must be a whole number from 1 to 10000/);
  await refused('GET', `${messages}?limit=abc`, undefined, 400, /limit must be a whole number from 1 to 1000, not abc/);
  await refused('GET', '/api/connections?limit=10001', undefined, 400, /limit must be a whole number from 1 to 10000/);
  // The tap may record the echo just after the client has it.
  const page = await eventually(
    () => call(gate.adminPort, 'GET', `${messages}?limit=1000`),
    (a) => a.status !== 200 || a.json.messages.length === 2,
    'both messages',
  );
  assert.equal(page.status, 200, page.body);
  assert.equal((await call(gate.adminPort, 'GET', `${messages}?limit=1`)).json.messages.length, 1);
});
