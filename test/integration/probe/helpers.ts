// Small local setups for `wsgate probe` tests, all on 127.0.0.1: fake proxies that answer CONNECT with 407 or 403
// (naming themselves in their headers as real products do), a proxy that forwards absolute-form requests without the
// Upgrade header, servers that answer the handshake with 200 or a wrong Sec-WebSocket-Accept, a WebSocket server that
// cuts idle connections without a Close frame, and a Squid started on a loopback port with a generated config.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { WebSocketServer } from 'ws';
import type { ProbeReport, StepName } from '../../../src/probe/report.ts';
import { type ProbeOptions, runProbe } from '../../../src/probe/run.ts';
import { computeAcceptKey } from '../../../src/websocket/handshake.ts';
import { closedPort } from '../../helpers/servers.ts';
import { startTcpServer } from '../forward/helpers.ts';

/** runProbe with the machine's proxy variables ignored and short waits. */
export function probe(options: ProbeOptions): Promise<ProbeReport> {
  return runProbe({ env: {}, timeoutMs: 5000, ...options });
}

/** The step that failed (or undefined), and its verdict code. */
export function failure(report: ProbeReport): { step: StepName | undefined; code: string } {
  return { step: report.verdict.step, code: report.verdict.code };
}

export function stepOf(report: ProbeReport, step: StepName) {
  const found = report.steps.findLast((s) => s.step === step);
  if (found === undefined) throw new Error(`no ${step} step in ${JSON.stringify(report.steps.map((s) => s.step))}`);
  return found;
}

/** Reads one request head from a raw socket. */
function onHead(socket: net.Socket, handle: (head: string, rest: Buffer) => void): void {
  let buf = Buffer.alloc(0);
  const onData = (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    const end = buf.indexOf('\r\n\r\n');
    if (end === -1) return;
    socket.off('data', onData);
    handle(buf.subarray(0, end).toString('latin1'), buf.subarray(end + 4));
  };
  socket.on('data', onData);
}

/** A proxy that answers every request with this response (a corporate proxy refusing). */
export async function startRefusingProxy(t: TestContext, response: string) {
  return startTcpServer(t, (socket) => onHead(socket, () => socket.end(response)));
}

export const SQUID_LIKE_403 =
  'HTTP/1.1 403 Forbidden\r\nServer: squid/5.7\r\nX-Squid-Error: ERR_ACCESS_DENIED 0\r\nVia: 1.1 proxy.corp (squid/5.7)\r\nContent-Type: text/html\r\nContent-Length: 44\r\nConnection: close\r\n\r\n<html><body>Access Denied.</body></html>\r\n\r\n';

export const AUTH_407 =
  'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Negotiate\r\nProxy-Authenticate: Basic realm="corp"\r\nVia: 1.1 proxy.corp\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';

/**
 * An HTTP proxy for absolute-form requests that drops Upgrade and Connection on the way, as Squid does by default,
 * and says so in Via. Its backend answers a plain GET on a WebSocket path with 426 and `Upgrade: websocket`, as
 * many WebSocket servers do.
 */
export async function startStrippingProxy(t: TestContext) {
  const backend = http.createServer((_req, res) => {
    res.writeHead(426, { Upgrade: 'websocket', 'Content-Type': 'text/plain', Connection: 'close' });
    res.end('Upgrade Required');
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => backend.close(() => resolve())));
  const backendPort = (backend.address() as net.AddressInfo).port;
  const proxy = await startTcpServer(t, (socket) =>
    onHead(socket, (head) => {
      const [requestLine = '', ...lines] = head.split('\r\n');
      const [method = 'GET', target = '/'] = requestLine.split(' ');
      const url = new URL(target);
      const kept = lines.filter((l) => !/^(upgrade|connection|proxy-authorization|sec-websocket-extensions):/i.test(l));
      const upstream = net.connect(backendPort, '127.0.0.1', () => {
        upstream.write(
          `${method} ${url.pathname}${url.search} HTTP/1.1\r\n${kept.join('\r\n')}\r\nConnection: close\r\n\r\n`,
        );
      });
      upstream.on('error', () => socket.destroy());
      let first = true;
      upstream.on('data', (chunk: Buffer) => {
        if (first) {
          first = false;
          const text = chunk.toString('latin1').replace('\r\n', '\r\nVia: 1.1 strip-proxy\r\n');
          socket.write(Buffer.from(text, 'latin1'));
        } else socket.write(chunk);
      });
      upstream.on('end', () => socket.end());
    }),
  );
  return proxy;
}

