// Leaf certificates from wsgate's CA, checked the way clients check them: a real TLS server on 127.0.0.1 serves
// the leaf and a client that trusts only wsgate's CA verifies it. Plus the cache (same object per host, one
// signing for concurrent requests, bounded LRU, reissue before expiry) and terminateTls, the building block of
// CONNECT interception: SNI, no SNI, garbage, a stalled client, a refused name.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import tls from 'node:tls';
import { isWsgateError } from '../../../src/errors.ts';
import { createCa, type LoadedCa } from '../../../src/tls/ca.ts';
import { openKeyLog } from '../../../src/tls/keylog.ts';
import { issueLeafCertificate, LeafCache } from '../../../src/tls/leaf.ts';
import { type TerminatedTls, terminateTls } from '../../../src/tls/terminate.ts';
import { loadX509 } from '../../../src/tls/x509.ts';
import { tempDir } from '../../helpers/tls.ts';

const x509 = await loadX509();

async function newCa(t: TestContext): Promise<LoadedCa> {
  return createCa(join(tempDir(t), 'ca'));
}

/** A TLS server whose only certificate is the leaf for `host`; resolves with what a CA-only client saw. */
async function verifyWithClient(t: TestContext, ca: LoadedCa, cache: LeafCache, host: string) {
  const leaf = await cache.get(host);
  const server = tls.createServer({ cert: leaf.chainPem, key: ca.leafKey.privateKeyPem }, (s) => s.end('ok'));
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as net.AddressInfo).port;
  const isIp = net.isIP(host) !== 0;
  return new Promise<{ authorized: boolean; peer: X509Certificate; data: string }>((resolve, reject) => {
    // `ca` replaces Node's roots: only wsgate's CA is trusted. `host` is what the hostname check uses for IPs.
    const socket = tls.connect({
      host: isIp ? host : '127.0.0.1',
      port,
      servername: isIp ? undefined : host,
      ca: ca.certPem,
    });
    let data = '';
    socket.on('data', (c: Buffer) => {
      data += c.toString();
    });
    socket.once('secureConnect', () => {
      const peer = socket.getPeerX509Certificate()!;
      socket.once('end', () => resolve({ authorized: socket.authorized, peer, data }));
    });
    socket.once('error', reject);
  });
}

test('leaves for DNS names and IP addresses verify against the CA alone', async (t) => {
  const ca = await newCa(t);
  const cache = new LeafCache(ca);
  const dns = await verifyWithClient(t, ca, cache, 'app.wsgate.test');
  assert.equal(dns.authorized, true);
  assert.equal(dns.data, 'ok');
  assert.equal(dns.peer.subjectAltName, 'DNS:app.wsgate.test');
  const ip = await verifyWithClient(t, ca, cache, '127.0.0.1');
  assert.equal(ip.authorized, true);
  assert.equal(ip.peer.subjectAltName, 'IP Address:127.0.0.1');
  assert.equal(ip.peer.checkIssued(ca.certificate), true);
});

test('a leaf carries the extensions clients require and never outlives the CA', async (t) => {
  const ca = await newCa(t);
  const pem = await issueLeafCertificate(ca, 'Example.WSGATE.test.');
  const cert = new x509.X509Certificate(pem);
  assert.equal(cert.subject, 'CN=example.wsgate.test, O=wsgate');
  assert.equal(cert.issuer, ca.x509.subject);
  assert.equal(cert.getExtension(x509.BasicConstraintsExtension)?.ca, false);
  assert.deepEqual(
    [...(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])],
    [x509.ExtendedKeyUsage.serverAuth],
  );
  assert.equal(cert.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.digitalSignature);
  assert.equal(cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId, ca.authorityKeyId);
  assert.ok(Number.parseInt(cert.serialNumber[0]!, 16) < 8, 'positive serial');
  const node = new X509Certificate(pem);
  assert.equal(node.checkIssued(ca.certificate), true);
  assert.equal(node.verify(ca.certificate.publicKey), true);
  assert.ok(node.validToDate <= ca.certificate.validToDate);
  const late = await issueLeafCertificate(ca, 'late.test', {
    now: new Date(ca.certificate.validToDate.getTime() - 1000),
  });
  assert.equal(new X509Certificate(late).validToDate.getTime(), ca.certificate.validToDate.getTime());
  // Every leaf is for the one shared leaf key.
  assert.equal(
    node.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    new X509Certificate(await issueLeafCertificate(ca, 'other.test')).publicKey
      .export({ type: 'spki', format: 'der' })
      .toString('base64'),
  );
});

