// CONNECT tunnels: TLS passes blindly (curl --proxytunnel to a local TLS server), plain HTTP inside a tunnel is
// parsed so a ws:// session is observed like a reverse-proxied one, other protocols pass as opaque bytes (also
// when the server speaks first), with backpressure, and one log line per tunnel with bytes each way.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import WebSocket from 'ws';
import { startEchoServer } from '../../../src/echo/server.ts';
import { startHttpServer } from '../../helpers/servers.ts';
import { makeTestCa, startTlsEchoServer, tempDir, writePem } from '../../helpers/tls.ts';
import { curl, eventually, forwardConfig, rawConnect, readUntil, startProxy, startTcpServer } from './helpers.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('curl --proxytunnel reaches a local TLS server through CONNECT; the tunnel is logged as tls', async (t) => {
  const ca = await makeTestCa();
  const server = await startTlsEchoServer(t, await ca.issue({ names: ['localhost', '127.0.0.1'] }));
  const caFile = writePem(tempDir(t), 'ca.pem', ca.cert);
  const gw = await startProxy(t, forwardConfig());
  const r = await curl([
    '--proxytunnel',
    '--proxy',
    gw.url(),
    '--cacert',
    caFile,
    `https://localhost:${server.port}/hi`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).url, '/hi');
  const line = await gw.logs.waitFor('connect.close');
  assert.equal(line.target, `localhost:${server.port}`);
  assert.equal(line.content, 'tls');
  assert.equal(line.via, 'direct');
  assert.equal(line.client, '127.0.0.1');
  assert.ok((line.bytesToUpstream as number) > 100 && (line.bytesToClient as number) > 100, 'bytes each way');
  assert.equal(typeof line.durationMs, 'number');
});

test('a ws client over a CONNECT socket reaches the echo server; the session is logged like a reverse one', async (t) => {
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const gw = await startProxy(t, forwardConfig({}, { listener: { tap: 'payload' } }));
  const tunnel = await rawConnect(gw.port(), `127.0.0.1:${echo.address.port}`);
  assert.equal(tunnel.status, 200);
  const ws = new WebSocket(`ws://127.0.0.1:${echo.address.port}/echo`, {
    // rawConnect leaves the tunnel paused so no byte is missed; ws reads from it from here on.
    createConnection: () => tunnel.socket.resume(),
  });
  await once(ws, 'open');
  ws.send('inside a tunnel');
  const [reply] = await once(ws, 'message');
  assert.equal(String(reply), 'inside a tunnel');
  ws.close(1000, 'bye');
  await once(ws, 'close');
  const open = await gw.logs.waitFor('ws.open');
  assert.equal(open.route, 'proxy/tunnel');
  assert.equal(open.upstream, `ws://127.0.0.1:${echo.address.port}`);
  assert.equal(open.path, '/echo');
  await eventually(() =>
    gw.logs.events('ws.message').some((m) => m.preview === 'inside a tunnel' && m.dir === 'toUpstream'),
  );
  const closed = await gw.logs.waitFor('ws.close');
  assert.equal(closed.closeCode, 1000);
  const tunnelLine = await gw.logs.waitFor('connect.close');
  assert.equal(tunnelLine.content, 'http');
  assert.ok((tunnelLine.bytesToUpstream as number) > 0);
});

test('several plain HTTP requests in one tunnel reach the target, even sent with the CONNECT itself', async (t) => {
  const upstream = await startHttpServer(t, (req, res) => res.end(`ok ${req.url} host=${req.headers.host}`));
  const gw = await startProxy(t, forwardConfig());
  const target = `127.0.0.1:${upstream.port}`;
  const socket = net.connect(gw.port(), '127.0.0.1');
  t.after(() => socket.destroy());
  // A client may send its first request before it has read the 200 (the bytes arrive with the CONNECT head).
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\nGET /one HTTP/1.1\r\nHost: app.test\r\n\r\n`);
  const first = await readUntil(socket, (b) => b.includes('host=app.test'));
  assert.match(first.toString(), /^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 200 OK/);
  assert.match(first.toString(), /ok \/one host=app\.test$/);
  socket.write(`GET /two HTTP/1.1\r\nHost: app.test\r\n\r\n`);
  const second = await readUntil(socket, (b) => b.includes('ok /two'));
  assert.match(second.toString(), /ok \/two/);
  await eventually(() => gw.logs.events('http.access').length === 2);
  assert.deepEqual(
    gw.logs.events('http.access').map((l) => [l.path, l.route, l.status]),
    [
      ['/one', 'proxy/tunnel', 200],
      ['/two', 'proxy/tunnel', 200],
    ],
  );
  // Both requests went over the one upstream connection dialed for the CONNECT (keep-alive).
  assert.equal(upstream.accepted(), 1);
});

test('a plain request in a tunnel reaches the target with its path as written, as an upgrade does', async (t) => {
  const upstream = await startHttpServer(t, (req, res) => res.end(`ok ${req.url}`));
  const gw = await startProxy(t, forwardConfig());
  const target = `127.0.0.1:${upstream.port}`;
  const socket = net.connect(gw.port(), '127.0.0.1');
  t.after(() => socket.destroy());
  // Dot segments, a percent-encoded unreserved character and an absolute-form target inside the tunnel: a URL
  // parser would send /c~?q=%7e and /y; the tunnel is the client's, so the server gets the bytes it was sent.
  socket.write(
    `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\nGET /a/./b/../c%7e?q=%7e HTTP/1.1\r\nHost: app.test\r\n\r\n`,
  );
  const first = await readUntil(socket, (b) => b.includes('ok /'));
  assert.match(first.toString(), /ok \/a\/\.\/b\/\.\.\/c%7e\?q=%7e$/);
  socket.write(`GET http://${target}/x/../y HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  const second = await readUntil(socket, (b) => b.includes('ok /x'));
  assert.match(second.toString(), /ok \/x\/\.\.\/y$/);
});

