// Handshakes that never reached an upstream are recorded too: refused by the front (an invalid handshake), for want
// of a route, for their Origin, or by a forward listener's policy; and a client that left while wsgate waited for
// the upstream's answer is a failed record with nginx's 499, not an upstream error.
// biome-ignore-all lint/suspicious/noExplicitAny: API answers are JSON that the assertions read field by field.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { test } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import tls from 'node:tls';
import { renderTrafficLine } from '../../../src/traffic/render.ts';
import { makeSelfSigned, tempDir, writePem } from '../../helpers/tls.ts';
import { refusedHandshake } from '../../helpers/ws-client.ts';
import { startTestWsgate } from '../../helpers/wsgate.ts';
import { forwardConfig } from '../forward/helpers.ts';
import { call, eventually, startEchoUpstream } from './helpers.ts';

const HANDSHAKE = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n';

/** Sends one raw request head and resolves with the status of the answer. */
function rawStatus(port: number, head: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(head));
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (status) {
        socket.destroy();
        resolve(Number(status[1]));
      }
    });
    socket.on('error', reject);
    socket.setTimeout(5000, () => reject(new Error(`no answer to ${JSON.stringify(head.split('\r\n')[0])}`)));
  });
}

async function failedRecords(adminPort: number, count: number): Promise<any[]> {
  const answer = await eventually(
    () => call(adminPort, 'GET', '/api/connections?state=failed'),
    (r) => r.json.connections.length === count,
    `${count} failed connections`,
  );
  return answer.json.connections;
}

test('refused before an upstream was asked: no route (404), Origin (403), an invalid handshake (400)', async (t) => {
  const traffic = join(tempDir(t, 'wsgate-refused-'), 'traffic.log');
  const { url } = await startEchoUpstream(t);
  const gate = await startTestWsgate(t, {
    listeners: [
      {
        name: 'web',
        bind: '127.0.0.1:0',
        routes: [{ name: 'chat', match: { pathPrefix: '/chat' }, upstream: url, allowOrigins: ['https://app.test'] }],
      },
    ],
    shutdown: { grace: '200ms' },
    inspector: { bind: '127.0.0.1:0' },
    log: { traffic },
  });
  const adminPort = gate.running.inspector!.admin.address.port;

  assert.equal((await refusedHandshake(`${gate.ws}/nowhere`, { Cookie: 'sid=secret' })).status, 404);
  let [c] = await failedRecords(adminPort, 1);
  assert.deepEqual([c.failure.status, c.failure.code, c.listener, c.path], [404, 'WSG_NO_ROUTE', 'web', '/nowhere']);
  assert.equal(c.route, undefined, 'no route was chosen');
  assert.equal(c.upstream, undefined, 'no upstream was asked');
  assert.equal(c.client, '127.0.0.1');
  const one = (await call(adminPort, 'GET', `/api/connections/${c.id}`)).json.connection;
  assert.deepEqual([one.forwarded, one.response], [[], []]);
  const cookie = one.request.find(([name]: [string]) => name.toLowerCase() === 'cookie');
  assert.ok(cookie && !cookie[1].includes('secret'), `the Cookie is redacted: ${cookie?.[1]}`);
  const har = (await call(adminPort, 'GET', `/api/connections/${c.id}/har`)).json;
  assert.equal(har.log.entries[0].response.status, 404);

  assert.equal((await refusedHandshake(`${gate.ws}/chat`, { Origin: 'https://evil.test' })).status, 403);
  [c] = await failedRecords(adminPort, 2);
  assert.deepEqual(
    [c.failure.status, c.failure.code, c.route, c.upstream, c.tap],
    [403, 'WSG_ORIGIN_DENIED', 'chat', url, 'meta'],
    'the route was known: its name, upstream and tap level',
  );

  // The front's gate: a handshake without Sec-WebSocket-Key.
  assert.equal(await rawStatus(gate.port, `GET /chat HTTP/1.1\r\nHost: x\r\n${HANDSHAKE}\r\n`), 400);
  [c] = await failedRecords(adminPort, 3);
  assert.deepEqual([c.failure.status, c.failure.code, c.listener], [400, 'WSG_HANDSHAKE_INVALID', 'web']);

  const text = await eventually(
    async () => readFileSync(traffic, 'utf8'),
    (s) => s.split('"event":"ws.failed"').length === 4,
    'three ws.failed lines',
  );
  const noRoute = text.split('\n').find((l) => l.includes('WSG_NO_ROUTE'))!;
  const shown = String(renderTrafficLine(noRoute, { color: false, frames: false }));
  assert.match(shown, /handshake failed 404 \/nowhere: .*\[web\]$/);
  assert.doesNotMatch(shown, /undefined|→/);
});

