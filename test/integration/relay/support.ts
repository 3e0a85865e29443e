// What the relay tests share: a gate that runs wsgate's Upgrade forwarder (websocket/upgrade.ts) with
// ConnectionRules the test writes by hand (so the relay is tested apart from the rules engine), `ws` upstreams, and
// the traffic events of each connection.
import http from 'node:http';
import type net from 'node:net';
import type { TestContext } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import type { WsgateError } from '../../../src/errors.ts';
import type { WsEndEvent, WsEvent } from '../../../src/events.ts';
import { createLogger } from '../../../src/log/logger.ts';
import type { ConnectionRules, Injection, RuleMessage, Verdict } from '../../../src/rules/types.ts';
import type { KeepaliveSettings } from '../../../src/websocket/keepalive.ts';
import type { WsLimits } from '../../../src/websocket/observer.ts';
import type { LiveSession, SessionTap } from '../../../src/websocket/session.ts';
import { forwardUpgrade } from '../../../src/websocket/upgrade.ts';
import { LogCapture } from '../../helpers/wsgate.ts';

export type HandRules = {
  onMessage?: (m: RuleMessage) => Verdict;
  injections?: Injection[];
  deflate?: 'strip' | 'keep';
  needsRelay?: boolean;
  flush?: ConnectionRules['flush'];
  connection?: ConnectionRules['connection'];
};

/** A ConnectionRules written by hand: passes every message unless `onMessage` says otherwise. */
export function handRules(spec: HandRules = {}): ConnectionRules {
  return {
    names: ['hand'],
    needsRelay: spec.needsRelay ?? true,
    deflate: spec.deflate ?? 'strip',
    handshake: {},
    connection: spec.connection ?? {},
    injections: spec.injections ?? [],
    onMessage: spec.onMessage ?? ((m) => ({ send: [m], hits: [] })),
    flush: spec.flush ?? (() => []),
  };
}

export type GateOptions = {
  upstreamPort: number;
  /** The rules of a connection, by its request path; undefined: passthrough. */
  rules?: (path: string) => ConnectionRules | undefined;
  keepalive?: KeepaliveSettings;
  tap?: Partial<SessionTap>;
  limits?: Partial<WsLimits>;
  idleTimeout?: number;
  maxBufferedBytes?: number;
};

export type Gate = {
  port: number;
  url: string;
  events: WsEvent[];
  sessions: Map<string, LiveSession>;
  logs: LogCapture;
  /** The end event of the connection opened on `path`. */
  end(path: string, timeoutMs?: number): Promise<WsEndEvent>;
  /** The live session of the connection opened on `path`. */
  session(path: string, timeoutMs?: number): Promise<LiveSession>;
  /** Events of the connection opened on `path`. */
  of(path: string): WsEvent[];
};

export async function until<T>(find: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function startGate(t: TestContext, options: GateOptions): Promise<Gate> {
  const events: WsEvent[] = [];
  const sessions = new Map<string, LiveSession>();
  const logs = new LogCapture();
  const log = createLogger({ level: 'debug', format: 'json', stream: logs });
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  let n = 0;
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => {});
    if (head.length > 0) socket.unshift(head);
    n += 1;
    const conn = `w${n}`;
    const path = req.url ?? '/';
    void forwardUpgrade(req, socket, {
      connId: conn,
      log,
      route: {
        name: 'relay-test',
        upstream: { name: 'up', url: `http://127.0.0.1:${options.upstreamPort}` },
        changeOrigin: false,
      },
      limits: {
        connectTimeout: 2000,
        handshakeTimeout: 5000,
        idleTimeout: options.idleTimeout ?? 0,
        maxHeaderBytes: 16 * 1024,
        maxBufferedBytes: options.maxBufferedBytes ?? 1024 * 1024,
      },
      showSecrets: false,
      clientScheme: 'http',
      key: String(req.headers['sec-websocket-key']),
      tap: {
        level: 'payload',
        previewBytes: 256,
        maxDecodedBytes: 16 * 1024 * 1024,
        ...options.tap,
        limits: {
          maxFrameBytes: 16 * 1024 * 1024,
          maxMessageBytes: 16 * 1024 * 1024,
          maxFragments: 1024,
          maxPendingPings: 1000,
          ...options.limits,
        },
      },
      emit: (event) => events.push(event),
      refuse: (client: net.Socket, err: WsgateError) => {
        client.end(`HTTP/1.1 502 Bad Gateway\r\nx-wsgate-error: ${err.code}\r\ncontent-length: 0\r\n\r\n`);
      },
      onSession: (session) => sessions.set(path, session),
      rules: options.rules?.(path),
      keepalive: options.keepalive,
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  t.after(async () => {
    for (const session of sessions.values()) session.terminate('shutdown');
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const connOf = (path: string) => events.find((e) => e.type === 'open' && e.path === path)?.conn;
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    events,
    sessions,
    logs,
    end: (path, timeoutMs = 5000) =>
      until(
        () => {
          const conn = connOf(path);
          return events.find((e): e is WsEndEvent => e.type === 'end' && e.conn === conn);
        },
        `end event for ${path}`,
        timeoutMs,
      ),
    session: (path, timeoutMs = 5000) => until(() => sessions.get(path), `session for ${path}`, timeoutMs),
    of: (path) => {
      const conn = connOf(path);
      return events.filter((e) => e.conn === conn);
    },
  };
}

export type Upstream = {
  port: number;
  wss: WebSocketServer;
  received: { path: string; data: Buffer; isBinary: boolean }[];
};

/**
 * A `ws` upstream. Default: echoes every message (as text or binary, as it came). `onConnection` replaces that.
 */
export async function startUpstream(
  t: TestContext,
  options: WebSocketServer['options'] & { onConnection?: (ws: WebSocket, req: http.IncomingMessage) => void } = {},
): Promise<Upstream> {
  const { onConnection, ...wsOptions } = options;
  const received: Upstream['received'] = [];
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...wsOptions });
  wss.on('connection', (ws, req) => {
    ws.on('error', () => {});
    ws.on('message', (data: Buffer, isBinary) => received.push({ path: req.url ?? '/', data, isBinary }));
    if (onConnection) onConnection(ws, req);
    else ws.on('message', (data: Buffer, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  return { port: (wss.address() as net.AddressInfo).port, wss, received };
}

/** Opens a `ws` client; messages arrive in `messages` as they come. */
export async function connect(
  url: string,
  options: WebSocket.ClientOptions = {},
): Promise<{
  ws: WebSocket;
  messages: { data: Buffer; isBinary: boolean }[];
  closed: Promise<{ code: number; reason: string }>;
}> {
  const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024, ...options });
  const messages: { data: Buffer; isBinary: boolean }[] = [];
  ws.on('message', (data: Buffer, isBinary) => messages.push({ data, isBinary }));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, messages, closed };
}