test('opaque bytes pass unchanged both ways and are counted', async (t) => {
  const tcpEcho = await startTcpServer(t, (s) => s.pipe(s));
  const gw = await startProxy(t, forwardConfig());
  const tunnel = await rawConnect(gw.port(), `127.0.0.1:${tcpEcho.port}`);
  assert.equal(tunnel.status, 200);
  const payload = Buffer.concat([Buffer.from([0x00, 0xff, 0x13, 0x37]), randomBytes(256 * 1024)]);
  tunnel.socket.write(payload);
  const back = await readUntil(tunnel.socket, (b) => b.length >= payload.length);
  assert.equal(sha(back), sha(payload));
  tunnel.socket.end();
  const line = await gw.logs.waitFor('connect.close');
  assert.equal(line.content, 'opaque');
  assert.equal(line.bytesToUpstream, payload.length);
  assert.equal(line.bytesToClient, payload.length);
  assert.equal(line.endedBy, 'client');
});

test('bytes a client sends after its CONNECT but before the 200 reach the destination, in order', async (t) => {
  // While the destination is dialed wsgate watches the client for leaving (client-watch.ts): it must not eat them.
  // The dial is made slow by an upstream proxy that answers its CONNECT after 150 ms and then echoes.
  const slowProxy = await startTcpServer(t, (s) => {
    let head = '';
    const onHead = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      s.off('data', onHead);
      s.pause();
      const rest = Buffer.from(head.slice(end + 4), 'latin1');
      setTimeout(() => {
        s.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (rest.length > 0) s.write(rest);
        s.pipe(s);
        s.resume();
      }, 150);
    };
    s.on('data', onHead);
  });
  const gw = await startProxy(
    t,
    forwardConfig(
      { via: 'corp' },
      { proxies: [{ name: 'corp', url: `http://127.0.0.1:${slowProxy.port}`, noProxy: '<-loopback>' }] },
    ),
  );
  for (const gapMs of [0, 50]) {
    const client = net.connect(gw.port(), '127.0.0.1');
    client.on('error', () => {});
    t.after(() => client.destroy());
    await once(client, 'connect');
    // The target is never dialed (the slow proxy answers for it); any port the policy allows.
    const target = `127.0.0.1:${slowProxy.port}`;
    client.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, gapMs));
    client.write('SSH-2.0-early\r\n');
    await new Promise((r) => setTimeout(r, 20));
    client.write('more\r\n');
    const got = (await readUntil(client, (b) => b.includes('more\r\n'))).toString('latin1');
    assert.match(got, /^HTTP\/1\.1 200 [\s\S]*\r\n\r\nSSH-2\.0-early\r\nmore\r\n$/, JSON.stringify(got));
    client.destroy();
  }
});

test('a server that speaks first (SMTP-like) is tunnelled blindly without waiting for the client', async (t) => {
  const greeter = await startTcpServer(t, (s) => {
    s.write('220 greeter ready\r\n');
    s.on('data', (d: Buffer) => s.write(`250 got ${d.toString().trim()}\r\n`));
  });
  const gw = await startProxy(t, forwardConfig());
  const tunnel = await rawConnect(gw.port(), `127.0.0.1:${greeter.port}`);
  const banner = await readUntil(tunnel.socket, (b) => b.includes('\r\n'));
  assert.equal(banner.toString(), '220 greeter ready\r\n');
  tunnel.socket.write('HELO me\r\n');
  const reply = await readUntil(tunnel.socket, (b) => b.includes('250'));
  assert.match(reply.toString(), /250 got HELO me/);
  tunnel.socket.destroy();
  const line = await gw.logs.waitFor('connect.close');
  assert.equal(line.content, 'server-first');
});