test('a forward listener: a handshake its policy denies is a failed record of that listener', async (t) => {
  const gate = await startTestWsgate(
    t,
    forwardConfig({ denyHosts: ['blocked.test'] }, { inspector: { bind: '127.0.0.1:0' } }),
  );
  const adminPort = gate.running.inspector!.admin.address.port;
  const head = `GET ws://blocked.test/feed HTTP/1.1\r\nHost: blocked.test\r\n${HANDSHAKE}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
  assert.equal(await rawStatus(gate.port, head), 403);
  const [c] = await failedRecords(adminPort, 1);
  assert.deepEqual(
    [c.failure.status, c.failure.code, c.listener, c.route, c.host, c.path],
    [403, 'WSG_FORWARD_DENIED', 'proxy', 'proxy/forward', 'blocked.test', 'ws://blocked.test/feed'],
  );
});

/** A client that sends its handshake, waits until the upstream has it, and leaves; the upstream never answers. */
async function clientLeaves(t: import('node:test').TestContext, secure: boolean): Promise<void> {
  const upstream = http.createServer();
  let received: (socket: Duplex) => void = () => {};
  const gotRequest = new Promise<Duplex>((resolve) => {
    received = resolve;
  });
  upstream.on('upgrade', (_req, socket: Duplex) => {
    // Read, so that wsgate's FIN is seen (an upgraded socket is not read by Node's server); never answered.
    socket.resume();
    received(socket);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.after(() => upstream.closeAllConnections());
  t.after(() => upstream.close());
  const { port } = upstream.address() as net.AddressInfo;
  const dir = tempDir(t, 'wsgate-gone-');
  const pair = await makeSelfSigned();
  const tlsFiles = { cert: writePem(dir, 'c.pem', pair.cert), key: writePem(dir, 'k.pem', pair.key) };
  const gate = await startTestWsgate(t, {
    listeners: [
      {
        name: 'web',
        bind: '127.0.0.1:0',
        ...(secure ? { tls: tlsFiles } : {}),
        routes: [{ name: 'slow', match: { pathPrefix: '/' }, upstream: `ws://127.0.0.1:${port}` }],
      },
    ],
    // Far longer than the test waits: the client's leaving, not the timeout, must end the wait.
    limits: { handshakeTimeout: '60s' },
    shutdown: { grace: '200ms' },
    inspector: { bind: '127.0.0.1:0' },
  });
  const adminPort = gate.running.inspector!.admin.address.port;
  const head = `GET /wait HTTP/1.1\r\nHost: x\r\n${HANDSHAKE}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
  // The listener's certificate is verified: self-signed for 127.0.0.1, trusted as the only CA.
  const client = secure
    ? tls.connect({ port: gate.port, host: '127.0.0.1', ca: pair.cert }, () => client.write(head))
    : net.connect(gate.port, '127.0.0.1', () => client.write(head));
  client.on('error', () => {});
  // A connection that fails (a certificate that does not verify) fails the test at once, not at its timeout.
  const failed = new Promise<never>((_resolve, reject) => client.once('error', reject));
  failed.catch(() => {});
  const toUpstream = await Promise.race([gotRequest, failed]);
  const upstreamClosed = once(toUpstream, 'end');
  client.end();

  await Promise.race([
    upstreamClosed,
    setTimeout(5000).then(() => assert.fail('wsgate kept the upstream connection after the client left')),
  ]);
  const [c] = await failedRecords(adminPort, 1);
  assert.deepEqual([c.failure.status, c.failure.code, c.route], [499, 'WSG_CLIENT_GONE', 'slow']);
  assert.match(c.failure.reason, /client left during the WebSocket handshake/);
  const one = (await call(adminPort, 'GET', `/api/connections/${c.id}`)).json.connection;
  assert.ok(one.forwarded.length > 0, 'the request wsgate sent on');
  assert.deepEqual(one.response, [], 'no answer came');
  await gate.logs.waitFor('ws.client_gone');
  assert.deepEqual(gate.logs.events('ws.upstream_error'), [], 'the client left: not an upstream failure');
  assert.deepEqual(gate.logs.events('ws.handshake_timeout'), []);
}

test('the client leaves while the upstream has not answered: upstream closed at once, a 499 record, no upstream error', async (t) => {
  await clientLeaves(t, false);
});

test('the same on a TLS listener (whose TLS layer reads the socket, so saw the end before: the record and the line are what is new)', async (t) => {
  await clientLeaves(t, true);
});

test('a storm of rate refusals is one record a second, as it is one log line a second', async (t) => {
  const { url } = await startEchoUpstream(t);
  const gate = await startTestWsgate(t, {
    listeners: [
      { name: 'web', bind: '127.0.0.1:0', routes: [{ name: 'r', match: { pathPrefix: '/' }, upstream: url }] },
    ],
    limits: { maxHandshakesPerClientPerSecond: 2, exemptLoopbackClients: false },
    shutdown: { grace: '200ms' },
    inspector: { bind: '127.0.0.1:0' },
  });
  const adminPort = gate.running.inspector!.admin.address.port;
  const started = performance.now();
  const statuses: number[] = [];
  const head = `GET /x HTTP/1.1\r\nHost: x\r\n${HANDSHAKE}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
  for (let i = 0; i < 12; i++) statuses.push(await rawStatus(gate.port, head));
  const within = performance.now() - started;
  const refused = statuses.filter((s) => s === 429).length;
  assert.ok(refused >= 8, `most were refused: ${statuses.join(' ')}`);
  // The first refusal of the storm is recorded; within the same second no other.
  if (within < 900) {
    const records = await failedRecords(adminPort, 1);
    assert.equal(records[0].failure.code, 'WSG_HANDSHAKE_CLIENT_RATE');
    await setTimeout(200);
    assert.equal((await call(adminPort, 'GET', '/api/connections?state=failed')).json.connections.length, 1);
  } else t.diagnostic(`12 handshakes took ${Math.round(within)} ms: the one-a-second check is skipped`);
});
