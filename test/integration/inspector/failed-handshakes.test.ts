// A WebSocket handshake that a route took but that did not open is recorded as a "failed" connection: the status
// its client got, wsgate's code when wsgate answered, why, and the headers each way; listed with ?state=failed,
// exported in HAR with that status, evicted like a closed one, and written to a traffic file as a ws.failed line.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { renderTrafficLine } from '../../../src/traffic/render.ts';
import { closedPort } from '../../helpers/servers.ts';
import { tempDir } from '../../helpers/tls.ts';
import { openWs, refusedHandshake } from '../../helpers/ws-client.ts';
import { call, eventually, startInspected } from './helpers.ts';

/** An upstream that refuses every upgrade with 403 and a header saying why, as an auth gateway would. */
async function refusingUpstream(t: import('node:test').TestContext): Promise<string> {
  const server = http.createServer((_req, res) => res.end('plain'));
  server.on('upgrade', (_req, socket) => {
    socket.end(
      'HTTP/1.1 403 Forbidden\r\nX-Reason: no session\r\nContent-Length: 9\r\nConnection: close\r\n\r\nforbidden',
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as import('node:net').AddressInfo;
  return `ws://127.0.0.1:${port}`;
}

test('the upstream refuses: a failed connection with its 403, both requests and its answer; HAR has the 403', async (t) => {
  const dir = tempDir(t, 'wsgate-failed-');
  const traffic = join(dir, 'traffic.log');
  const gate = await startInspected(t, await refusingUpstream(t), { extra: { log: { traffic } } });
  const refused = await refusedHandshake(`${gate.ws}/chat`, { 'X-Session': 'abc' });
  assert.equal(refused.status, 403);
  const failed = await eventually(
    () => call(gate.adminPort, 'GET', '/api/connections?state=failed'),
    (r) => r.json.connections.length === 1,
    'one failed connection',
  );
  const summary = failed.json.connections[0];
  assert.equal(summary.state, 'failed');
  assert.equal(summary.path, '/chat');
  assert.equal(summary.route, 'echo');
  assert.equal(summary.failure.status, 403);
  assert.equal(summary.failure.code, undefined, "the upstream's own answer: no wsgate code");
  assert.match(summary.failure.reason, /upstream answered 403 Forbidden/);
  assert.equal((await call(gate.adminPort, 'GET', '/api/connections?state=open')).json.connections.length, 0);

  const one = (await call(gate.adminPort, 'GET', `/api/connections/${summary.id}`)).json.connection;
  const has = (pairs: [string, string][], name: string) => pairs.some(([n]) => n.toLowerCase() === name);
  assert.ok(has(one.request, 'x-session'), 'the client sent it');
  assert.ok(has(one.forwarded, 'x-forwarded-for'), 'wsgate forwarded it with its own fields');
  assert.ok(has(one.response, 'x-reason'), "the upstream's answer");

  const har = (await call(gate.adminPort, 'GET', `/api/connections/${summary.id}/har`)).json;
  assert.equal(har.log.entries[0].response.status, 403);

  await eventually(
    async () => readFileSync(traffic, 'utf8'),
    (text) => text.includes('"event":"ws.failed"'),
    'the ws.failed line',
  );
  const line = readFileSync(traffic, 'utf8')
    .split('\n')
    .find((l) => l.includes('"event":"ws.failed"'))!;
  assert.equal(JSON.parse(line).status, 403);
  assert.match(String(renderTrafficLine(line, { color: false, frames: false })), /handshake failed 403 \/chat/);
});

test('an upstream that cannot be reached: failed with wsgate’s 502 and its code; nothing forwarded', async (t) => {
  const gate = await startInspected(t, `ws://127.0.0.1:${await closedPort()}`);
  assert.equal((await refusedHandshake(`${gate.ws}/down`)).status, 502);
  const failed = await eventually(
    () => call(gate.adminPort, 'GET', '/api/connections?state=failed'),
    (r) => r.json.connections.length === 1,
    'one failed connection',
  );
  const c = failed.json.connections[0];
  assert.deepEqual([c.failure.status, c.failure.code], [502, 'WSG_UPSTREAM_REFUSED']);
  const one = (await call(gate.adminPort, 'GET', `/api/connections/${c.id}`)).json.connection;
  assert.deepEqual([one.forwarded, one.response], [[], []]);
});

test('where a handshake’s time went: until the upstream connection was made, and the upstream’s answer (HAR timings too)', async (t) => {
  const slow = http.createServer();
  slow.on('upgrade', (req, socket) => {
    const accept = createHash('sha1')
      .update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest('base64');
    // The upstream takes its time to answer: the wait, not the connection.
    setTimeout(
      () =>
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
        ),
      300,
    );
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  t.after(() => slow.closeAllConnections());
  t.after(() => slow.close());
  const { port } = slow.address() as import('node:net').AddressInfo;
  const gate = await startInspected(t, `ws://127.0.0.1:${port}`);
  const ws = await openWs(`${gate.ws}/slow`);
  t.after(() => ws.terminate());
  const open = await eventually(
    () => call(gate.adminPort, 'GET', '/api/connections?state=open'),
    (r) => r.json.connections.length === 1,
    'the open connection',
  );
  const c = open.json.connections[0];
  assert.ok(c.handshakeMs >= 290, `handshake ${c.handshakeMs} ms`);
  assert.ok(c.dialMs >= 0 && c.dialMs < 200, `connected after ${c.dialMs} ms: the time was the upstream's`);
  const timings = (await call(gate.adminPort, 'GET', `/api/connections/${c.id}/har`)).json.log.entries[0].timings;
  assert.equal(timings.connect, c.dialMs);
  assert.equal(timings.wait, c.handshakeMs - c.dialMs);
  assert.equal(timings.ssl, -1, 'ws:// upstream: no TLS');

  // A handshake whose upstream connection failed spent its time connecting: none of it was a wait for an answer.
  const down = await startInspected(t, `ws://127.0.0.1:${await closedPort()}`);
  assert.equal((await refusedHandshake(`${down.ws}/down`)).status, 502);
  const failed = await eventually(
    () => call(down.adminPort, 'GET', '/api/connections?state=failed'),
    (r) => r.json.connections.length === 1,
    'one failed connection',
  );
  const record = failed.json.connections[0];
  assert.equal(record.dialMs, undefined, 'no connection was made');
  const har = (await call(down.adminPort, 'GET', `/api/connections/${record.id}/har`)).json;
  const { connect, ssl, wait } = har.log.entries[0].timings;
  assert.deepEqual({ connect, ssl, wait }, { connect: record.handshakeMs, ssl: -1, wait: 0 });
});

test('every server of a pool drained: the failed record names no server (none was dialed), 503 WSG_UPSTREAM_DRAINED', async (t) => {
  const [a, b] = [await closedPort(), await closedPort()];
  const gw = await startInspected(t, 'app', {
    extra: { upstreams: [{ name: 'app', servers: [`ws://127.0.0.1:${a}`, `ws://127.0.0.1:${b}`] }] },
  });
  const failedRecord = async (path: string) => {
    const list = await eventually(
      () => call(gw.adminPort, 'GET', '/api/connections?state=failed'),
      (x) => x.json.connections.some((c: { path: string }) => c.path === path),
      `the failed record of ${path}`,
    );
    return list.json.connections.find((c: { path: string }) => c.path === path);
  };
  // Both servers refuse the connection: the record names the last one dialed.
  assert.equal((await refusedHandshake(`${gw.ws}/tried`)).status, 502);
  const tried = await failedRecord('/tried');
  assert.ok([`ws://127.0.0.1:${a}`, `ws://127.0.0.1:${b}`].includes(tried.server), JSON.stringify(tried));

  for (const server of [0, 1]) {
    const drained = await call(gw.adminPort, 'PUT', `/api/upstreams/app/servers/${server}`, {
      body: { state: 'drain' },
    });
    assert.equal(drained.status, 200, drained.body);
  }
  const refused = await refusedHandshake(`${gw.ws}/drained`);
  assert.equal(refused.status, 503);
  const record = await failedRecord('/drained');
  assert.equal(record.upstream, 'app');
  assert.equal(record.server, undefined, `no server was dialed: ${JSON.stringify(record)}`);
  assert.equal(record.failure.code, 'WSG_UPSTREAM_DRAINED');
  assert.match(record.failure.reason, /every server of upstream app is drained/);
});
