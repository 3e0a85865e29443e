// Hostile input to TLS interception (issue 5, item 7). After `CONNECT host:port` and the 200, a client of an
// intercepted host sends garbage behind a TLS record header, a ClientHello whose SNI names a denied host, or half a
// ClientHello and then nothing. Each time the tunnel closes with one `tls.handshake_failed` line saying why,
// wsgate never connects to the destination (the upstream counts no connection at all), and a healthy CONNECT
// right after — or at the same time as a crowd of stalled handshakes — is intercepted and served normally.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import tls from 'node:tls';
import { eventually, rawConnect } from '../integration/forward/helpers.ts';
import {
  type InterceptProxy,
  type RecordingTlsServer,
  requestOver,
  startInterceptProxy,
  startRecordingTlsServer,
  tlsThroughProxy,
  upstreamCa,
} from '../integration/intercept/helpers.ts';

async function setup(
  t: TestContext,
  headersTimeout = '500ms',
): Promise<{ gw: InterceptProxy; site: RecordingTlsServer; target: string }> {
  const ca = await upstreamCa();
  const site = await startRecordingTlsServer(t, await ca.issue({ names: ['site.test', 'denied.test'] }));
  const gw = await startInterceptProxy(t, {
    intercept: ['*'],
    names: ['site.test', 'denied.test'],
    forward: { denyHosts: ['denied.test'] },
    config: { limits: { headersTimeout } },
  });
  return { gw, site, target: `site.test:${site.port}` };
}

