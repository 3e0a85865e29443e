// Certificates made at test time (never committed) and TLS servers on 127.0.0.1 port 0 built from them: a test CA
// that issues leaves with chosen names and dates (expired, not yet valid, wrong host), self-signed certificates,
// and a wss/https echo upstream (ws's WebSocketServer on an https server). Clients in tests trust these CAs
// explicitly; certificate checks are never turned off.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { WebSocketServer } from 'ws';
import { newEcKey, signCaCertificate } from '../../src/tls/ca.ts';
import { isIpAddress } from '../../src/tls/names.ts';
import { EC_KEY_ALGORITHM, EC_SIGNING_ALGORITHM, loadX509, randomSerial } from '../../src/tls/x509.ts';

const x509 = await loadX509();

const DAY = 24 * 60 * 60 * 1000;

export type CertAndKey = { cert: string; key: string };

export type LeafOptions = {
  /** DNS names and IP addresses for the SAN (default: localhost and 127.0.0.1). */
  names?: string[];
  notBefore?: Date;
  notAfter?: Date;
  commonName?: string;
};

export type TestCa = CertAndKey & {
  name: string;
  issue(options?: LeafOptions): Promise<CertAndKey>;
};

function pemOf(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

function sanOf(names: string[]) {
  return new x509.SubjectAlternativeNameExtension(
    names.map((n) => (isIpAddress(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n })),
  );
}

/** The public half as a WebCrypto key, for the certificate generator. */
function publicOf(key: KeyObject) {
  return createPublicKey(key).toCryptoKey(EC_KEY_ALGORITHM, true, ['verify']);
}

/** A CA for tests: ECDSA P-256, valid from yesterday for ten years. */
export async function makeTestCa(commonName = 'wsgate test CA'): Promise<TestCa> {
  const caKey = newEcKey();
  const name = `CN=${commonName}, O=wsgate tests`;
  // The same CA certificate wsgate makes for itself (tls/ca.ts), under a test name.
  const cert = await signCaCertificate(caKey, name, {
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 3650 * DAY),
  });
  const publicKey = publicOf(caKey);
  const signingKey = caKey.toCryptoKey(EC_KEY_ALGORITHM, false, ['sign']);
  return {
    name,
    cert: `${cert.toString('pem')}\n`,
    key: pemOf(caKey),
    async issue(options = {}) {
      const leafKey = newEcKey();
      const names = options.names ?? ['localhost', '127.0.0.1'];
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: randomSerial(),
        subject: `CN=${options.commonName ?? names[0] ?? 'leaf'}`,
        issuer: cert.subjectName,
        notBefore: options.notBefore ?? new Date(Date.now() - DAY),
        notAfter: options.notAfter ?? new Date(Date.now() + 30 * DAY),
        signingAlgorithm: EC_SIGNING_ALGORITHM,
        publicKey: publicOf(leafKey),
        signingKey,
        extensions: [
          sanOf(names),
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          await x509.AuthorityKeyIdentifierExtension.create(publicKey),
        ],
      });
      return { cert: `${leaf.toString('pem')}\n`, key: pemOf(leafKey) };
    },
  };
}

/** A certificate that signed itself (not a CA), for the names given. */
export async function makeSelfSigned(names = ['localhost', '127.0.0.1'], commonName = 'self-signed.test') {
  const key = newEcKey();
  const name = `CN=${commonName}`;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: name,
    issuer: name,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 30 * DAY),
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    publicKey: publicOf(key),
    signingKey: key.toCryptoKey(EC_KEY_ALGORITHM, false, ['sign']),
    extensions: [sanOf(names), new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth])],
  });
  return { cert: `${cert.toString('pem')}\n`, key: pemOf(key) };
}

/** A temporary directory removed after the test. */
export function tempDir(t: TestContext, prefix = 'wsgate-tls-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a certificate and key as NAME.pem and NAME-key.pem; returns the paths. */
export function writePair(dir: string, name: string, pair: CertAndKey): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  writeFileSync(cert, pair.cert);
  writeFileSync(key, pair.key, { mode: 0o600 });
  return { cert, key };
}

export function writePem(dir: string, name: string, pem: string): string {
  const file = join(dir, name);
  writeFileSync(file, pem);
  return file;
}

export type TlsEchoServer = {
  port: number;
  /** wss://127.0.0.1:PORT */
  wss: string;
  /** https://127.0.0.1:PORT */
  https: string;
  /** TLS connections accepted (handshake finished). */
  secureConnections: () => number;
  /** HTTP requests and WebSocket handshakes received. */
  requests: () => number;
};

/**
 * A wss echo server and https endpoint on 127.0.0.1: WebSocket messages come back unchanged (text as text,
 * binary as binary); a plain request gets 200 with a JSON body of its method, url and headers.
 */
export async function startTlsEchoServer(t: TestContext, pair: CertAndKey): Promise<TlsEchoServer> {
  const server = https.createServer({ cert: pair.cert, key: pair.key }, (req, res) => {
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 * 1024 });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  const sockets = new Set<net.Socket>();
  let secure = 0;
  let requests = 0;
  server.prependListener('request', () => {
    requests += 1;
  });
  server.prependListener('upgrade', () => {
    requests += 1;
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('secureConnection', () => {
    secure += 1;
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        for (const s of sockets) s.destroy();
        wss.close();
        server.close(() => resolve());
      }),
  );
  return {
    port,
    wss: `wss://127.0.0.1:${port}`,
    https: `https://127.0.0.1:${port}`,
    secureConnections: () => secure,
    requests: () => requests,
  };
}
