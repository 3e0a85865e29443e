// Helpers for TLS interception tests: a forward proxy that intercepts chosen hosts with a CA it creates in a
// temporary directory (tls.caDir), trusting the test CA for its own upstream connections (forward.upstreamCa);
// a wss/https upstream whose TLS secrets are recorded; and a TLS client over a CONNECT tunnel that trusts only
// wsgate's CA. Certificates are made at test time; verification is never turned off.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import tls from 'node:tls';
import { WebSocketServer } from 'ws';
import { type CertAndKey, makeTestCa, type TestCa, tempDir, writePem } from '../../helpers/tls.ts';
import { forwardConfig, rawConnect, startProxy, type TestProxy } from '../forward/helpers.ts';

let sharedCa: Promise<TestCa> | undefined;
/** One upstream test CA per test file (issuing leaves is cheap; making a CA is not much more). */
export function upstreamCa(): Promise<TestCa> {
  sharedCa ??= makeTestCa('wsgate interception upstream test CA');
  return sharedCa;
}

export type InterceptProxy = TestProxy & {
  /** wsgate's CA certificate (PEM), created by wsgate at start in a temporary tls.caDir. */
  caPem: string;
  caDir: string;
  /** The file wsgate's CA certificate is in (for curl --cacert). */
  caFile: string;
};

export type InterceptOptions = {
  intercept?: string[];
  /** Names wsgate resolves to 127.0.0.1. */
  names?: string[];
  /** Extra forward settings (allowHosts, denyHosts, via, …). */
  forward?: Record<string, unknown>;
  /** Extra top-level config (limits, tls.keyLog, proxies, …); tls here is merged with the caDir. */
  config?: Record<string, unknown>;
  env?: Record<string, string>;
  /** Trust the upstream test CA (default true). */
  trustUpstreamCa?: boolean;
};

/** A forward proxy (tap: payload) that intercepts `intercept` (default: every host), with its CA in a temp dir. */
export async function startInterceptProxy(t: TestContext, options: InterceptOptions = {}): Promise<InterceptProxy> {
  const dir = tempDir(t, 'wsgate-intercept-');
  const caDir = join(dir, 'ca');
  const forward: Record<string, unknown> = { intercept: options.intercept ?? ['*'], ...options.forward };
  if (options.trustUpstreamCa !== false) {
    forward['upstreamCa'] = writePem(dir, 'upstream-ca.pem', (await upstreamCa()).cert);
  }
  const { tls: extraTls, ...rest } = (options.config ?? {}) as { tls?: Record<string, unknown> };
  const gw = await startProxy(
    t,
    forwardConfig(forward, { listener: { tap: 'payload' }, tls: { caDir, ...extraTls }, ...rest }),
    { names: options.names ?? [], env: options.env ?? {} },
  );
  const caFile = join(caDir, 'ca.pem');
  return { ...gw, caDir, caFile, caPem: readFileSync(caFile, 'utf8') };
}

export type RecordingTlsServer = {
  port: number;
  /** NSS key-log lines of the server's TLS sessions (they name each session's client random). */
  keyLog: string[];
  /** TLS connections whose handshake finished. */
  secureConnections: () => number;
  /** TCP connections accepted. */
  accepted: () => number;
  /** HTTP requests and WebSocket upgrades received. */
  requests: () => number;
};

export type PageHandler = (path: string) => { type: string; body: string } | undefined;

/**
 * A wss echo and https server on 127.0.0.1 with the given certificate: WebSocket messages come back unchanged;
 * a plain request gets `page(path)` when it returns something, else 200 JSON of its method, url and headers.
 */
export async function startRecordingTlsServer(
  t: TestContext,
  pair: CertAndKey,
  page?: PageHandler,
): Promise<RecordingTlsServer> {
  const keyLog: string[] = [];
  let secure = 0;
  let accepted = 0;
  let requests = 0;
  const server = https.createServer({ cert: pair.cert, key: pair.key }, (req, res) => {
    const custom = page?.(req.url ?? '/');
    const body = custom?.body ?? JSON.stringify({ method: req.method, url: req.url, headers: req.headers });
    res.writeHead(200, {
      'content-type': custom?.type ?? 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    accepted += 1;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('secureConnection', () => {
    secure += 1;
  });
  server.prependListener('request', () => {
    requests += 1;
  });
  server.prependListener('upgrade', () => {
    requests += 1;
  });
  server.on('keylog', (line: Buffer) => keyLog.push(line.toString('latin1')));
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        for (const s of sockets) s.destroy();
        wss.close();
        server.close(() => resolve());
      }),
  );
  return {
    port: (server.address() as net.AddressInfo).port,
    keyLog,
    secureConnections: () => secure,
    accepted: () => accepted,
    requests: () => requests,
  };
}

export type TunnelTls = {
  socket: tls.TLSSocket;
  /** Key-log lines of this client's session. */
  keyLog: string[];
};

/**
 * CONNECT `target` through the proxy, then a TLS handshake inside the tunnel that trusts only `ca`. `servername`
 * undefined sends the target's host as SNI; "" sends none (as for an IP address).
 */
export async function tlsThroughProxy(
  proxyPort: number,
  target: string,
  options: { ca: string; servername?: string; checkName?: string },
): Promise<TunnelTls> {
  const tunnel = await rawConnect(proxyPort, target);
  if (tunnel.status !== 200) throw new Error(`CONNECT ${target} answered ${tunnel.status}: ${tunnel.body}`);
  const host = target.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  const keyLog: string[] = [];
  const socket = tls.connect({
    socket: tunnel.socket,
    ca: options.ca,
    host: options.checkName ?? host,
    servername: options.servername ?? host,
    ALPNProtocols: ['h2', 'http/1.1'],
  });
  socket.on('keylog', (line: Buffer) => keyLog.push(line.toString('latin1')));
  tunnel.socket.resume();
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, keyLog };
}

/** Sends one HTTP/1.1 request over a socket and reads the whole response (the server closes after it). */
export function requestOver(
  socket: net.Socket,
  path: string,
  host: string,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    let raw = Buffer.alloc(0);
    socket.on('data', (c: Buffer) => {
      raw = Buffer.concat([raw, c]);
    });
    socket.once('error', reject);
    socket.once('close', () => {
      const text = raw.toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) {
        reject(new Error(`no complete response: ${JSON.stringify(text.slice(0, 200))}`));
        return;
      }
      const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(end + 4) });
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}

/** The client randoms (second field) of NSS key-log lines. */
export function clientRandoms(lines: readonly string[]): Set<string> {
  return new Set(
    lines
      .join('')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.split(' ')[1]!),
  );
}
