// TLS listeners: https and wss with certificates from a test CA that the clients trust explicitly, SNI choosing
// among several certificates, TLS 1.2 as the floor, ALPN http/1.1, X-Forwarded-Proto https, the NSS key log,
// and a client that speaks plain HTTP to the TLS port.
import assert from 'node:assert/strict';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import tls from 'node:tls';
import WebSocket from 'ws';
import { configFromObject } from '../../../src/config/load.ts';
import { startEchoServer } from '../../../src/echo/server.ts';
import { computeAcceptKey } from '../../../src/websocket/handshake.ts';
import { rawExchange, startHttpServer } from '../../helpers/servers.ts';
import { type CertAndKey, makeTestCa, type TestCa, tempDir, writePair } from '../../helpers/tls.ts';
import { openWs, roundTrip } from '../../helpers/ws-client.ts';
import { startTestWsgate } from '../../helpers/wsgate.ts';
import { eventually } from '../forward/helpers.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let sharedCa: Promise<TestCa> | undefined;
const testCa = () => {
  sharedCa ??= makeTestCa('wsgate listener test CA');
  return sharedCa;
};

async function tlsGateway(t: TestContext, routes: unknown[], tlsConfig: Record<string, unknown>, extra = {}) {
  const gw = await startTestWsgate(t, {
    listeners: [{ name: 'secure', bind: '127.0.0.1:0', tls: tlsConfig, routes }],
    shutdown: { grace: '200ms' },
    ...extra,
  });
  return { ...gw, wss: `wss://127.0.0.1:${gw.port}`, https: `https://127.0.0.1:${gw.port}` };
}

async function withCert(t: TestContext, pair?: CertAndKey) {
  const ca = await testCa();
  const dir = tempDir(t);
  return { ca, dir, files: writePair(dir, 'site', pair ?? (await ca.issue())) };
}

function httpsGet(
  url: string,
  ca: string,
  options: https.RequestOptions = {},
): Promise<{ status: number; body: string; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, agent: false, ...options }, (res) => {
      const protocol = (res.socket as tls.TLSSocket).getProtocol();
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, protocol }));
    });
    req.on('error', reject);
  });
}

/** A TLS handshake only: what the server presented, and what was agreed. */
function handshake(port: number, options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

test('wss client → TLS listener → ws upstream: text and binary echo identical', async (t) => {
  const { ca, files } = await withCert(t);
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const gw = await tlsGateway(t, [{ upstream: echo.url }], files);
  const ws = await openWs(`${gw.wss}/echo`, { ca: ca.cert });
  t.after(() => ws.terminate());
  const text = await roundTrip(ws, 'hello over wss ✓');
  assert.equal(text.isBinary, false);
  assert.equal(text.data.toString('utf8'), 'hello over wss ✓');
  for (const size of [1, 64 * 1024, 4 * 1024 * 1024]) {
    const payload = randomBytes(size);
    const reply = await roundTrip(ws, payload);
    assert.equal(reply.isBinary, true);
    assert.equal(sha(reply.data), sha(payload), `binary ${size} bytes`);
  }
  ws.close(1000, 'done');
  const [code] = await once(ws, 'close');
  assert.equal(code, 1000);
  const start = gw.logs.events('listener.start')[0]!;
  assert.match(String(start.msg), /^listening on https:\/\/127\.0\.0\.1:\d+ \(secure\)$/);
});

test('https requests and wss handshakes reach the upstream with X-Forwarded-Proto: https', async (t) => {
  const { ca, files } = await withCert(t);
  const upstream = await startHttpServer(t, (req, res) => res.end(JSON.stringify(req.headers)));
  // A WebSocket upstream that records the handshake it receives and accepts it.
  const heads: string[] = [];
  const wsUpstream = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', (chunk: Buffer) => {
      const head = chunk.toString('latin1');
      heads.push(head);
      const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? '';
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAcceptKey(key)}\r\n\r\n`,
      );
    });
  });
  await new Promise<void>((resolve) => wsUpstream.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => wsUpstream.close(() => resolve())));
  const wsPort = (wsUpstream.address() as net.AddressInfo).port;
  const gw = await tlsGateway(
    t,
    [{ match: { path: '/ws' }, upstream: `ws://127.0.0.1:${wsPort}` }, { upstream: upstream.url }],
    files,
  );

  const res = await httpsGet(`${gw.https}/page`, ca.cert);
  assert.equal(res.status, 200);
  assert.equal((JSON.parse(res.body) as Record<string, string>)['x-forwarded-proto'], 'https');

  const ws = await openWs(`${gw.wss}/ws`, { ca: ca.cert });
  ws.terminate();
  assert.match(heads[0] ?? '', /^x-forwarded-proto: https\r$/im);
});

