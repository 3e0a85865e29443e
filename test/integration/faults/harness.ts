// A minimal gate for fault tests: a plain http server whose upgrades go through wsgate's Upgrade forwarder with a
// hand-built ConnectionRules (faults only), to a ws echo server. It exercises the same forwarder, session, joiner
// and link shaper a configured route does, without depending on how the config reaches them.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { WebSocketServer } from 'ws';
import type { WsEndEvent, WsEvent } from '../../../src/events.ts';
import { writeErrorToSocket } from '../../../src/front/error-response.ts';
import { createLogger } from '../../../src/log/logger.ts';
import type { ConnectionFaults, ConnectionRules, HandshakeFaults } from '../../../src/rules/types.ts';
import { forwardUpgrade } from '../../../src/websocket/upgrade.ts';
import { LogCapture } from '../../helpers/wsgate.ts';

/** ConnectionRules with faults only: nothing to relay, every message passes. */
export function faultRules(handshake: HandshakeFaults, connection: ConnectionFaults = {}): ConnectionRules {
  return {
    names: ['test-fault'],
    needsRelay: false,
    deflate: 'strip',
    handshake,
    connection,
    injections: [],
    onMessage: (message) => ({ send: [message], hits: [] }),
    flush: () => [],
  };
}

export type FaultGate = { url: string; logs: LogCapture; events: WsEvent[]; end: () => Promise<WsEndEvent> };

export async function startEchoUpstream(
  t: TestContext,
  options: { perMessageDeflate?: boolean } = {},
): Promise<{ port: number; wss: WebSocketServer; headers: http.IncomingHttpHeaders[] }> {
  const headers: http.IncomingHttpHeaders[] = [];
  // Its own http server, so cleanup can cut connections that never upgraded (a tunnel's, a plain GET's).
  const server = http.createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
    res.end('Upgrade Required');
  });
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const wss = new WebSocketServer({ server, perMessageDeflate: options.perMessageDeflate ?? false });
  wss.on('headers', (_h, req) => headers.push(req.headers));
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        for (const s of sockets) s.destroy();
        wss.close();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as AddressInfo).port, wss, headers };
}

export async function startFaultGate(t: TestContext, upstreamUrl: string, rules: ConnectionRules): Promise<FaultGate> {
  const logs = new LogCapture();
  const log = createLogger({ level: 'debug', format: 'json', stream: logs });
  const events: WsEvent[] = [];
  const server = http.createServer((_req, res) => res.end('no'));
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  let n = 0;
  server.on('upgrade', (req, socket) => {
    socket.on('error', () => {});
    n += 1;
    void forwardUpgrade(req, socket as import('node:net').Socket, {
      connId: `w${n}`,
      log,
      route: { name: 'faults', upstream: { name: 'echo', url: upstreamUrl }, changeOrigin: false },
      limits: {
        connectTimeout: 2000,
        handshakeTimeout: 2000,
        idleTimeout: 0,
        maxHeaderBytes: 16384,
        maxBufferedBytes: 256 * 1024,
      },
      showSecrets: false,
      clientScheme: 'http',
      key: String(req.headers['sec-websocket-key']),
      tap: { level: 'meta', previewBytes: 64, maxDecodedBytes: 1 << 20 },
      emit: (e) => events.push(e),
      refuse: writeErrorToSocket,
      rules,
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  const end = async (): Promise<WsEndEvent> => {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const found = events.find((e): e is WsEndEvent => e.type === 'end');
      if (found) return found;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('no end event within 10 s');
  };
  return { url: `ws://127.0.0.1:${port}`, logs, events, end };
}
