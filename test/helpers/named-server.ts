// A server that says its name, for tests of upstreams with several servers: which one a request or WebSocket
// reached, and a /health endpoint whose answer a test can turn.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';

/** A server that says its name: over HTTP as the body, over WebSocket as the answer to any message. */
export async function namedServer(
  t: TestContext,
  name: string,
): Promise<{ url: string; close(): Promise<void>; health: { ok: boolean; checks: number } }> {
  const health = { ok: true, checks: 0 };
  const server = http.createServer((req, res) => {
    if (req.url !== '/health') return res.end(name);
    health.checks++;
    res.statusCode = health.ok ? 200 : 503;
    res.end();
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', () => ws.send(name)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const client of wss.clients) client.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  t.after(close);
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, close, health };
}

/** Opens a WebSocket, sends one message and returns the server's name (the socket closes after the test). */
export async function whoAnswers(t: TestContext, url: string): Promise<string> {
  const ws = new WebSocket(url);
  t.after(() => ws.terminate());
  await once(ws, 'open');
  ws.send('who');
  const [data] = (await once(ws, 'message')) as [Buffer];
  return data.toString();
}