test('several certificates: SNI picks one (exact, wildcard via serverNames); no match gets the first', async (t) => {
  const ca = await testCa();
  const dir = tempDir(t);
  const a = writePair(dir, 'a', await ca.issue({ names: ['a.wsgate.test'] }));
  const b = writePair(dir, 'b', await ca.issue({ names: ['b.wsgate.test'] }));
  const c = writePair(dir, 'c', await ca.issue({ names: ['*.c.wsgate.test', 'c.wsgate.test'] }));
  const fingerprint = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256;
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const gw = await tlsGateway(t, [{ upstream: echo.url }], {
    certs: [a, b, { ...c, serverNames: ['*.c.wsgate.test'] }],
  });
  const cases: [string, string][] = [
    ['a.wsgate.test', a.cert],
    ['b.wsgate.test', b.cert],
    ['B.WSGATE.TEST', b.cert],
    ['x.c.wsgate.test', c.cert],
  ];
  for (const [servername, expected] of cases) {
    // Each handshake verifies against the test CA and the name asked for: the right certificate or an error.
    const socket = await handshake(gw.port, { servername, ca: ca.cert });
    assert.equal(socket.authorized, true, servername);
    assert.equal(socket.getPeerX509Certificate()?.fingerprint256, fingerprint(expected), servername);
    socket.destroy();
  }
  // An unknown name gets the default (first) certificate, which then fails the client's own hostname check.
  await assert.rejects(handshake(gw.port, { servername: 'nobody.wsgate.test', ca: ca.cert }), (err: Error) => {
    assert.match(err.message, /a\.wsgate\.test/);
    return true;
  });
  // And a wss client with SNI b gets through end to end.
  // ws passes servername on to tls.connect; its types do not list it.
  const sniOptions = { ca: ca.cert, servername: 'b.wsgate.test' } as WebSocket.ClientOptions;
  const ws = new WebSocket(`${gw.wss}/x`, sniOptions);
  await once(ws, 'open');
  assert.equal((await roundTrip(ws, 'sni')).data.toString(), 'sni');
  ws.terminate();
});

