// TLS interception of CONNECT tunnels: a `ws` client that trusts only wsgate's CA reaches a local wss echo (whose
// test CA wsgate trusts through forward.upstreamCa) via CONNECT; wsgate completes the client's TLS with a leaf for
// the SNI name, opens its own verified TLS to the echo, and logs the frames with plain-text previews. The leaf
// carries the SNI name (or the IP for an IP target without SNI) and is signed by the CA wsgate created at start.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { test } from 'node:test';
import tls from 'node:tls';
import WebSocket from 'ws';
import { closedPort } from '../../helpers/servers.ts';
import { eventually, rawConnect, readUntil, startTcpServer } from '../forward/helpers.ts';
import { call } from '../inspector/helpers.ts';
import { requestOver, startInterceptProxy, startRecordingTlsServer, tlsThroughProxy, upstreamCa } from './helpers.ts';

test('a ws client trusting wsgate’s CA talks wss through CONNECT; wsgate logs the frames in plain text', async (t) => {
  const ca = await upstreamCa();
  const echo = await startRecordingTlsServer(t, await ca.issue({ names: ['echo.test'] }));
  const gw = await startInterceptProxy(t, { intercept: ['echo.test'], names: ['echo.test'] });
  const target = `echo.test:${echo.port}`;

  const tunnel = await rawConnect(gw.port(), target);
  assert.equal(tunnel.status, 200);
  const ws = new WebSocket(`wss://${target}/chat?room=1`, {
    // The tunnel is the transport: TLS over it, trusting wsgate's CA only (ws's own `ca` option, passed on).
    createConnection: (options: object) =>
      tls.connect({ ...(options as tls.ConnectionOptions), socket: tunnel.socket.resume() }),
    ca: gw.caPem,
  });
  await once(ws, 'open');
  const peer = (ws as unknown as { _socket: tls.TLSSocket })._socket;
  const leaf = new X509Certificate(peer.getPeerCertificate().raw);
  assert.equal(leaf.subjectAltName, 'DNS:echo.test');
  assert.ok(leaf.checkIssued(new X509Certificate(gw.caPem)), 'the client sees a leaf signed by wsgate’s CA');
  assert.equal(peer.alpnProtocol, false, 'no ALPN offered by ws; wsgate would only ever agree http/1.1');

  ws.send('hello through interception');
  const [text] = await once(ws, 'message');
  assert.equal(String(text), 'hello through interception');
  const binary = Buffer.from([0, 1, 2, 250, 251, 252]);
  ws.send(binary);
  const [back, isBinary] = await once(ws, 'message');
  assert.equal(isBinary, true);
  assert.deepEqual(Buffer.from(back as Buffer), binary);
  ws.close(1000, 'done');
  await once(ws, 'close');

  const open = await gw.logs.waitFor('ws.open');
  assert.equal(open.route, 'proxy/tunnel');
  assert.equal(open.upstream, `wss://${target}`);
  assert.equal(open.path, '/chat?room=1');
  await eventually(
    () => gw.logs.events('ws.message').filter((m) => m.preview === 'hello through interception').length === 2,
    5000,
    'both directions of the text message logged with its preview',
  );
  const dirs = gw.logs
    .events('ws.message')
    .filter((m) => m.preview === 'hello through interception')
    .map((m) => m.dir);
  assert.deepEqual(dirs.sort(), ['toClient', 'toUpstream']);
  const closed = await gw.logs.waitFor('ws.close');
  assert.equal(closed.closeCode, 1000);
  await eventually(() => gw.logs.events('connect.close').length === 1, 5000, 'the tunnel’s close line');
  const line = gw.logs.events('connect.close')[0]!;
  assert.equal(line.content, 'tls');
  assert.equal(line.intercepted, true);
  assert.equal(line.servername, 'echo.test');
  assert.ok((line.bytesToUpstream as number) > 0 && (line.bytesToClient as number) > 0);
  // wsgate's TLS to the echo is its own: one handshake, verified against the test CA.
  assert.equal(echo.secureConnections(), 1);

  // The CA was created at start: its key is private, and the log says where it is and how to trust it.
  assert.equal(statSync(`${gw.caDir}/ca-key.pem`).mode & 0o777, 0o600);
  assert.equal(statSync(`${gw.caDir}/leaf-key.pem`).mode & 0o777, 0o600);
  const created = gw.logs.events('tls.ca_created')[0];
  assert.ok(created, 'tls.ca_created logged');
  assert.match(String(created.msg), /wsgate ca trust-help --dir /);
  assert.equal(created.cert, gw.caFile);
});

test('HAR timings of an intercepted wss: wsgate’s TLS handshake with the destination is ssl, inside connect', async (t) => {
  const ca = await upstreamCa();
  const echo = await startRecordingTlsServer(t, await ca.issue({ names: ['echo.test'] }));
  const gw = await startInterceptProxy(t, {
    intercept: ['echo.test'],
    names: ['echo.test'],
    config: { inspector: { bind: '127.0.0.1:0' } },
  });
  const target = `echo.test:${echo.port}`;
  const tunnel = await rawConnect(gw.port(), target);
  assert.equal(tunnel.status, 200);
  const ws = new WebSocket(`wss://${target}/timed`, {
    createConnection: (options: object) =>
      tls.connect({ ...(options as tls.ConnectionOptions), socket: tunnel.socket.resume() }),
    ca: gw.caPem,
  });
  t.after(() => ws.terminate());
  await once(ws, 'open');
  const open = await gw.logs.waitFor('ws.open');
  assert.equal(typeof open.tlsMs, 'number', JSON.stringify(open));
  const admin = gw.running.inspector!.admin.address.port;
  const entry = (await call(admin, 'GET', `/api/connections/${String(open.conn ?? open.ws)}/har`)).json.log.entries[0];
  const { connect, ssl, wait } = entry.timings as { connect: number; ssl: number; wait: number };
  assert.equal(ssl, Number(open.tlsMs));
  assert.ok(ssl >= 0 && ssl <= connect, `ssl ${ssl} within connect ${connect}`);
  assert.equal(connect, open.dialMs);
  assert.equal(wait, Number(open.handshakeMs) - connect);
});

