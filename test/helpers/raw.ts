// Raw-socket tools for the hostile suite, on 127.0.0.1 (or [::1] where a test asks for it): a client that writes exact bytes and sees exactly what
// comes back (and whether the server closed), a sink upstream that records every byte it receives and answers
// like a minimal HTTP/WebSocket server, a check that a wsgate still serves healthy requests, and a way to
// force garbage collection without --expose-gc on the command line.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { computeAcceptKey } from '../../src/websocket/handshake.ts';

export type RawResponse = {
  status: number;
  statusLine: string;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
};

/** The first response in `buf`, once its head is complete (the body is cut at Content-Length when there is one). */
export function parseResponse(buf: Buffer): RawResponse | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const statusLine = lines[0] ?? '';
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const length = Number(headers['content-length']);
  const body = buf.subarray(end + 4, Number.isFinite(length) ? end + 4 + length : undefined);
  return { status, statusLine, headers, body };
}

export function randomKey(): string {
  return randomBytes(16).toString('base64');
}

/** A WebSocket opening handshake; `extra` lines come after the standard ones. */
export function wsHandshake(path = '/', extra: string[] = [], key = randomKey()): string {
  return [
    `GET ${path} HTTP/1.1`,
    'Host: wsgate.test',
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    `Sec-WebSocket-Key: ${key}`,
    ...extra,
    '',
    '',
  ].join('\r\n');
}

/** A client socket that records everything it receives. */
export class RawClient {
  readonly socket: net.Socket;
  #chunks: Buffer[] = [];
  #closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => this.#chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#closed = true;
    });
  }

  static async connect(t: TestContext, port: number, host = '127.0.0.1'): Promise<RawClient> {
    const socket = net.connect(port, host);
    const client = new RawClient(socket);
    t.after(() => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    return client;
  }

  get received(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Waits until `done(received)` holds; throws after the time limit or if the socket closes first. */
  async until(done: (received: Buffer) => boolean, what: string, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const received = this.received;
      if (done(received)) return received;
      if (this.#closed) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const received = this.received;
    if (done(received)) return received;
    throw new Error(`${what}: not seen (closed: ${this.#closed}); got ${JSON.stringify(received.toString('latin1'))}`);
  }

  /** The first complete response (head, and body up to Content-Length). */
  async response(timeoutMs = 5000): Promise<RawResponse> {
    const complete = (b: Buffer) => {
      const r = parseResponse(b);
      if (!r) return false;
      const length = Number(r.headers['content-length']);
      return !Number.isFinite(length) || r.body.length >= length;
    };
    return parseResponse(await this.until(complete, 'a complete response', timeoutMs))!;
  }

  /** True once the server has closed the connection; false if it is still open after the time limit. */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return this.#closed;
  }
}

export type Exchange = { raw: Buffer; response: RawResponse | undefined; closed: boolean };

/** Sends raw bytes on a new connection and collects everything until the server closes or the time limit. */
export async function exchange(t: TestContext, port: number, data: string | Buffer, timeoutMs = 5000) {
  const client = await RawClient.connect(t, port);
  client.write(data);
  const closed = await client.waitClosed(timeoutMs);
  client.socket.destroy();
  const raw = client.received;
  return { raw, response: parseResponse(raw), closed } satisfies Exchange;
}

/** Answers one request head; return undefined to stay silent. */
export type SinkResponder = (head: string, connection: SinkConnection) => string | undefined;

export type SinkConnection = {
  socket: net.Socket;
  /** Every byte this connection received, in order. */
  bytes(): Buffer;
  /** The request heads parsed so far (before any 101). */
  heads: string[];
  upgraded: boolean;
  closed: boolean;
};

export type RawSink = {
  port: number;
  httpUrl: string;
  wsUrl: string;
  connections: SinkConnection[];
  accepted(): number;
  /** Everything every connection received, as latin1 text. */
  text(): string;
  /** Every request line seen anywhere in the received bytes (also inside what should have been a body or frames). */
  requestLines(): string[];
};

/** The default sink answer: 101 to a WebSocket handshake, `200 ok` to anything else. */
export function defaultResponder(head: string): string {
  const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1];
  if (/^upgrade:\s*websocket/im.test(head) && key) {
    return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAcceptKey(key)}\r\n\r\n`;
  }
  return 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok';
}

const REQUEST_LINE = /^(?:GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|TRACE|CONNECT|PRI) \S+ HTTP\/\d\.\d$/gm;

/**
 * A TCP upstream that records every byte and answers each request head with `respond` (heads only; a body is
 * skipped by Content-Length or up to a chunked terminator). After a 101 it only records.
 */
export async function startRawSink(
  t: TestContext,
  respond: SinkResponder = defaultResponder,
  host = '127.0.0.1',
): Promise<RawSink> {
  const connections: SinkConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const chunks: Buffer[] = [];
    let parsed = 0;
    const conn: SinkConnection = {
      socket,
      bytes: () => Buffer.concat(chunks),
      heads: [],
      upgraded: false,
      closed: false,
    };
    connections.push(conn);
    socket.on('error', () => {});
    socket.on('close', () => {
      conn.closed = true;
      sockets.delete(socket);
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const all = Buffer.concat(chunks);
      // Bounded: each turn consumes one head, and there are at most as many heads as CRLFCRLFs received.
      while (!conn.upgraded) {
        const end = all.indexOf('\r\n\r\n', parsed);
        if (end === -1) return;
        const head = all.toString('latin1', parsed, end);
        let next = end + 4;
        const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
        if (/^transfer-encoding:\s*chunked/im.test(head)) {
          const last = all.indexOf('0\r\n\r\n', next);
          if (last === -1) return;
          next = last + 5;
        } else if (all.length < next + length) {
          return;
        } else {
          next += length;
        }
        parsed = next;
        conn.heads.push(head);
        const answer = respond(head, conn);
        if (answer === undefined) continue;
        socket.write(answer);
        if (answer.startsWith('HTTP/1.1 101')) conn.upgraded = true;
        if (/^connection:\s*close/im.test(head)) socket.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as net.AddressInfo).port;
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const text = () => connections.map((c) => c.bytes().toString('latin1')).join('');
  const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return {
    port,
    httpUrl: `http://${authority}`,
    wsUrl: `ws://${authority}`,
    connections,
    accepted: () => connections.length,
    text,
    requestLines: () => text().match(REQUEST_LINE) ?? [],
  };
}