test('TLS 1.2 is the floor: a TLS 1.1 client is refused and logged; 1.2 and 1.3 clients get in', async (t) => {
  const { ca, files } = await withCert(t);
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const gw = await tlsGateway(t, [{ upstream: echo.url }], files);
  // SECLEVEL=0 lets this client's OpenSSL offer TLS 1.1 at all; the refusal must come from wsgate.
  await assert.rejects(
    handshake(gw.port, { ca: ca.cert, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
  );
  const line = await gw.logs.waitFor('tls.handshake_failed');
  assert.equal(line.code, 'WSG_TLS_HANDSHAKE');
  assert.match(String(line.reason), /UNSUPPORTED_PROTOCOL|VERSION/i);
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    const socket = await handshake(gw.port, { ca: ca.cert, minVersion: version, maxVersion: version });
    assert.equal(socket.getProtocol(), version);
    socket.destroy();
  }
});

test('a client offering only h2 does not get it (ALPN is http/1.1 only)', async (t) => {
  const { ca, files } = await withCert(t);
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const gw = await tlsGateway(t, [{ upstream: echo.url }], files);
  const both = await handshake(gw.port, { ca: ca.cert, ALPNProtocols: ['h2', 'http/1.1'] });
  assert.equal(both.alpnProtocol, 'http/1.1');
  both.destroy();
  const result = await handshake(gw.port, { ca: ca.cert, ALPNProtocols: ['h2'] }).then(
    (s) => {
      const agreed = s.alpnProtocol;
      s.destroy();
      return agreed;
    },
    (err: Error) => err.message,
  );
  assert.match(
    String(result),
    /no application protocol/i,
    'refused with the no_application_protocol alert, as nginx does',
  );
  // The first client, gone right after its handshake, may be a reset line of its own: the h2 one is looked for.
  let line: Record<string, unknown> | undefined;
  await eventually(
    () => {
      line = gw.logs.events('tls.handshake_failed').find((l) => l.reason === 'ERR_SSL_NO_APPLICATION_PROTOCOL');
      return line !== undefined;
    },
    5000,
    'a tls.handshake_failed line for the h2-only client',
  );
  assert.match(String(line?.msg), /offered only protocols wsgate does not speak \(ALPN\); wsgate speaks http\/1\.1/);
});

test('plain HTTP to the TLS port: the connection closes, a log line says why, the next client is fine', async (t) => {
  const { ca, files } = await withCert(t);
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const gw = await tlsGateway(t, [{ upstream: echo.url }], files);
  const reply = await rawExchange(gw.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 3000);
  assert.doesNotMatch(reply.toString('latin1'), /HTTP\/1\.1 200/);
  const line = await gw.logs.waitFor('tls.handshake_failed');
  assert.match(String(line.reason), /HTTP_REQUEST|WRONG_VERSION|UNKNOWN_PROTOCOL/i);
  const res = await httpsGet(`${gw.https}/`, ca.cert);
  assert.equal(res.status, 200);
});

test('tls.keyLog: TLS 1.2 and 1.3 sessions through the listener append NSS key-log lines', async (t) => {
  const { ca, dir, files } = await withCert(t);
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const keyLog = join(dir, 'keys.log');
  const gw = await tlsGateway(t, [{ upstream: echo.url }], files, { tls: { keyLog } });
  // A whole request per session, so the server has finished its side of the handshake too.
  const tls12 = await httpsGet(`${gw.https}/`, ca.cert, { maxVersion: 'TLSv1.2' });
  assert.equal(tls12.protocol, 'TLSv1.2');
  const tls13 = await httpsGet(`${gw.https}/`, ca.cert, { minVersion: 'TLSv1.3' });
  assert.equal(tls13.protocol, 'TLSv1.3');
  await gw.running.shutdown();
  const lines = readFileSync(keyLog, 'utf8').trim().split('\n');
  assert.equal(lines.filter((l) => l.startsWith('CLIENT_RANDOM ')).length, 1, lines.join('\n'));
  for (const label of [
    'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
    'SERVER_HANDSHAKE_TRAFFIC_SECRET',
    'CLIENT_TRAFFIC_SECRET_0',
    'SERVER_TRAFFIC_SECRET_0',
  ]) {
    assert.equal(lines.filter((l) => l.startsWith(`${label} `)).length, 1, label);
  }
  for (const line of lines) assert.match(line, /^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]+$/);
});

test('reload re-reads the certificate files; a bad file on reload keeps the running certificate', async (t) => {
  const ca = await testCa();
  const dir = tempDir(t);
  const first = await ca.issue();
  const files = writePair(dir, 'site', first);
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const config = {
    listeners: [{ name: 'secure', bind: '127.0.0.1:0', tls: files, routes: [{ upstream: echo.url }] }],
    shutdown: { grace: '200ms' },
  };
  const gw = await tlsGateway(t, [{ upstream: echo.url }], files);
  const served = async () => {
    const socket = await handshake(gw.port, { ca: ca.cert, servername: 'localhost' });
    const fingerprint = socket.getPeerX509Certificate()?.fingerprint256;
    socket.destroy();
    return fingerprint;
  };
  assert.equal(await served(), new X509Certificate(first.cert).fingerprint256);

  const renewed = await ca.issue();
  writePair(dir, 'site', renewed);
  await gw.running.reload(configFromObject(config, '<test>'));
  assert.equal(await served(), new X509Certificate(renewed.cert).fingerprint256);

  writeFileSync(files.key, 'not a key');
  await gw.running.reload(configFromObject(config, '<test>'));
  const failed = await gw.logs.waitFor('config.reload_failed');
  assert.equal(failed.code, 'WSG_TLS_CERT_READ');
  assert.equal(await served(), new X509Certificate(renewed.cert).fingerprint256);
});

/** One raw request over TLS with this SNI; the response's status line. */
async function statusOver(port: number, ca: string, servername: string | undefined, request: string): Promise<string> {
  const socket = await handshake(port, {
    ca,
    ...(servername === undefined ? { checkServerIdentity: () => undefined } : { servername }),
  });
  socket.write(request);
  let text = '';
  for await (const chunk of socket) {
    text += String(chunk);
    if (text.includes('\r\n')) break;
  }
  socket.destroy();
  return text.split('\r\n')[0] ?? '';
}