test("clock skew: a fresh CA's first leaf has a chain valid from the leaf's own start, a day back", async (t) => {
  const ca = await newCa(t);
  const leaf = new X509Certificate(await issueLeafCertificate(ca, 'skew.test'));
  const dayBack = Date.now() - 24 * 60 * 60 * 1000;
  assert.ok(leaf.validFromDate.getTime() <= dayBack + 60_000, 'the leaf starts a day back');
  // A client whose clock is behind by less than a day accepts the leaf only if the CA is valid at that time too.
  assert.ok(
    ca.certificate.validFromDate <= leaf.validFromDate,
    `CA valid from ${ca.certificate.validFrom}, leaf from ${leaf.validFrom}`,
  );
});

test('an IDN host: the A-label (as SNI carries it) is the SAN, and clients verify it', async (t) => {
  const ca = await newCa(t);
  const cache = new LeafCache(ca);
  const idn = await verifyWithClient(t, ca, cache, 'xn--bcher-kva.wsgate.test');
  assert.equal(idn.authorized, true);
  assert.equal(idn.peer.subjectAltName, 'DNS:xn--bcher-kva.wsgate.test');
});

test('the cache returns the same leaf for the same host (in any spelling) without signing again', async (t) => {
  const ca = await newCa(t);
  const cache = new LeafCache(ca);
  const first = await cache.get('app.wsgate.test');
  const again = await cache.get('APP.wsgate.test.');
  assert.equal(again, first);
  assert.equal(await cache.secureContext('app.wsgate.test'), first.context);
  assert.equal(cache.issued, 1);
  assert.equal(first.chainPem, first.certPem + ca.certPem);
});

test('concurrent requests for one host share one signing', async (t) => {
  const ca = await newCa(t);
  const cache = new LeafCache(ca);
  const leaves = await Promise.all(Array.from({ length: 20 }, () => cache.get('busy.wsgate.test')));
  assert.equal(cache.issued, 1);
  for (const leaf of leaves) assert.equal(leaf, leaves[0]);
});

test('the cache is a bounded LRU', async (t) => {
  const ca = await newCa(t);
  const cache = new LeafCache(ca, { max: 3 });
  for (const host of ['a.test', 'b.test', 'c.test']) await cache.get(host);
  await cache.get('a.test'); // a is now the most recent; b the least
  await cache.get('d.test');
  assert.equal(cache.size, 3);
  assert.equal(cache.has('b.test'), false);
  assert.equal(cache.has('a.test'), true);
  assert.equal(cache.issued, 4);
  await cache.get('b.test');
  assert.equal(cache.issued, 5, 'an evicted host is signed again');
  assert.equal(cache.has('c.test'), false);
});

test('a leaf is reissued a day before it expires', async (t) => {
  const ca = await newCa(t);
  let now = Date.now();
  const cache = new LeafCache(ca, { validityDays: 10, now: () => new Date(now) });
  const first = await cache.get('a.test');
  now += 8 * 24 * 3600 * 1000;
  assert.equal(await cache.get('a.test'), first);
  now += 2 * 24 * 3600 * 1000;
  const renewed = await cache.get('a.test');
  assert.notEqual(renewed, first);
  assert.ok(renewed.notAfter > first.notAfter);
});

async function waitFor(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

type Terminator = { port: number; results: Promise<TerminatedTls | Error>[] };

/** A TCP server that hands each connection to terminateTls (as CONNECT interception will) and echoes a line. */
async function startTerminator(
  t: TestContext,
  cache: LeafCache,
  options: {
    connectHost: string;
    handshakeTimeout?: number;
    allow?: (n: string) => boolean;
    keyLog?: string;
    host?: string;
  },
): Promise<Terminator> {
  const results: Promise<TerminatedTls | Error>[] = [];
  const keyLog = options.keyLog === undefined ? undefined : openKeyLog(options.keyLog);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const result = terminateTls(socket, {
      leaves: cache,
      connectHost: options.connectHost,
      handshakeTimeout: options.handshakeTimeout ?? 5000,
      allowServerName: options.allow,
      keyLog,
    }).then(
      (terminated) => {
        terminated.socket.end(`hello ${terminated.servername}`);
        return terminated;
      },
      (err: Error) => err,
    );
    results.push(result);
  });
  await new Promise<void>((resolve) => server.listen(0, options.host ?? '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await keyLog?.close();
  });
  return { port: (server.address() as net.AddressInfo).port, results };
}

