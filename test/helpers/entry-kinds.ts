// The four ways a request can reach wsgate, as one interface for parametrised tests: a reverse listener
// (origin-form to a route), a forward listener (absolute-form), plain HTTP inside a CONNECT tunnel, and HTTP inside
// an intercepted TLS session. Each kind starts its own wsgate with the limits a test gives, in front of a raw sink
// upstream on 127.0.0.1 that records every byte it receives (for the intercepted kind behind a TLS front with a
// test certificate, so the sink sees the decrypted stream), and opens fresh client connections of its kind that
// are ready for requests: a test then writes the same request bytes whatever the door.
import assert from 'node:assert/strict';
import net from 'node:net';
import type { TestContext } from 'node:test';
import tls from 'node:tls';
import { forwardConfig, rawConnect, startProxy } from '../integration/forward/helpers.ts';
import { startInterceptProxy, tlsThroughProxy, upstreamCa } from '../integration/intercept/helpers.ts';
import { parseResponse, type RawResponse, type RawSink, type SinkResponder, startRawSink } from './raw.ts';
import type { CertAndKey } from './tls.ts';
import { type LogCapture, type LogLine, reverseConfig, startTestWsgate } from './wsgate.ts';

/** A client connection (TCP, a CONNECT tunnel or TLS inside one) that records everything it receives. */
export class Channel {
  readonly socket: net.Socket;
  #chunks: Buffer[] = [];
  #closed = false;

  constructor(t: TestContext, socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => this.#chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#closed = true;
    });
    socket.resume();
    t.after(() => socket.destroy());
  }

  /** A plain TCP connection to 127.0.0.1:port, once connected. */
  static async tcp(t: TestContext, port: number): Promise<Channel> {
    const socket = net.connect(port, '127.0.0.1');
    const channel = new Channel(t, socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    return channel;
  }

  get received(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(data);
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** The first complete response (head, and body up to Content-Length); throws after the time limit. */
  async response(timeoutMs = 3000): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = parseResponse(this.received);
      const length = Number(r?.headers['content-length']);
      if (r && (!Number.isFinite(length) || r.body.length >= length)) return r;
      if (this.#closed || Date.now() >= deadline) {
        throw new Error(
          `no complete response within ${timeoutMs} ms (closed: ${this.#closed}); got ${JSON.stringify(this.received.toString('latin1').slice(0, 300))}`,
        );
      }
      await new Promise((res) => setTimeout(res, 10));
    }
  }

  /** True once the server has closed the connection; false if it is still open after the time limit. */
  async waitClosed(timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return this.#closed;
  }
}

/** One running wsgate with one entry of a kind in front of a recording upstream. */
export type Entry = {
  logs: LogCapture;
  /** The listener clients connect to. */
  port: number;
  /** Host header for requests of this kind. */
  host: string;
  /** The request target for `path` as this kind sends it (origin-form, or absolute-form to a forward proxy). */
  target(path: string): string;
  /** What a client of this kind writes first on a new TCP connection, before any request ('' when nothing). */
  opening: string;
  /** A fresh connection of this kind, ready for requests (a tunnel after its 200, TLS after its handshake). */
  open(t: TestContext): Promise<Channel>;
  /** Every byte the upstream received (decrypted, for the intercepted kind), as latin1 text. */
  upstreamText(): string;
  /** The recording upstream itself: its connections, each closed once wsgate let go of it. */
  sink: RawSink;
};

export type EntryOptions = {
  /** More top-level config (e.g. `tap`), beside the limits. */
  config?: Record<string, unknown>;
  /**
   * Forward kinds may reach only their own upstream (allowHosts and allowPorts): for inputs that name arbitrary
   * destinations (fuzzing), so that nothing is ever dialled beyond the test's sink.
   */
  lockDestinations?: boolean;
  /** How the recording upstream answers each request head (default: 101 to a handshake, `200 ok` otherwise). */
  respond?: SinkResponder;
};

export type EntryKind = {
  name: string;
  start(t: TestContext, limits: Record<string, unknown>, options?: EntryOptions): Promise<Entry>;
};

function lockedTo(host: string, port: number, locked: boolean | undefined): Record<string, unknown> {
  return locked ? { allowHosts: [host], allowPorts: [String(port)] } : {};
}

/**
 * A TLS server with `pair` that hands each decrypted connection to the raw sink on `sinkPort`, so the sink records
 * what an intercepting wsgate sent after its own TLS handshake with the destination.
 */
async function startTlsFront(t: TestContext, pair: CertAndKey, sinkPort: number): Promise<number> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  };
  const server = tls.createServer({ cert: pair.cert, key: pair.key }, (clear) => {
    const back = net.connect(sinkPort, '127.0.0.1');
    track(clear);
    track(back);
    clear.pipe(back);
    back.pipe(clear);
    clear.on('close', () => back.destroy());
    back.on('close', () => clear.destroy());
  });
  server.on('tlsClientError', () => {});
  server.on('connection', (s: net.Socket) => track(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as net.AddressInfo).port;
}