test('backpressure: a client that does not read stalls the upstream instead of filling wsgate', async (t) => {
  // Kernel socket buffers on loopback can hold tens of MiB (tcp_rmem max is often 32 MiB), so the source offers
  // far more than two hops of kernel buffers can take, and counts what it could hand off while nobody reads.
  const chunk = Buffer.alloc(1024 * 1024, 1);
  const total = 192;
  let queued = 0;
  let upstreamSocket: net.Socket | undefined;
  const source = await startTcpServer(t, (s) => {
    upstreamSocket = s;
    s.once('data', () => {
      const pump = () => {
        while (queued < total) {
          queued += 1;
          if (!s.write(chunk)) {
            s.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
  });
  const gw = await startProxy(t, forwardConfig());
  const tunnel = await rawConnect(gw.port(), `127.0.0.1:${source.port}`);
  tunnel.socket.write('go');
  await eventually(() => upstreamSocket !== undefined, 5000, 'upstream connection');
  await new Promise((r) => setTimeout(r, 1000));
  const handedOff = queued * chunk.length - upstreamSocket!.writableLength;
  assert.ok(
    handedOff < 128 * chunk.length,
    `the source handed off ${handedOff} bytes to a client that reads nothing: wsgate buffered them`,
  );
  // Then everything arrives once the client reads.
  let received = 0;
  tunnel.socket.on('data', (c: Buffer) => {
    received += c.length;
  });
  tunnel.socket.resume();
  await eventually(() => received >= total * chunk.length, 30_000, 'all bytes delivered');
  assert.equal(received, total * chunk.length);
  tunnel.socket.destroy();
});

test('an idle tunnel is closed after tunnelIdleTimeout', async (t) => {
  const sink = await startTcpServer(t, () => {});
  const gw = await startProxy(t, forwardConfig({}, { limits: { tunnelIdleTimeout: '300ms' } }));
  const tunnel = await rawConnect(gw.port(), `127.0.0.1:${sink.port}`);
  tunnel.socket.write(Buffer.from([1, 2, 3]));
  const started = Date.now();
  tunnel.socket.resume();
  await once(tunnel.socket, 'close');
  assert.ok(Date.now() - started < 3000);
  const line = await gw.logs.waitFor('connect.close');
  assert.equal(line.endedBy, 'wsgate');
  assert.equal(line.how, 'idle');
});

test('a slow request head inside a tunnel gets 408 after headersTimeout, like one on the listener', async (t) => {
  const upstream = await startHttpServer(t, (_req, res) => res.end('never'));
  const gw = await startProxy(t, forwardConfig({}, { limits: { headersTimeout: '1s' } }));
  const tunnel = await rawConnect(gw.port(), `127.0.0.1:${upstream.port}`);
  tunnel.socket.write('GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ');
  const started = Date.now();
  const answer = await readUntil(tunnel.socket, (b) => b.includes('\r\n\r\n'), 5000);
  assert.match(answer.toString(), /^HTTP\/1\.1 408 /);
  assert.ok(Date.now() - started < 3500, `after ${Date.now() - started} ms`);
  assert.equal(upstream.accepted(), 1, 'the CONNECT was dialed; the slow request never reached the server');
  tunnel.socket.destroy();
});

test('shutdown ends open tunnels after the grace period and logs who ended them', async (t) => {
  const tcpEcho = await startTcpServer(t, (s) => s.pipe(s));
  const gw = await startProxy(t, forwardConfig());
  const tunnel = await rawConnect(gw.port(), `127.0.0.1:${tcpEcho.port}`);
  tunnel.socket.write(Buffer.from([9, 9, 9]));
  await readUntil(tunnel.socket, (b) => b.length === 3);
  const closed = once(tunnel.socket, 'close');
  await gw.running.shutdown();
  await closed;
  const line = await gw.logs.waitFor('connect.close');
  assert.equal(line.endedBy, 'wsgate');
  assert.equal(line.how, 'shutdown');
  assert.equal(tcpEcho.open(), 0);
});

test('a handshake refused inside a tunnel is recorded with the upstream named by origin, as an open one is', async (t) => {
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const gw = await startProxy(t, forwardConfig({}, { inspector: { bind: '127.0.0.1:0' } }));
  const tunnel = await rawConnect(gw.port(), `127.0.0.1:${echo.address.port}`);
  t.after(() => tunnel.socket.destroy());
  assert.equal(tunnel.status, 200);
  // No Sec-WebSocket-Key: the front refuses it with 400 before anything is dialed.
  tunnel.socket.resume();
  tunnel.socket.write(
    `GET /echo HTTP/1.1\r\nHost: 127.0.0.1:${echo.address.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Version: 13\r\n\r\n',
  );
  const answer = await readUntil(tunnel.socket, (b) => b.includes('\r\n\r\n'));
  assert.match(answer.toString('latin1'), /^HTTP\/1\.1 400 /);
  const store = gw.running.inspector!.store;
  await eventually(() => store.connections().some((c) => c.state === 'failed'));
  const failed = store.connections().find((c) => c.state === 'failed')!;
  assert.deepEqual(
    [failed.route, failed.upstream, failed.failure?.status],
    ['proxy/tunnel', `ws://127.0.0.1:${echo.address.port}`, 400],
  );
});