/** A real ClientHello for `servername`, as a TLS client writes it first. */
function clientHello(servername: string): Promise<Buffer> {
  return new Promise((resolve) => {
    const server = net.createServer((s) => {
      s.once('data', (hello: Buffer) => {
        resolve(hello);
        s.destroy();
        server.close();
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      tls.connect({ port, host: '127.0.0.1', servername }).on('error', () => {});
    });
  });
}

/** Resolves once the peer has closed the socket (the bytes it sent before are returned). */
function closedByPeer(socket: net.Socket, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error(`still open after ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.resume();
  });
}

/** A complete intercepted request: proof that nothing else was affected. */
async function healthy(gw: InterceptProxy, target: string): Promise<void> {
  const { socket } = await tlsThroughProxy(gw.port(), target, { ca: gw.caPem });
  const res = await requestOver(socket, '/still-fine', target);
  assert.equal(res.status, 200);
  assert.equal((JSON.parse(res.body) as { url: string }).url, '/still-fine');
}

test('garbage behind a TLS record header: tls.handshake_failed, tunnel closed, destination never dialed', async (t) => {
  const { gw, site, target } = await setup(t);
  for (const garbage of [
    Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0xff, 0xff, 0xff, 0xff]),
    Buffer.concat([Buffer.from([0x16, 0x03, 0x03, 0x01, 0x00]), randomBytes(256)]),
  ]) {
    const tunnel = await rawConnect(gw.port(), target);
    assert.equal(tunnel.status, 200);
    tunnel.socket.write(garbage);
    await closedByPeer(tunnel.socket);
  }
  await eventually(() => gw.logs.events('tls.handshake_failed').length === 2, 5000, 'two tls.handshake_failed lines');
  for (const line of gw.logs.events('tls.handshake_failed')) {
    assert.equal(line.reason, 'protocol');
    assert.equal(line.code, 'WSG_TLS_HANDSHAKE');
    assert.equal(line.target, target);
    assert.match(String(line.msg), /not a valid TLS handshake/);
  }
  assert.equal(site.accepted(), 0, 'no connection to the destination');
  await healthy(gw, target);
  assert.equal(site.accepted(), 1);
});

test('a ClientHello naming a denied host (SNI): refused before any certificate or connection', async (t) => {
  const { gw, site, target } = await setup(t);
  // CONNECT to an allowed host, then ask for a denied one in SNI.
  const tunnel = await rawConnect(gw.port(), target);
  assert.equal(tunnel.status, 200);
  const client = tls.connect({ socket: tunnel.socket, servername: 'denied.test', ca: gw.caPem });
  tunnel.socket.resume();
  const failure = await new Promise<Error>((resolve, reject) => {
    client.once('secureConnect', () => reject(new Error('the handshake must fail')));
    client.once('error', resolve);
  });
  assert.match(failure.message, /disconnected|alert|socket hang up/i);
  const line = await gw.logs.waitFor('tls.handshake_failed');
  assert.equal(line.reason, 'server_name_denied');
  assert.equal(line.servername, 'denied.test');
  assert.equal(line.denyReason, 'host');
  assert.equal(line.level, 'warn');
  assert.match(String(line.msg), /denied\.test \(SNI\), which is refused: denied\.test matches denyHosts/);
  // The destination got no connection.
  assert.equal(site.accepted(), 0);
  await healthy(gw, target);
});

test('a client offering only h2 (ALPN): the handshake fails, logged as no common protocol, not as garbage', async (t) => {
  const { gw, site, target } = await setup(t);
  const tunnel = await rawConnect(gw.port(), target);
  assert.equal(tunnel.status, 200);
  const client = tls.connect({ socket: tunnel.socket, servername: 'site.test', ca: gw.caPem, ALPNProtocols: ['h2'] });
  tunnel.socket.resume();
  const failure = await new Promise<Error>((resolve, reject) => {
    client.once('secureConnect', () => reject(new Error('the handshake must fail')));
    client.once('error', resolve);
  });
  assert.match(failure.message, /no application protocol/i);
  const line = await gw.logs.waitFor('tls.handshake_failed');
  assert.equal(line.reason, 'no_common_protocol');
  assert.match(String(line.msg), /offered only protocols wsgate does not speak \(ALPN\); wsgate speaks http\/1\.1/);
  assert.equal(site.accepted(), 0);
  await healthy(gw, target);
});

test('a client that stops mid-handshake is closed after headersTimeout; others are served meanwhile', async (t) => {
  const { gw, site, target } = await setup(t, '1500ms');
  const hello = await clientHello('site.test');
  const stalled: Promise<Buffer>[] = [];
  const started = Date.now();
  for (let i = 0; i < 20; i += 1) {
    const tunnel = await rawConnect(gw.port(), target);
    assert.equal(tunnel.status, 200);
    // Half a ClientHello, then silence.
    tunnel.socket.write(hello.subarray(0, Math.floor(hello.length / 2)));
    stalled.push(closedByPeer(tunnel.socket));
  }
  // While twenty handshakes hang, a healthy client is intercepted and served at once.
  await healthy(gw, target);
  assert.equal(gw.logs.events('tls.handshake_failed').length, 0, 'served before any stalled handshake timed out');
  const bytes = await Promise.all(stalled);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 1400, `closed after headersTimeout (1500 ms), not before: ${elapsed} ms`);
  assert.ok(
    bytes.every((b) => b.length === 0),
    'wsgate sent nothing to a half ClientHello',
  );
  await eventually(() => gw.logs.events('tls.handshake_failed').length === 20, 5000, 'one line per stalled client');
  for (const line of gw.logs.events('tls.handshake_failed')) {
    assert.equal(line.reason, 'timeout');
    assert.match(String(line.detail), /no complete handshake within 1500 ms/);
  }
  await eventually(
    () => gw.logs.events('connect.close').filter((l) => l.how === 'tls_handshake').length === 20,
    5000,
    'each stalled tunnel closed by wsgate',
  );
  assert.ok(gw.logs.events('connect.close').every((l) => l.how !== 'tls_handshake' || l.endedBy === 'wsgate'));
  // Only the healthy client's request reached the destination.
  assert.equal(site.accepted(), 1);
  await healthy(gw, target);
});