/** The name an intercepted CONNECT asks for; wsgate's test lookup maps it to 127.0.0.1. */
const INTERCEPTED_HOST = 'target.test';

let destinationPair: Promise<CertAndKey> | undefined;
function destinationCert(): Promise<CertAndKey> {
  destinationPair ??= upstreamCa().then((ca) => ca.issue({ names: [INTERCEPTED_HOST] }));
  return destinationPair;
}

function connectHead(authority: string): string {
  return `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`;
}

export const REVERSE: EntryKind = {
  name: 'reverse',
  async start(t, limits, options = {}) {
    const sink = await startRawSink(t, options.respond);
    const gw = await startTestWsgate(t, reverseConfig([{ upstream: sink.httpUrl }], { limits, ...options.config }));
    return {
      logs: gw.logs,
      port: gw.port,
      host: 'wsgate.test',
      target: (path) => path,
      opening: '',
      open: (tc) => Channel.tcp(tc, gw.port),
      upstreamText: sink.text,
      sink,
    };
  },
};

export const ABSOLUTE_FORM: EntryKind = {
  name: 'forward absolute-form',
  async start(t, limits, options = {}) {
    const sink = await startRawSink(t, options.respond);
    const forward = lockedTo('127.0.0.1', sink.port, options.lockDestinations);
    const gw = await startProxy(t, forwardConfig(forward, { limits, ...options.config }));
    const authority = `127.0.0.1:${sink.port}`;
    return {
      logs: gw.logs,
      port: gw.port(),
      host: authority,
      target: (path) => `http://${authority}${path}`,
      opening: '',
      open: (tc) => Channel.tcp(tc, gw.port()),
      upstreamText: sink.text,
      sink,
    };
  },
};

export const CONNECT_TUNNEL: EntryKind = {
  name: 'CONNECT tunnel',
  async start(t, limits, options = {}) {
    const sink = await startRawSink(t, options.respond);
    const forward = lockedTo('127.0.0.1', sink.port, options.lockDestinations);
    const gw = await startProxy(t, forwardConfig(forward, { limits, ...options.config }));
    const authority = `127.0.0.1:${sink.port}`;
    return {
      logs: gw.logs,
      port: gw.port(),
      host: authority,
      target: (path) => path,
      opening: connectHead(authority),
      async open(tc) {
        const tunnel = await rawConnect(gw.port(), authority, {}, 3000);
        assert.equal(tunnel.status, 200, `CONNECT ${authority}: ${tunnel.head}`);
        return new Channel(tc, tunnel.socket);
      },
      upstreamText: sink.text,
      sink,
    };
  },
};

export const INTERCEPTED_TLS: EntryKind = {
  name: 'intercepted TLS',
  async start(t, limits, options = {}) {
    const sink = await startRawSink(t, options.respond);
    const destination = await startTlsFront(t, await destinationCert(), sink.port);
    const gw = await startInterceptProxy(t, {
      intercept: [INTERCEPTED_HOST],
      names: [INTERCEPTED_HOST],
      forward: lockedTo(INTERCEPTED_HOST, destination, options.lockDestinations),
      config: { limits, ...options.config },
    });
    const authority = `${INTERCEPTED_HOST}:${destination}`;
    return {
      logs: gw.logs,
      port: gw.port(),
      host: authority,
      target: (path) => path,
      opening: connectHead(authority),
      async open(tc) {
        const { socket } = await tlsThroughProxy(gw.port(), authority, { ca: gw.caPem });
        return new Channel(tc, socket);
      },
      upstreamText: sink.text,
      sink,
    };
  },
};

export const ENTRY_KINDS: readonly EntryKind[] = [REVERSE, ABSOLUTE_FORM, CONNECT_TUNNEL, INTERCEPTED_TLS];

/** Waits until a log line with `event` satisfies `match`; fails listing what was logged under that event. */
export async function waitForLine(
  logs: LogCapture,
  event: string,
  match: (line: LogLine) => boolean,
  timeoutMs = 3000,
): Promise<LogLine> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = logs.events(event).find(match);
    if (found) return found;
    if (Date.now() >= deadline) {
      throw new Error(
        `no matching "${event}" line within ${timeoutMs} ms; ${event} lines: ${JSON.stringify(logs.events(event))}; all events: ${logs.lines.map((l) => l.event).join(', ')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A plain GET on a fresh connection of the entry's kind reaches the upstream and gets its `200 ok`. */
export async function assertHealthy(t: TestContext, entry: Entry): Promise<void> {
  const channel = await entry.open(t);
  channel.write(`GET ${entry.target('/healthy')} HTTP/1.1\r\nHost: ${entry.host}\r\nConnection: close\r\n\r\n`);
  const res = await channel.response();
  assert.equal(res.status, 200, `healthy GET: ${res.statusLine} ${res.body.toString('latin1')}`);
  assert.equal(res.body.toString(), 'ok');
  channel.destroy();
}