test('an https request inside an intercepted tunnel is relayed; the response comes back decrypted and logged', async (t) => {
  const ca = await upstreamCa();
  const echo = await startRecordingTlsServer(t, await ca.issue({ names: ['echo.test'] }));
  const gw = await startInterceptProxy(t, { intercept: ['.test'], names: ['echo.test'] });
  const { socket } = await tlsThroughProxy(gw.port(), `echo.test:${echo.port}`, { ca: gw.caPem });
  assert.equal(socket.alpnProtocol, 'http/1.1', 'offered h2 and http/1.1: wsgate agrees http/1.1 only');
  const res = await requestOver(socket, '/page?q=1', `echo.test:${echo.port}`);
  assert.equal(res.status, 200);
  const seen = JSON.parse(res.body) as { url: string; headers: Record<string, string> };
  assert.equal(seen.url, '/page?q=1');
  assert.equal(seen.headers['host'], `echo.test:${echo.port}`);
  const access = await gw.logs.waitFor('http.access');
  assert.equal(access.path, '/page?q=1');
  assert.equal(access.status, 200);
  assert.equal(access.route, 'proxy/tunnel');
});

test('an IP target without SNI gets a leaf with an IP SAN; wsgate checks the upstream’s IP SAN', async (t) => {
  const ca = await upstreamCa();
  const echo = await startRecordingTlsServer(t, await ca.issue({ names: ['127.0.0.1'] }));
  const gw = await startInterceptProxy(t, { intercept: ['127.0.0.0/8'] });
  const { socket } = await tlsThroughProxy(gw.port(), `127.0.0.1:${echo.port}`, { ca: gw.caPem, servername: '' });
  const leaf = new X509Certificate(socket.getPeerCertificate().raw);
  assert.equal(leaf.subjectAltName, 'IP Address:127.0.0.1');
  const res = await requestOver(socket, '/ip', `127.0.0.1:${echo.port}`);
  assert.equal(res.status, 200, res.body);
  assert.equal((JSON.parse(res.body) as { url: string }).url, '/ip');
  const intercepted = await gw.logs.waitFor('tls.intercepted');
  assert.equal(intercepted.sni, false);
  assert.equal(intercepted.servername, '127.0.0.1');
});

test('an intercepted host is dialed after the client’s handshake: an unreachable one is a 502 inside TLS', async (t) => {
  const port = await closedPort();
  const gw = await startInterceptProxy(t, { intercept: ['gone.test'], names: ['gone.test'] });
  const { socket } = await tlsThroughProxy(gw.port(), `gone.test:${port}`, { ca: gw.caPem });
  const res = await requestOver(socket, '/', `gone.test:${port}`);
  assert.equal(res.status, 502);
  assert.equal(res.headers['x-wsgate-error'], 'WSG_UPSTREAM_REFUSED');
});

test('an intercepted host that does not speak TLS still works: opaque bytes and a server that speaks first', async (t) => {
  const greeter = await startTcpServer(t, (socket) => {
    socket.write('220 greeting first\r\n');
    socket.on('data', (d: Buffer) => socket.write(`echo ${d.toString()}`));
  });
  const gw = await startInterceptProxy(t, { intercept: ['*'], names: ['mail.test'] });
  const tunnel = await rawConnect(gw.port(), `mail.test:${greeter.port}`);
  assert.equal(tunnel.status, 200);
  // The client waits for the greeting: after a short quiet spell wsgate dials and splices blindly.
  const greeting = await readUntil(tunnel.socket, (b) => b.includes('\r\n'), 5000);
  assert.equal(greeting.toString(), '220 greeting first\r\n');
  tunnel.socket.write('HELO x\r\n');
  const echoed = await readUntil(tunnel.socket, (b) => b.includes('HELO'), 5000);
  assert.equal(echoed.toString(), 'echo HELO x\r\n');
  tunnel.socket.destroy();

  // A client that speaks first, but not TLS (SSH's banner): tunnelled blindly at once.
  const ssh = await rawConnect(gw.port(), `mail.test:${greeter.port}`);
  ssh.socket.write('SSH-2.0-test\r\n');
  const reply = await readUntil(ssh.socket, (b) => b.includes('SSH-2.0'), 5000);
  assert.equal(reply.toString(), '220 greeting first\r\necho SSH-2.0-test\r\n');
  ssh.socket.destroy();

  await eventually(() => gw.logs.events('connect.close').length === 2, 5000, 'the tunnels’ close lines');
  const contents = gw.logs.events('connect.close').map((l) => [l.content, l.intercepted]);
  assert.deepEqual(contents.sort(), [
    ['opaque', false],
    ['server-first', false],
  ]);
});