/**
 * "Survives": on fresh connections, a plain GET gets the upstream's 200 and (unless `ws` is false) a WebSocket
 * handshake gets the upstream's 101. The route must lead to a sink with the default responder.
 */
export async function assertHealthy(t: TestContext, port: number, options: { ws?: boolean; path?: string } = {}) {
  const path = options.path ?? '/healthy';
  const plain = await exchange(t, port, `GET ${path} HTTP/1.1\r\nHost: wsgate.test\r\nConnection: close\r\n\r\n`);
  assert.equal(plain.response?.status, 200, `healthy GET: ${plain.raw.toString('latin1')}`);
  assert.equal(plain.response?.body.toString(), 'ok');
  if (options.ws === false) return;
  const key = randomKey();
  const client = await RawClient.connect(t, port);
  client.write(wsHandshake(path, [], key));
  const res = await client.response();
  assert.equal(res.status, 101, `healthy upgrade: ${res.statusLine}`);
  assert.equal(res.headers['sec-websocket-accept'], computeAcceptKey(key));
  client.socket.destroy();
}

/** global.gc, exposed at run time when the process was not started with --expose-gc. */
export function gcFunction(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** This process's open TCP handles (with `tls`, TLS ones too): the test's peers and wsgate's sockets. */
export function tcpHandles(tls = false): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || (tls && r === 'TLSWrap')).length;
}

/**
 * Waits up to 5 s for the last close events until no more handles are open than `before` (counted as tcpHandles
 * counts them), asserts that, then returns the settled memory: the "after" of a no-growth check.
 */
export async function memoryOnceClosed(gc: () => void, before: number, tls = false): Promise<NodeJS.MemoryUsage> {
  const deadline = Date.now() + 5000;
  while (tcpHandles(tls) > before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(tcpHandles(tls) <= before, `TCP${tls ? ' and TLS' : ''} handles ${tcpHandles(tls)} > ${before} before`);
  return settledMemory(gc);
}

/** Collects twice (weak references and finalizers can need a second pass) and returns the memory in use. */
export async function settledMemory(gc: () => void): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 3; i += 1) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage();
}
