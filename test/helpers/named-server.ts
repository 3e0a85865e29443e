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

/** One WebSocket's answer, or undefined when it is not open and answered within `ms` (then it is dropped). */
async function answerWithin(t: TestContext, url: string, ms: number): Promise<string | undefined> {
  const ws = new WebSocket(url);
  t.after(() => ws.terminate());
  ws.on('error', () => {});
  const answer = (async () => {
    await once(ws, 'open');
    ws.send('who');
    const [data] = (await once(ws, 'message')) as [Buffer];
    return data.toString();
  })();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  const result = await Promise.race([answer.catch(() => undefined), late]);
  clearTimeout(timer);
  if (result === undefined) ws.terminate();
  return result;
}

/**
 * Opens a WebSocket, sends one message and returns the server's name (the socket closes after the test). With
 * `--workers`, a connection accepted while a killed worker is still being handed it stays in Node's cluster primary
 * unserved (lib/internal/cluster/round_robin_handle.js never hears back from the dead worker): as a client would,
 * this gives up on one after 5 s and opens another, at most three times, and says so in the test's output.
 */
export async function whoAnswers(t: TestContext, url: string): Promise<string> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const answer = await answerWithin(t, url, 5000);
    if (answer !== undefined) return answer;
    t.diagnostic(`whoAnswers: no answer within 5 s on attempt ${attempt} (${url}); opening another connection`);
  }
  throw new Error(`no WebSocket answer from ${url} in three attempts of 5 s`);
}