/** A server that answers the opening handshake with this response (key-aware: gets the client's key). */
export async function startHandshakeAnswerer(t: TestContext, answer: (key: string) => string) {
  return startTcpServer(t, (socket) =>
    onHead(socket, (head) => {
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? '';
      socket.write(answer(key));
    }),
  );
}

/**
 * A WebSocket server written by hand that sends `interim` heads (each its own write) before a valid 101, then
 * answers pings with pongs and a Close with a Close: the interim 1xx a server may send first (RFC 9110 §15.2).
 */
export async function startInterimAnswerer(t: TestContext, interim: readonly string[]) {
  return startTcpServer(t, (socket) =>
    onHead(socket, (head, rest) => {
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? '';
      for (const h of interim) socket.write(h);
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAcceptKey(key)}\r\n\r\n`,
      );
      let buffered = rest;
      const onFrames = (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        // Client frames are masked (RFC 6455 §5.3); control frames carry at most 125 bytes.
        while (buffered.length >= 6 && buffered.length >= 6 + (buffered[1]! & 0x7f)) {
          const opcode = buffered[0]! & 0x0f;
          const length = buffered[1]! & 0x7f;
          const mask = buffered.subarray(2, 6);
          const payload = Buffer.from(buffered.subarray(6, 6 + length).map((b, i) => b ^ mask[i % 4]!));
          buffered = buffered.subarray(6 + length);
          if (opcode === 0x9) socket.write(Buffer.concat([Buffer.from([0x8a, length]), payload]));
          if (opcode === 0x8) socket.end(Buffer.concat([Buffer.from([0x88, length]), payload]));
        }
      };
      socket.on('data', onFrames);
      onFrames(Buffer.alloc(0));
    }),
  );
}

/**
 * A CONNECT proxy written by hand that answers with `answer` (interim 1xx heads and the final head, each its own
 * write) and, when that ends in a 2xx, splices the tunnel to 127.0.0.1:`targetPort`.
 */
export async function startConnectAnswerer(t: TestContext, answer: readonly string[], targetPort: number) {
  return startTcpServer(t, (socket) =>
    onHead(socket, (_head, rest) => {
      for (const h of answer) socket.write(h);
      if (!/^HTTP\/1\.1 2\d\d /.test(answer.at(-1) ?? '')) return;
      const upstream = net.connect(targetPort, '127.0.0.1');
      upstream.on('error', () => socket.destroy());
      socket.on('close', () => upstream.destroy());
      if (rest.length > 0) upstream.write(rest);
      socket.pipe(upstream).pipe(socket);
    }),
  );
}

export const ANSWER_200 = () =>
  'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 21\r\n\r\n<html>a web page</html>';

export const WRONG_ACCEPT = (key: string) =>
  `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAcceptKey(`${key}x`)}\r\n\r\n`;

/**
 * A WebSocket echo server that cuts a connection silent for `idleMs` with TCP FIN (or RST) and no Close frame, as a
 * NAT or firewall does. Pings count as traffic (ws answers them itself).
 */
export async function startIdleCutter(t: TestContext, idleMs: number, how: 'fin' | 'rst' | 'silent' = 'fin') {
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    const socket = req.socket;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        // 'silent': forget the connection without a word, as a NAT whose mapping expired (nothing is read or sent).
        if (how === 'silent') socket.pause();
        else if (how === 'rst') socket.resetAndDestroy();
        else socket.end();
      }, idleMs);
    };
    ws.on('message', (data, isBinary) => {
      arm();
      ws.send(data, { binary: isBinary });
    });
    ws.on('ping', arm);
    ws.on('close', () => clearTimeout(timer));
    ws.on('error', () => {});
    socket.on('close', () => clearTimeout(timer));
    arm();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port };
}

/**
 * A TCP relay to 127.0.0.1:`targetPort` that goes half-open right after the handshake, as a NAT or proxy that
 * forgot one direction: past the request head (`toServer`) or the 101's head (`toClient`), that direction's bytes
 * are read and dropped, with no FIN, while the other flows on. Exact where wsgate's halfOpen fault runs on a timer.
 */
export async function startHalfOpenRelay(t: TestContext, targetPort: number, direction: 'toServer' | 'toClient') {
  return startTcpServer(t, (socket) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
    const headThenSilence = (from: net.Socket, to: net.Socket) => {
      let seen = Buffer.alloc(0);
      let open = true;
      from.on('data', (chunk: Buffer) => {
        if (!open) return;
        seen = Buffer.concat([seen, chunk]);
        const end = seen.indexOf('\r\n\r\n');
        if (end === -1) return;
        open = false;
        to.write(seen.subarray(0, end + 4));
      });
    };
    if (direction === 'toServer') {
      headThenSilence(socket, upstream);
      upstream.pipe(socket);
    } else {
      socket.pipe(upstream);
      headThenSilence(upstream, socket);
    }
  });
}

/**
 * A WebSocket server that pushes a "tick" every `everyMs` to each connection, `count` times (endless by default):
 * traffic during the probe's silence, as a feed or a game server sends.
 */
export async function startTicker(t: TestContext, everyMs: number, count = Number.POSITIVE_INFINITY) {
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  const timers = new Set<NodeJS.Timeout>();
  wss.on('connection', (ws) => {
    let sent = 0;
    const timer = setInterval(() => {
      if (sent >= count) {
        clearInterval(timer);
        return;
      }
      sent += 1;
      ws.send(`tick ${sent}`);
    }, everyMs);
    timers.add(timer);
    ws.on('close', () => clearInterval(timer));
    ws.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearInterval(timer);
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}/feed` };
}

