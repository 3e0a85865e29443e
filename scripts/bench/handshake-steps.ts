// Where a WebSocket handshake's time goes inside wsgate: wsgate runs in this process, the upstream (a bare 101
// answerer) and the client in a child process, so only wsgate's work is on this event loop. Each handshake is
// timed at the points wsgate passes, through node:diagnostics_channel (net.server.socket: the client's socket
// accepted; net.client.socket: the upstream dial starts) and the two sockets' own events, and the medians of the
// steps are printed. CPU per handshake is this thread's (process.threadCpuUsage).
//
// HS_WARM: handshakes before the measured ones (default 50; 1 for a cold process). HS_PEER=http measures a bare
// `http.Server` 'upgrade' → `net.connect` → head written → pipes in the same process instead, nothing checked: what
// Node's HTTP server and sockets cost a handshake here, so what is above it is wsgate's. HS_TAP sets the tap level
// (default frames), HS_LEVEL the log level (default warn; info writes the open and close lines, to stderr).
//
//   node scripts/bench/handshake-steps.ts [N, default 500]
import { type ChildProcess, spawn } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import http from 'node:http';
import net from 'node:net';
import { startWsgate } from '../../src/app/app.ts';
import { configFromObject } from '../../src/config/load.ts';
import { createLogger, type LogLevel } from '../../src/log/logger.ts';

const N = Number(process.argv[2] ?? 500);
const TAP = process.env['HS_TAP'] ?? 'frames';
// A level pino does not know fails at start, as the bench is run by hand.
const LEVEL = (process.env['HS_LEVEL'] ?? 'warn') as LogLevel;

// The upstream and the client, in one child: a raw 101 answerer and a sequential raw handshake loop.
const CHILD = `
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
const server = http.createServer();
server.on('upgrade', (req, socket) => {
  const accept = createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: ' + accept + '\\r\\n\\r\\n');
  socket.on('error', () => {});
  socket.on('end', () => socket.end());
});
server.listen(0, '127.0.0.1', () => process.stdout.write('UP ' + server.address().port + '\\n'));
const request = (port) => 'GET / HTTP/1.1\\r\\nHost: 127.0.0.1:' + port + '\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n';
function once(port) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = net.connect(port, '127.0.0.1', () => s.write(request(port)));
    s.setNoDelay(true);
    s.once('data', () => { const ms = performance.now() - t0; s.destroy(); resolve(ms); });
    s.on('error', () => resolve(NaN));
  });
}
process.stdin.setEncoding('utf8');
process.stdin.on('data', async (line) => {
  const [port, n] = line.trim().split(' ').map(Number);
  const times = [];
  for (let i = 0; i < n; i++) times.push(await once(port));
  process.stdout.write('DONE ' + JSON.stringify(times) + '\\n');
});
`;

const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const lines: string[] = [];
let waiting: ((line: string) => void) | undefined;
let buf = '';
child.stdout!.setEncoding('utf8');
child.stdout!.on('data', (c: string) => {
  buf += c;
  for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    if (waiting) {
      const w = waiting;
      waiting = undefined;
      w(line);
    } else lines.push(line);
  }
});
const nextLine = () =>
  new Promise<string>((resolve) => {
    if (lines.length > 0) resolve(lines.shift()!);
    else waiting = resolve;
  });

const upstreamPort = Number((await nextLine()).split(' ')[1]);
const log = createLogger({ level: LEVEL, format: 'json', stream: process.stderr });
const running = await startWsgate(
  configFromObject(
    {
      listeners: [{ name: 'hs', bind: '127.0.0.1:0', routes: [{ upstream: `ws://127.0.0.1:${upstreamPort}` }] }],
      tap: { level: TAP },
      log: { level: LEVEL },
    },
    '<handshake-steps>',
  ),
  log,
);
let port = [...running.listeners.values()][0]!.port;
if (process.env['HS_PEER'] === 'http') port = await bareHttpPipe(upstreamPort);

/** The floor: Node's HTTP server hands the upgrade over, the upstream is dialed, the head goes on, bytes are piped. */
async function bareHttpPipe(target: number): Promise<number> {
  const server = http.createServer();
  server.on('upgrade', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    client.setNoDelay(true);
    client.on('error', () => client.destroy());
    const upstream = net.connect({ host: '127.0.0.1', port: target, noDelay: true }, () => {
      const lines = [`GET ${req.url} HTTP/1.1`];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2)
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
      if (head.length > 0) upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    upstream.on('error', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

type Steps = { accepted: number; dial?: number; connected?: number; wrote101?: number; firstRead?: number };
const steps: Steps[] = [];
let current: Steps | undefined;
diagnostics.subscribe('net.server.socket', (msg) => {
  const socket = (msg as { socket: net.Socket }).socket;
  if (socket.localPort !== port) return;
  const s: Steps = { accepted: performance.now() };
  current = s;
  steps.push(s);
  // The first bytes of the request reach JS (the parser runs in the same 'data' turn).
  socket.prependOnceListener('data', () => {
    s.firstRead ??= performance.now();
  });
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = ((...args: unknown[]) => {
    s.wrote101 ??= performance.now();
    return write(...args);
  }) as typeof socket.write;
});
diagnostics.subscribe('net.client.socket', (msg) => {
  const socket = (msg as { socket: net.Socket }).socket;
  const s = current;
  if (s === undefined || s.dial !== undefined) return;
  s.dial = performance.now();
  socket.once('connect', () => {
    s.connected = performance.now();
  });
});

const run = async (n: number) => {
  child.stdin!.write(`${port} ${n}\n`);
  return JSON.parse((await nextLine()).slice('DONE '.length)) as number[];
};
await run(Number(process.env['HS_WARM'] ?? 50)); // warm-up
steps.length = 0;
const cpu0 = process.threadCpuUsage();
const totals = await run(N);
const cpu = process.threadCpuUsage(cpu0);
const median = (xs: number[]) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)] ?? Number.NaN;
};
const d = (f: (s: Steps) => number | undefined) => median(steps.map(f).filter((x): x is number => x !== undefined));
const through = process.env['HS_PEER'] === 'http' ? 'a bare http.Server pipe (HS_PEER=http)' : `wsgate (tap ${TAP})`;
console.log(`${N} sequential handshakes through ${through}, medians in ms:`);
console.log(`  client: connect start → 101 received        ${median(totals).toFixed(3)}`);
console.log(`  wsgate: accepted → request bytes read        ${d((s) => (s.firstRead ?? NaN) - s.accepted).toFixed(3)}`);
console.log(
  `  wsgate: request read → upstream dial starts  ${d((s) => (s.dial ?? NaN) - (s.firstRead ?? NaN)).toFixed(3)}`,
);
console.log(
  `  wsgate: dial → upstream connected            ${d((s) => (s.connected ?? NaN) - (s.dial ?? NaN)).toFixed(3)}`,
);
console.log(
  `  wsgate: connected → 101 written to client    ${d((s) => (s.wrote101 ?? NaN) - (s.connected ?? NaN)).toFixed(3)}`,
);
const per = (us: number) => (us / N / 1000).toFixed(3);
console.log(
  `  wsgate CPU (this thread) per handshake       ${per(cpu.user + cpu.system)} (user ${per(cpu.user)}, system ${per(cpu.system)})`,
);
await running.shutdown();
child.kill();
// The bare peer's server and sockets are not closed one by one: the measurement is over.
process.exit(0);
