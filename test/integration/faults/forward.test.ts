// Faults and profiles on a forward listener, configured as a user would (rules: and forward.profile), against the
// behaviour docs/faults.md documents: rejectConnect 403/407, squid-default (Upgrade dropped on absolute-form
// handshakes, CONNECT only to 443), auth-407, ssl-inspect / untrustedCert (a Node TLS client gets an unknown-issuer
// error), idle-cut-60s's idleCut on a tunnel.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import tls from 'node:tls';
import WebSocket from 'ws';
import { startSilentServer } from '../../helpers/servers.ts';
import { makeTestCa, startTlsEchoServer } from '../../helpers/tls.ts';
import { forwardConfig, rawConnect, startProxy } from '../forward/helpers.ts';
import { squidSkip, startSquid } from '../probe/helpers.ts';
import { startEchoUpstream } from './harness.ts';

/** A raw absolute-form WebSocket handshake through the proxy; resolves with the answer's status line and body. */
function absoluteHandshake(proxyPort: number, target: string): Promise<{ status: number; raw: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: proxyPort,
      path: target,
      headers: {
        Host: new URL(target).host,
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, raw: '' });
    });
    req.on('response', (res) => {
      let raw = '';
      res.on('data', (c: Buffer) => {
        raw += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, raw }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('rejectConnect 403 from a rule: the CONNECT is refused, coded, naming the rule; other hosts pass', async (t) => {
  const up = await startEchoUpstream(t);
  const proxy = await startProxy(
    t,
    forwardConfig(
      {},
      {
        listener: { rules: ['block-blocked'] },
        rules: [{ name: 'block-blocked', match: { host: 'blocked.test' }, actions: [{ rejectConnect: 403 }] }],
      },
    ),
    { names: ['blocked.test'] },
  );
  const refused = await rawConnect(proxy.port(), `blocked.test:${up.port}`);
  assert.equal(refused.status, 403);
  assert.match(refused.head, /X-Wsgate-Error: WSG_FAULT_INJECTED/i);
  assert.match(refused.body, /rejectConnect by rule "block-blocked"/);
  const open = await rawConnect(proxy.port(), `127.0.0.1:${up.port}`);
  t.after(() => open.socket.destroy());
  assert.equal(open.status, 200);
});

test('auth-407 profile: CONNECT and absolute-form requests get 407 with Proxy-Authenticate: Basic realm="wsgate"', async (t) => {
  const up = await startEchoUpstream(t);
  const proxy = await startProxy(t, forwardConfig({ profile: 'auth-407' }));
  const refused = await rawConnect(proxy.port(), `127.0.0.1:${up.port}`);
  assert.equal(refused.status, 407);
  assert.match(refused.head, /Proxy-Authenticate: Basic realm="wsgate"/i);
  const absolute = await absoluteHandshake(proxy.port(), `http://127.0.0.1:${up.port}/`);
  assert.equal(absolute.status, 407);
});

test('squid-default profile: CONNECT only to 443 (403 otherwise); an absolute-form ws:// handshake loses its Upgrade', async (t) => {
  const up = await startEchoUpstream(t);
  const proxy = await startProxy(t, forwardConfig({ profile: 'squid-default' }));
  const refused = await rawConnect(proxy.port(), `127.0.0.1:${up.port}`);
  assert.equal(refused.status, 403);
  assert.match(refused.body, /only port 443 allowed/);
  // The upstream answers the plain GET it gets with its own 426; the client sees that, not a 101.
  const absolute = await absoluteHandshake(proxy.port(), `http://127.0.0.1:${up.port}/`);
  assert.equal(absolute.status, 426);
  assert.equal(up.headers.length, 0, 'the upstream never saw a WebSocket handshake');
});

test('untrustedCert: a Node TLS client through the CONNECT gets an unknown-issuer error', async (t) => {
  const ca = await makeTestCa();
  const server = await startTlsEchoServer(t, await ca.issue({ names: ['127.0.0.1', 'localhost'] }));
  const proxy = await startProxy(
    t,
    forwardConfig(
      {},
      {
        listener: { rules: ['inspect'] },
        rules: [{ name: 'inspect', actions: [{ untrustedCert: true }] }],
      },
    ),
  );
  const tunnel = await rawConnect(proxy.port(), `127.0.0.1:${server.port}`);
  t.after(() => tunnel.socket.destroy());
  assert.equal(tunnel.status, 200);
  const error = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
    // The destination's own CA is trusted: only an interception can make this fail.
    const socket = tls.connect({ socket: tunnel.socket, servername: 'localhost', host: '127.0.0.1', ca: ca.cert });
    socket.once('secureConnect', () => reject(new Error('the untrusted certificate was accepted')));
    socket.once('error', resolve);
  });
  assert.match(
    String(error.code),
    /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?/,
  );
  await proxy.logs.waitFor('connect.fault');
});

test('idleCut on a blind CONNECT tunnel: both sides closed after the silence, the close line names the rule', async (t) => {
  // A destination that accepts and never says anything: only the fault can end the tunnel.
  const silent = await startSilentServer(t);
  const proxy = await startProxy(
    t,
    forwardConfig({}, { listener: { rules: ['cut'] }, rules: [{ name: 'cut', actions: [{ idleCut: '300ms' }] }] }),
  );
  const tunnel = await rawConnect(proxy.port(), `127.0.0.1:${silent.port}`);
  t.after(() => tunnel.socket.destroy());
  assert.equal(tunnel.status, 200);
  tunnel.socket.resume();
  // Bytes that are not HTTP or TLS: a blind tunnel.
  tunnel.socket.write(Buffer.from([0x00, 0x01, 0x02]));
  const started = performance.now();
  await new Promise<void>((resolve) => tunnel.socket.once('close', () => resolve()));
  assert.ok(performance.now() - started < 5000);
  const line = await proxy.logs.waitFor('connect.close');
  assert.equal(line.how, 'fault');
  assert.match(String(line.detail), /idleCut \(rule "cut"\)/);
});

/** A ws client whose connection is a plain CONNECT tunnel through the proxy (the handshake goes inside it). */
async function wsThroughTunnel(
  t: import('node:test').TestContext,
  proxyPort: number,
  upstreamPort: number,
  options: WebSocket.ClientOptions = {},
): Promise<WebSocket> {
  const tunnel = await rawConnect(proxyPort, `127.0.0.1:${upstreamPort}`);
  t.after(() => tunnel.socket.destroy());
  assert.equal(tunnel.status, 200);
  // rawConnect leaves the tunnel paused; the client's parser reads from it once it is flowing again.
  const ws = new WebSocket(`ws://127.0.0.1:${upstreamPort}/`, {
    ...options,
    createConnection: () => {
      setImmediate(() => tunnel.socket.resume());
      return tunnel.socket;
    },
  });
  t.after(() => ws.terminate());
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}

test('strip-extensions profile: a handshake inside a tunnel reaches the server without its extensions', async (t) => {
  const up = await startEchoUpstream(t, { perMessageDeflate: true });
  const proxy = await startProxy(t, forwardConfig({ profile: 'strip-extensions' }));
  const ws = await wsThroughTunnel(t, proxy.port(), up.port, { perMessageDeflate: true });
  assert.equal(ws.extensions, '');
  assert.equal(up.headers[0]?.['sec-websocket-extensions'], undefined);
});

test('buffering-proxy profile: messages sent apart arrive in one burst', async (t) => {
  const up = await startEchoUpstream(t);
  const proxy = await startProxy(t, forwardConfig({ profile: 'buffering-proxy' }));
  const ws = await wsThroughTunnel(t, proxy.port(), up.port);
  const arrivals: number[] = [];
  ws.on('message', () => arrivals.push(performance.now()));
  for (let i = 0; i < 4; i++) {
    ws.send(`b${i}`);
    await new Promise((r) => setTimeout(r, 40));
  }
  const deadline = Date.now() + 6000;
  while (arrivals.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(arrivals.length, 4);
  const spread = Math.max(...arrivals) - Math.min(...arrivals);
  assert.ok(spread < 100, `sent 120 ms apart, they should arrive together; spread ${Math.round(spread)} ms`);
});

test('ssl-inspect profile: the tunnel is re-signed by a CA the client does not trust', async (t) => {
  const ca = await makeTestCa();
  const server = await startTlsEchoServer(t, await ca.issue({ names: ['127.0.0.1', 'localhost'] }));
  const proxy = await startProxy(t, forwardConfig({ profile: 'ssl-inspect' }));
  const tunnel = await rawConnect(proxy.port(), `127.0.0.1:${server.port}`);
  t.after(() => tunnel.socket.destroy());
  const error = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
    const socket = tls.connect({ socket: tunnel.socket, servername: 'localhost', ca: ca.cert });
    socket.once('secureConnect', () => reject(new Error('the re-signed certificate was accepted')));
    socket.once('error', resolve);
  });
  assert.match(String(error.code), /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER/);
  const line = await proxy.logs.waitFor('tls.handshake_failed');
  assert.match(String(line.msg), /untrustedCert fault's certificate/);
});

/** The status of a CONNECT's answer, read from its head (Squid keeps the connection open after a 403). */
function connectStatus(proxyPort: number, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(proxyPort, '127.0.0.1');
    let head = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to CONNECT ${target}`));
    }, 10_000);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (status === null || !head.includes('\r\n\r\n')) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(Number(status[1]));
    });
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  });
}

test('squid-default next to a real Squid 5 with its default access rules: the same answers, the same upstream view', {
  skip: squidSkip,
}, async (t) => {
  const up = await startEchoUpstream(t);
  const squid = await startSquid(t);
  const wsgate = await startProxy(t, forwardConfig({ profile: 'squid-default' }));
  const squidPort = Number(new URL(squid.url).port);
  for (const [name, port] of [
    ['squid', squidPort],
    ['wsgate', wsgate.port()],
  ] as const) {
    assert.equal(await connectStatus(port, `127.0.0.1:${up.port}`), 403, `${name}: CONNECT to a port other than 443`);
    const before = up.headers.length;
    const absolute = await absoluteHandshake(port, `http://127.0.0.1:${up.port}/chat`);
    assert.equal(absolute.status, 426, `${name}: the upstream's answer to a plain GET is relayed`);
    assert.equal(up.headers.length, before, `${name}: the upstream never saw an Upgrade`);
  }
});