/** A ws echo server on 127.0.0.1 or `host` (messages back unchanged; the first offered subprotocol chosen). */
export async function startWsEcho(t: TestContext, host = '127.0.0.1') {
  const server = http.createServer((_req, res) => {
    res.writeHead(426, { Upgrade: 'websocket' });
    res.end();
  });
  const wss = new WebSocketServer({ server, handleProtocols: (p) => [...p][0] ?? false });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const port = (server.address() as net.AddressInfo).port;
  return { port, url: `ws://${host.includes(':') ? `[${host}]` : host}:${port}/echo` };
}

// ---------------------------------------------------------------- Squid

export const SQUID = '/usr/sbin/squid';
const BASIC_NCSA = '/usr/lib/squid/basic_ncsa_auth';

/** Outside CI a machine without Squid skips these tests (with this notice); in CI (.ci/run installs it) they run. */
export const squidSkip: string | false =
  !existsSync(SQUID) && process.env['CI'] === undefined ? `${SQUID} not installed (apt-get install squid)` : false;

export type SquidOptions = {
  /** Basic auth with one user (basic_ncsa_auth, an htpasswd file with an apr1/MD5 hash). */
  user?: { name: string; password: string };
  /** Add `http_upgrade_request_protocols websocket allow all`. */
  upgrade?: boolean;
};

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function to64(value: number, chars: number): string {
  let out = '';
  for (let v = value, n = chars; n > 0; n -= 1, v >>>= 6) out += ITOA64[v & 0x3f];
  return out;
}

/**
 * The Apache "apr1" MD5-crypt hash (what `openssl passwd -apr1` prints, checked against it), which basic_ncsa_auth
 * accepts; computed here so the tests need no openssl binary.
 */