test('SNI for one certificate, Host for another: 421 Misdirected Request (requests and wss handshakes)', async (t) => {
  const ca = await testCa();
  const dir = tempDir(t);
  const a = writePair(dir, 'a', await ca.issue({ names: ['a.wsgate.test'] }));
  const b = writePair(dir, 'b', await ca.issue({ names: ['b.wsgate.test'] }));
  const c = writePair(dir, 'c', await ca.issue({ names: ['*.c.wsgate.test'] }));
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const gw = await tlsGateway(t, [{ upstream: echo.url }], { certs: [a, b, c] });
  const get = (host: string) => `GET /x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
  const key = randomBytes(16).toString('base64');
  const upgrade = (host: string) =>
    `GET /x HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  // The certificate verified for a.wsgate.test says nothing about b.wsgate.test: refused, as nginx and Caddy do.
  assert.match(await statusOver(gw.port, ca.cert, 'a.wsgate.test', get('b.wsgate.test')), /^HTTP\/1\.1 421 /);
  assert.match(
    await statusOver(gw.port, ca.cert, 'a.wsgate.test', upgrade(`b.wsgate.test:${gw.port}`)),
    /^HTTP\/1\.1 421 /,
  );
  const line = await gw.logs.waitFor('http.misdirected');
  assert.equal(line.code, 'WSG_MISDIRECTED_REQUEST');
  assert.equal(line.servername, 'a.wsgate.test');
  assert.equal((await gw.logs.waitFor('ws.misdirected')).code, 'WSG_MISDIRECTED_REQUEST');
  // Agreeing names, names one certificate covers, a Host with a port, and no SNI at all go through.
  assert.match(
    await statusOver(gw.port, ca.cert, 'b.wsgate.test', get(`B.wsgate.test:${gw.port}`)),
    /^HTTP\/1\.1 200 /,
  );
  assert.match(await statusOver(gw.port, ca.cert, 'x.c.wsgate.test', get('y.c.wsgate.test')), /^HTTP\/1\.1 200 /);
  assert.match(await statusOver(gw.port, ca.cert, undefined, get('b.wsgate.test')), /^HTTP\/1\.1 200 /);
  // A Host no certificate names (an address, a name only catch-all routes take) reaches no other certificate's host.
  assert.match(await statusOver(gw.port, ca.cert, 'b.wsgate.test', get(`127.0.0.1:${gw.port}`)), /^HTTP\/1\.1 200 /);
  assert.match(await statusOver(gw.port, ca.cert, 'b.wsgate.test', get('other.test')), /^HTTP\/1\.1 200 /);
  assert.match(await statusOver(gw.port, ca.cert, 'a.wsgate.test', upgrade('a.wsgate.test')), /^HTTP\/1\.1 101 /);
});

test('a listener certificate that has expired or is not yet valid is warned about at start, naming the file', async (t) => {
  const ca = await testCa();
  const dir = tempDir(t);
  const day = 24 * 60 * 60 * 1000;
  const current = writePair(dir, 'current', await ca.issue({ names: ['ok.wsgate.test'] }));
  const expired = writePair(
    dir,
    'expired',
    await ca.issue({
      names: ['old.wsgate.test'],
      notBefore: new Date(Date.now() - 30 * day),
      notAfter: new Date(Date.now() - day),
    }),
  );
  const early = writePair(
    dir,
    'early',
    await ca.issue({
      names: ['new.wsgate.test'],
      notBefore: new Date(Date.now() + day),
      notAfter: new Date(Date.now() + 30 * day),
    }),
  );
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const gw = await tlsGateway(t, [{ upstream: echo.url }], { certs: [current, expired, early] });
  const old = await gw.logs.waitFor('tls.cert_expired');
  assert.equal(old.level, 'warn');
  assert.equal(old.listener, 'secure');
  assert.equal(old.file, expired.cert);
  assert.match(String(old.msg), /expired on .*clients refuse it/);
  const notYet = await gw.logs.waitFor('tls.cert_not_yet_valid');
  assert.equal(notYet.file, early.cert);
  assert.equal(gw.logs.events('tls.cert_expired').length, 1, 'the current certificate is not warned about');
});
