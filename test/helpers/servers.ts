// Small real servers for tests, all on 127.0.0.1 port 0: an HTTP upstream with a handler, a TCP sink that
// accepts and never answers, a way to get a port nothing listens on (below the ephemeral range), a server that closes
// kept-alive connections, and a connected TCP pair (a peer's end and the end wsgate would hold).

import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { TestContext } from 'node:test';

export type TestHttpServer = { server: http.Server; port: number; url: string; accepted: () => number };

export async function startHttpServer(t: TestContext, handler: http.RequestListener): Promise<TestHttpServer> {
  const server = http.createServer(handler);
  let accepted = 0;
  // Upgraded sockets leave the server's own bookkeeping, so closeAllConnections() misses them: track every socket.
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { server, port, url: `http://127.0.0.1:${port}`, accepted: () => accepted };
}

/** Accepts TCP connections and never writes a byte: for timeouts. */
export async function startSilentServer(t: TestContext): Promise<{ port: number; accepted: () => number }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, accepted: () => sockets.size };
}

/** The kernel's range for port 0 binds and outgoing connections (ip_local_port_range), where known. */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && high !== undefined && low > 0) return [low, high];
  } catch {}
  return [32768, 60999];
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A loopback port that was just free: bound, then released. Taken below the kernel's ephemeral range, so that no
 * other test's port-0 listener or outgoing connection can be given it a moment later (tests run in parallel): a
 * connection to it is refused until someone binds it on purpose.
 */
export async function closedPort(): Promise<number> {
  const [low] = ephemeralRange();
  const from = 10_000;
  if (low - from >= 1000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = from + Math.floor(Math.random() * (low - from));
      if (await canBind(port)) return port;
    }
  }
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Sends raw bytes and collects everything until the server closes (or the time limit). `host`: a loopback address. */
export function rawExchange(
  port: number,
  data: string | Buffer,
  timeoutMs = 5000,
  host = '127.0.0.1',
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks));
    }, timeoutMs);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', (err) => {
      clearTimeout(timer);
      if (chunks.length > 0) resolve(Buffer.concat(chunks));
      else reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.write(data);
  });
}

/**
 * An upstream that serves one request per connection and keeps it alive, then closes the connection as the next
 * request on it arrives: the race with a server's keep-alive timeout, made certain.
 */
export async function closesKeptAlive(t: TestContext) {
  const requests: string[] = [];
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let served = 0;
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const line = buffered.slice(0, buffered.indexOf('\r\n'));
      buffered = '';
      if (served++ > 0) {
        socket.destroy();
        return;
      }
      requests.push(line);
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    requests,
    connections: () => connections,
  };
}

export type Pair = { outer: net.Socket; inner: net.Socket };

/**
 * A connected TCP pair on 127.0.0.1: `outer` plays a peer, `inner` is the socket wsgate would hold, with wsgate's
 * large write buffer (limits.maxBufferedBytes), so that writes which do not complete at once still return true and
 * reading goes on while they hold their chunks.
 */
export async function tcpPair(t: { after(fn: () => void): void }): Promise<Pair> {
  const server = net.createServer({ highWaterMark: 4 * 1024 * 1024 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const outer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve) => outer.once('connect', resolve));
  const inner = await accepted;
  for (const s of [outer, inner]) s.setNoDelay(true);
  return { outer, inner };
}