export function apr1(
  password: string,
  salt = randomBytes(6).toString('base64').replace(/[+/=]/g, '.').slice(0, 8),
): string {
  const magic = '$apr1$';
  const pw = Buffer.from(password, 'utf8');
  const sl = Buffer.from(salt, 'utf8');
  const alt = createHash('md5').update(pw).update(sl).update(pw).digest();
  const ctx = createHash('md5').update(pw).update(magic).update(sl);
  for (let i = pw.length; i > 0; i -= 16) ctx.update(alt.subarray(0, Math.min(16, i)));
  for (let i = pw.length; i > 0; i >>= 1) ctx.update(i & 1 ? Buffer.from([0]) : pw.subarray(0, 1));
  let f = ctx.digest();
  for (let i = 0; i < 1000; i += 1) {
    const round = createHash('md5').update(i & 1 ? pw : f);
    if (i % 3) round.update(sl);
    if (i % 7) round.update(pw);
    f = round.update(i & 1 ? f : pw).digest();
  }
  const b = (i: number) => f[i]!;
  const hash =
    to64((b(0) << 16) | (b(6) << 8) | b(12), 4) +
    to64((b(1) << 16) | (b(7) << 8) | b(13), 4) +
    to64((b(2) << 16) | (b(8) << 8) | b(14), 4) +
    to64((b(3) << 16) | (b(9) << 8) | b(15), 4) +
    to64((b(4) << 16) | (b(10) << 8) | b(5), 4) +
    to64(b(11), 2);
  return `${magic}${salt}$${hash}`;
}

/**
 * Squid 5/6 on 127.0.0.1 with Debian's default access rules (Safe_ports, CONNECT only to SSL_ports 443, localhost
 * allowed, everything else denied), its own pid, log and no cache in a temp dir. Squid drops root privileges to
 * its `proxy` user, so the dir is world-readable. Resolves once it accepts connections.
 */
export async function startSquid(t: TestContext, options: SquidOptions = {}): Promise<{ port: number; url: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-squid-'));
  chmodSync(dir, 0o777);
  const port = await closedPort();
  const auth: string[] = [];
  if (options.user !== undefined) {
    const passwd = join(dir, 'passwd');
    writeFileSync(passwd, `${options.user.name}:${apr1(options.user.password)}\n`, { mode: 0o644 });
    auth.push(
      `auth_param basic program ${BASIC_NCSA} ${passwd}`,
      'auth_param basic realm wsgate-test-squid',
      'acl authed proxy_auth REQUIRED',
    );
  }
  const conf = [
    'acl SSL_ports port 443',
    'acl Safe_ports port 80 21 443 70 210 1025-65535 280 488 591 777',
    ...auth,
    'http_access deny !Safe_ports',
    'http_access deny CONNECT !SSL_ports',
    ...(options.user !== undefined ? ['http_access allow localhost authed', 'http_access deny all'] : []),
    'http_access allow localhost',
    'http_access deny all',
    ...(options.upgrade ? ['http_upgrade_request_protocols websocket allow all'] : []),
    `http_port 127.0.0.1:${port}`,
    `pid_filename ${join(dir, 'squid.pid')}`,
    `access_log stdio:${join(dir, 'access.log')}`,
    `cache_log ${join(dir, 'cache.log')}`,
    'cache deny all',
    'cache_mem 8 MB',
    'shutdown_lifetime 0 seconds',
    'dns_nameservers 127.0.0.1',
    `coredump_dir ${dir}`,
    `netdb_filename none`,
    '',
  ].join('\n');
  const confFile = join(dir, 'squid.conf');
  writeFileSync(confFile, conf, { mode: 0o644 });
  const child = spawn(SQUID, ['-N', '-f', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  t.after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await accepts(port)) return { port, url: `http://127.0.0.1:${port}` };
    await new Promise((r) => setTimeout(r, 100));
  }
  const log = existsSync(join(dir, 'cache.log')) ? readFileSync(join(dir, 'cache.log'), 'utf8') : '';
  throw new Error(`squid did not start on ${port}:\n${output}\n${log}`);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
