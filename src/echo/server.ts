// The built-in echo server (`wsgate echo`): a WebSocket endpoint that sends every message back unchanged, so a
// proxy can be tried end to end without an application. One node:http server owns plain HTTP (a short help text)
// and WebSocket upgrades on any path; `ws` does the protocol, including pings, permessage-deflate and subprotocols.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { listenFailed } from '../errors.ts';
import { formatHostPort } from '../net/host-port.ts';

export type EchoServerOptions = { host: string; port: number };

export type EchoServer = {
  /** The bound address as the OS reports it (the real port when 0 was asked for). */
  address: { host: string; port: number };
  /** `ws://host:port/echo`, with IPv6 hosts bracketed and wildcard binds shown as loopback. */
  url: string;
  /** Close every client with 1001 and stop listening; resolves once all sockets are gone. Safe to call twice. */
  close(): Promise<void>;
};

const MAX_PAYLOAD = 64 * 1024 * 1024;
// Echoing is a write per read: a client that sends without reading would grow our send buffer without bound, so
// stop reading from it above the high mark and resume once the kernel has taken the backlog below the low mark.
const HIGH_WATER = 16 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;
// A client that never answers our close frame would otherwise hold close() for ws's 30 s close timeout.
const CLOSE_GRACE_MS = 2000;

const CLOSE_GOING_AWAY = 1001; // RFC 6455 §7.4.1: the endpoint is going away (server shutdown)

/** Start the echo server; rejects with WSG_LISTEN_FAILED when the address cannot be bound. */
export async function startEchoServer(options: EchoServerOptions): Promise<EchoServer> {
  // Imported here: `ws` stays out of the heap of a wsgate that runs no echo server.
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_PAYLOAD,
    perMessageDeflate: {
      // Small messages cost more to compress than they save; 1 KiB is ws's own suggested floor.
      threshold: 1024,
      // Bound zlib memory per connection (ws's README: memLevel 7, level 3 is a good speed/size balance) and the
      // number of concurrent zlib jobs, which are what make compression expensive under load.
      zlibDeflateOptions: { level: 3, memLevel: 7 },
      concurrencyLimit: 10,
    },
    // Accept the client's first offer so subprotocol negotiation can be checked end to end through a proxy.
    handleProtocols: (protocols) => {
      const [first] = protocols;
      return first ?? false;
    },
  });
  wss.on('connection', echo);

  let closing = false;
  // Filled in once bound; the help text names the real URL rather than echoing the request's Host header back.
  let url = '';
  const server = createServer((req, res) => answerHttp(req, res, url));

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', ignore);
    if (closing) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    // handleUpgrade validates the handshake itself and answers 400/405 (or destroys the socket) when it is invalid.
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  await listen(server, options);
  // After a successful listen the server has no one to report errors to; keep them from crashing the process.
  server.on('error', ignore);

  const bound = server.address() as AddressInfo;
  const address = { host: bound.address, port: bound.port };
  url = `ws://${formatHostPort(displayHost(bound.address), bound.port)}/echo`;

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= shutdown();
    return closed;
  };

  async function shutdown(): Promise<void> {
    closing = true;
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();

    const clients = [...wss.clients];
    const clientsClosed = clients.map(
      (ws) => new Promise<void>((resolve) => (ws.readyState === ws.CLOSED ? resolve() : ws.once('close', resolve))),
    );
    for (const ws of clients) {
      // A client paused for backpressure must be read again, or its answering close frame would never be seen.
      ws.resume();
      ws.close(CLOSE_GOING_AWAY, 'server shutting down');
    }

    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_GRACE_MS);
    });
    await Promise.race([Promise.all(clientsClosed), grace]);
    clearTimeout(timer);
    for (const ws of clients) ws.terminate();

    await new Promise<void>((resolve) => wss.close(() => resolve()));
    // Anything still open (a request mid-flight, a socket that never sent a request) would hold server.close().
    server.closeAllConnections();
    await serverClosed;
  }

  return { address, url, close };
}

function echo(ws: WebSocket): void {
  ws.on('error', ignore);
  ws.on('message', (data, isBinary) => {
    // binaryType is 'nodebuffer', so a whole message (fragments joined) arrives as one Buffer; sending it back with
    // the same `binary` flag keeps text as text and binary as binary.
    ws.send(data, { binary: isBinary }, () => {
      if (ws.isPaused && ws.bufferedAmount < LOW_WATER) ws.resume();
    });
    if (ws.bufferedAmount > HIGH_WATER) ws.pause();
  });
}

function answerHttp(req: IncomingMessage, res: ServerResponse, url: string): void {
  req.on('error', ignore);
  res.on('error', ignore);
  // HEAD is answered like GET (RFC 9110 §9.3.2); node:http leaves the body out by itself.
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8', allow: 'GET, HEAD' });
    res.end(`405 Method Not Allowed: the wsgate echo server answers GET, or a WebSocket upgrade.\n`);
    return;
  }
  const body =
    'This is the wsgate echo server.\n' +
    `Connect with a WebSocket client to ${url} (any path works):\n` +
    'every text or binary message is sent back unchanged.\n';
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

function listen(server: ReturnType<typeof createServer>, { host, port }: EchoServerOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(listenFailed({ host, port, address: formatHostPort(host, port) }, err));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port });
  });
}

// A wildcard bind is reachable on loopback; the wildcard itself is not an address a client can dial.
function displayHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

function ignore(): void {}
