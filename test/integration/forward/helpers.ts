// Helpers for forward-proxy tests: an in-process wsgate with a controlled environment (HTTP_PROXY & co. are never
// inherited from the machine running the tests) and a name resolver that maps test names to 127.0.0.1 without
// asking DNS; a raw CONNECT client; curl with a clean environment; small TCP servers that count what reaches them.
import { execFile } from 'node:child_process';
import type dns from 'node:dns';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { type RunningWsgate, startWsgate } from '../../../src/app/app.ts';
import { configFromObject } from '../../../src/config/load.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { LogCapture } from '../../helpers/wsgate.ts';

export type TestProxy = {
  running: RunningWsgate;
  logs: LogCapture;
  /** Port of the named listener (default: the first). */
  port(name?: string): number;
  /** http://127.0.0.1:PORT of the named listener (default: the first). */
  url(name?: string): string;
};

export type ProxyOptions = {
  /** The environment wsgate reads HTTP_PROXY & co. from; {} unless a test sets it. */
  env?: Record<string, string>;
  /** Names this wsgate resolves (to 127.0.0.1); any other name fails with ENOTFOUND, without a DNS query. */
  names?: string[];
};

/** A lookup that knows only the given names (all 127.0.0.1) and "localhost": tests never query DNS. */
export function fakeLookup(names: readonly string[] = []): net.LookupFunction {
  const known = new Set(['localhost', ...names.map((n) => n.toLowerCase())]);
  return ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    setImmediate(() => {
      if (!known.has(hostname.toLowerCase())) {
        callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }));
        return;
      }
      if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
      else callback(null, '127.0.0.1', 4);
    });
  }) as net.LookupFunction;
}

export async function startProxy(
  t: TestContext,
  config: Record<string, unknown>,
  options: ProxyOptions = {},
): Promise<TestProxy> {
  const logs = new LogCapture();
  const resolved = configFromObject(config, '<test>');
  const log = createLogger({ level: 'debug', format: 'json', stream: logs });
  const running = await startWsgate(resolved, log, { env: options.env ?? {}, lookup: fakeLookup(options.names) });
  t.after(() => running.shutdown());
  const port = (name?: string) => {
    const address = name === undefined ? [...running.listeners.values()][0] : running.listeners.get(name);
    if (address === undefined) throw new Error(`no listener ${name}`);
    return address.port;
  };
  return { running, logs, port, url: (name) => `http://127.0.0.1:${port(name)}` };
}

/** One forward listener "proxy" on 127.0.0.1 port 0. */
export function forwardConfig(forward: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  const { listener, ...rest } = extra as { listener?: Record<string, unknown> };
  return {
    listeners: [{ name: 'proxy', bind: '127.0.0.1:0', forward, ...listener }],
    shutdown: { grace: '200ms' },
    ...rest,
  };
}

export type ConnectResult = {
  status: number;
  /** The response head as text (status line and headers). */
  head: string;
  /** The body after a refused CONNECT (read until the proxy closes). */
  body: string;
  /** The tunnel, after a 200. */
  socket: net.Socket;
};

/** Sends `CONNECT target` with the given extra header lines and reads the answer. */
export function rawConnect(
  proxyPort: number,
  target: string,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<ConnectResult> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(proxyPort, '127.0.0.1');
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to CONNECT ${target} within ${timeoutMs} ms`));
    }, timeoutMs);
    const lines = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${lines}\r\n`);
    socket.on('error', () => {});
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buffered.subarray(0, end).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      const rest = buffered.subarray(end + 4);
      socket.off('data', onData);
      if (status === 200) {
        clearTimeout(timer);
        socket.pause();
        if (rest.length > 0) socket.unshift(rest);
        resolve({ status, head, body: '', socket });
        return;
      }
      let body = rest.toString('utf8');
      socket.on('data', (c: Buffer) => {
        body += c.toString('utf8');
      });
      socket.once('close', () => {
        clearTimeout(timer);
        resolve({ status, head, body, socket });
      });
    };
    socket.on('data', onData);
    socket.once('close', () => {
      if (buffered.indexOf('\r\n\r\n') === -1) {
        clearTimeout(timer);
        resolve({ status: 0, head: buffered.toString('latin1'), body: '', socket });
      }
    });
  });
}

export type CurlResult = { code: number; stdout: string; stderr: string };

/** Runs curl with only PATH and HOME in its environment, so no proxy variable of the machine applies. */
export function curl(args: string[], timeoutMs = 20_000): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['--silent', '--show-error', '--max-time', String(Math.ceil(timeoutMs / 1000)), ...args],
      {
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp' },
        maxBuffer: 64 << 20,
      },
      (err, stdout, stderr) => {
        const code =
          err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export type TcpServer = { port: number; accepted: () => number; open: () => number };

/** A TCP server on 127.0.0.1 port 0 that hands each connection to `onConnection` and counts them. */
export async function startTcpServer(t: TestContext, onConnection: (socket: net.Socket) => void): Promise<TcpServer> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, accepted: () => accepted, open: () => sockets.size };
}

/** Reads from a socket until `predicate(bytes so far)` holds (or the time limit). */
export function readUntil(socket: net.Socket, predicate: (buf: Buffer) => boolean, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new Error(
          `timed out after ${timeoutMs} ms with ${buf.length} bytes: ${buf.subarray(0, 200).toString('latin1')}`,
        ),
      );
    }, timeoutMs);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (predicate(buf)) {
        cleanup();
        resolve(buf);
      }
    };
    const onClose = () => {
      cleanup();
      if (predicate(buf)) resolve(buf);
      else reject(new Error(`closed with ${buf.length} bytes: ${buf.subarray(0, 200).toString('latin1')}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
  });
}

/** Waits until `check()` holds, polling every 10 ms, for at most timeoutMs. */
export async function eventually(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${what} did not hold within ${timeoutMs} ms`);
}