function clientRead(port: number, options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options });
    let data = '';
    let secure = false;
    socket.once('secureConnect', () => {
      secure = true;
    });
    socket.on('data', (c: Buffer) => {
      data += c.toString();
    });
    socket.on('end', () => (secure ? resolve(data) : reject(new Error('closed during the handshake'))));
    socket.on('error', reject);
  });
}

test('terminateTls serves a leaf for the SNI name, and for the CONNECT host without SNI', async (t) => {
  const ca = await newCa(t);
  const cache = new LeafCache(ca);
  const term = await startTerminator(t, cache, { connectHost: '127.0.0.1' });
  assert.equal(
    await clientRead(term.port, { servername: 'chat.wsgate.test', ca: ca.certPem }),
    'hello chat.wsgate.test',
  );
  const withSni = (await term.results[0]) as TerminatedTls;
  assert.equal(withSni.sni, true);
  // Node sends no SNI for an IP host: the leaf is for the CONNECT host, with an IP SAN.
  assert.equal(await clientRead(term.port, { ca: ca.certPem, ALPNProtocols: ['h2', 'http/1.1'] }), 'hello 127.0.0.1');
  const noSni = (await term.results[1]) as TerminatedTls;
  assert.equal(noSni.sni, false);
  assert.equal(noSni.servername, '127.0.0.1');
  assert.equal(noSni.alpnProtocol, 'http/1.1');
});

test('terminateTls: garbage instead of a ClientHello, a stalled client and a refused name are rejected', async (t) => {
  const ca = await newCa(t);
  const cache = new LeafCache(ca);
  const term = await startTerminator(t, cache, {
    connectHost: 'target.wsgate.test',
    handshakeTimeout: 300,
    allow: (name) => name !== 'denied.wsgate.test',
  });
  const garbage = net.connect(term.port, '127.0.0.1', () => garbage.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  garbage.on('error', () => {});
  await waitFor(() => term.results.length === 1);
  const g = await term.results[0];
  assert.ok(isWsgateError(g), String(g));
  assert.equal(g.code, 'WSG_TLS_HANDSHAKE');
  assert.match(g.message, /HTTP_REQUEST|WRONG_VERSION/);

  const stalled = net.connect(term.port, '127.0.0.1');
  stalled.on('error', () => {});
  t.after(() => stalled.destroy());
  await waitFor(() => term.results.length === 2);
  const s = await term.results[1];
  assert.ok(isWsgateError(s));
  assert.match(s.message, /no complete handshake within 300 ms/);

  await assert.rejects(clientRead(term.port, { servername: 'denied.wsgate.test', ca: ca.certPem }));
  const d = await term.results[2];
  assert.ok(isWsgateError(d));
  assert.equal(cache.has('denied.wsgate.test'), false, 'no certificate is issued for a refused name');

  // And the next client is served as usual.
  assert.equal(await clientRead(term.port, { servername: 'ok.wsgate.test', ca: ca.certPem }), 'hello ok.wsgate.test');
});

test('terminateTls appends the session secrets to the key log', async (t) => {
  const ca = await newCa(t);
  const file = join(tempDir(t), 'keys.log');
  const term = await startTerminator(t, new LeafCache(ca), { connectHost: 'x.test', keyLog: file });
  await clientRead(term.port, { servername: 'k.wsgate.test', ca: ca.certPem, maxVersion: 'TLSv1.2' });
  await clientRead(term.port, { servername: 'k.wsgate.test', ca: ca.certPem, minVersion: 'TLSv1.3' });
  await new Promise<void>((resolve) => setTimeout(resolve, 50));
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  assert.equal(lines.filter((l) => l.startsWith('CLIENT_RANDOM ')).length, 1, lines.join('\n'));
  assert.equal(lines.filter((l) => l.startsWith('SERVER_TRAFFIC_SECRET_0 ')).length, 1, lines.join('\n'));
});

test('terminateTls: a failed handshake names an IPv6 client as [address]:port', async (t) => {
  const term = await startTerminator(t, new LeafCache(await newCa(t)), {
    connectHost: 'target.wsgate.test',
    host: '::1',
  });
  // The port is read once connected: a closed socket no longer has one.
  let clientPort: number | undefined;
  const garbage = net.connect(term.port, '::1', () => {
    clientPort = garbage.localPort;
    garbage.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  });
  garbage.on('error', () => {});
  await waitFor(() => term.results.length === 1);
  const failed = await term.results[0];
  assert.ok(isWsgateError(failed), String(failed));
  assert.match(failed.message, new RegExp(`^TLS handshake with \\[::1\\]:${clientPort} failed: `));
});
