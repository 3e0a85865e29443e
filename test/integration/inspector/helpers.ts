// What the admin API tests share: a ws echo upstream, wsgate started with an inspector on port 0 in front of it,
// and calls to the API with the headers a script would send.
// biome-ignore-all lint/suspicious/noExplicitAny: API answers are JSON that the assertions read field by field.
import http from 'node:http';
import type { TestContext } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { type RunningCli, startCli } from '../../helpers/cli.ts';
import { startTestWsgate, type TestWsgate } from '../../helpers/wsgate.ts';

export async function startEchoUpstream(t: TestContext): Promise<{ url: string; server: WebSocketServer }> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  server.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(data, { binary: isBinary });
    });
    ws.on('error', () => {});
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const c of server.clients) c.terminate();
        server.close(() => resolve());
      }),
  );
  return { url: `ws://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

/**
 * `wsgate run -c FILE --workers 2` as a child (killed after the test if still running), once its `web` listener and
 * the primary's admin API (`inspector:` in the file) are announced: their port and URL.
 */
export async function startWorkersWithAdmin(
  t: TestContext,
  file: string,
  listenTimeoutMs: number,
): Promise<{ cli: RunningCli; port: string; admin: string }> {
  const cli = startCli(['run', '-c', file, '--workers', '2']);
  t.after(async () => {
    if (cli.child.exitCode !== null || cli.child.signalCode !== null) return;
    cli.child.kill('SIGKILL');
    await cli.exited;
  });
  const port = (await cli.waitForOutput(/web listening on 127\.0\.0\.1:(\d+)/, listenTimeoutMs))[1]!;
  const admin = (await cli.waitForOutput(/inspector on (http:\/\/127\.0\.0\.1:\d+)\/ \(every worker\)/))[1]!;
  return { cli, port, admin };
}

export type Inspected = TestWsgate & { admin: string; adminPort: number };

/** wsgate with one route to `upstream` (tap `tap`) and the admin API on 127.0.0.1 port 0. */
export async function startInspected(
  t: TestContext,
  upstream: string,
  options: { tap?: string; inspector?: Record<string, unknown>; extra?: Record<string, unknown> } = {},
): Promise<Inspected> {
  const gate = await startTestWsgate(t, {
    listeners: [
      {
        name: 'test',
        bind: '127.0.0.1:0',
        routes: [{ name: 'echo', match: { pathPrefix: '/' }, upstream, tap: options.tap ?? 'payload' }],
      },
    ],
    shutdown: { grace: '200ms' },
    inspector: { bind: '127.0.0.1:0', ...options.inspector },
    ...options.extra,
  });
  const admin = gate.running.inspector!.admin;
  return { ...gate, admin: admin.url, adminPort: admin.address.port };
}

export type ApiAnswer = { status: number; headers: http.IncomingHttpHeaders; body: string; json: any };

/** One HTTP call with exactly the headers given (plus Host unless overridden), like curl. */
export function call(
  port: number,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<ApiAnswer> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string> = {
    ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    ...options.headers,
  };
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json });
      });
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.end(body);
  });
}

/** Polls `get` until `ok` holds (bounded in time). */
export async function eventually<T>(get: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T = await get();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 20));
    last = await get();
  }
  return last;
}
