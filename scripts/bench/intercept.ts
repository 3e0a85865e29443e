// TLS interception throughput: wss echo ping-pong through wsgate's forward proxy with `forward.intercept` (the
// client's TLS ends in wsgate with a leaf from wsgate's CA; wsgate opens its own verified TLS to the server)
// against a direct wss connection to the same server, as ratios in the same run. Everything on 127.0.0.1.
//
// Three processes: this one (the `ws` clients), a wss echo server (this file with `serve`), and wsgate
// (`node src/cli/main.ts run -c <generated yaml>`, one for the whole run, tap meta, log level warn). A throwaway
// test CA and a server certificate for 127.0.0.1 are made with src/tls (createCa, issueLeafCertificate) in a temp
// dir; wsgate trusts that CA as forward.upstreamCa and creates its own CA in tls.caDir, which the client trusts.
// The intercepted host is the literal 127.0.0.1 (IP SAN, no SNI): wsgate runs as a child process, so a made-up
// name could not be mapped to loopback without touching DNS. Direct and intercepted alternate within each rep;
// the ratio is taken within a rep and the median over reps is reported.
//
//   node scripts/bench/intercept.ts            prints a markdown table (progress on stderr)
//   BENCH_QUICK=1 node scripts/bench/intercept.ts
//   environment: BENCH_REPS (default 3, quick 1), BENCH_DURATION (s, default 3, quick 1), BENCH_WARMUP (s, 0.5)
//   `npm run bench` appends it when BENCH_INTERCEPT=1.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import { freePort, sleep, waitForPort } from './net.ts';
import { median } from './stats.ts';

export type InterceptScenario = { id: string; size: number; conns: number };
export const INTERCEPT_SCENARIOS: readonly InterceptScenario[] = [
  { id: '64B-c1', size: 64, conns: 1 },
  { id: '64B-c4', size: 64, conns: 4 },
  { id: '64KiB-c1', size: 65536, conns: 1 },
  { id: '64KiB-c4', size: 65536, conns: 4 },
];

/** The intercepted host: an IP literal, so the wsgate child needs no name resolution (see the header). */
export const INTERCEPT_HOST = '127.0.0.1';

/** wsgate's config: one loopback forward listener that intercepts INTERCEPT_HOST, tap meta, warnings only. */
export function interceptConfig(port: number, upstreamCaFile: string, caDir: string): string {
  return `listeners:
  - name: bench
    bind: 127.0.0.1:${port}
    tap: meta
    forward:
      intercept: [${JSON.stringify(INTERCEPT_HOST)}]
      upstreamCa: ${JSON.stringify(upstreamCaFile)}
tls: { caDir: ${JSON.stringify(caDir)} }
log: { level: warn }
`;
}

export type InterceptRow = { id: string; direct: number[]; intercepted: number[] };

/** Median round trips/s of each side, and the median of the per-rep ratios (intercepted / direct). */
export function summarizeRow(row: InterceptRow): {
  direct: number | null;
  intercepted: number | null;
  ratio: number | null;
} {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(row.direct.length, row.intercepted.length); i++) {
    const d = row.direct[i]!;
    const t = row.intercepted[i]!;
    if (d > 0) ratios.push(t / d);
  }
  return { direct: median(row.direct), intercepted: median(row.intercepted), ratio: median(ratios) };
}

export function interceptMarkdown(rows: readonly InterceptRow[], header: string): string {
  const n = (x: number | null, digits = 0) => (x === null ? '–' : x.toFixed(digits));
  const lines = [
    header,
    '',
    '| scenario | direct wss round trips/s | through interception round trips/s | ratio |',
    '| -------- | -----------------------: | ---------------------------------: | ----: |',
  ];
  for (const row of rows) {
    const s = summarizeRow(row);
    lines.push(`| ${row.id} | ${n(s.direct)} | ${n(s.intercepted)} | ${n(s.ratio, 2)} |`);
  }
  return `${lines.join('\n')}\n`;
}

const REPO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CONNECT_TIMEOUT_MS = 10_000;

/** `serve --cert F --key F`: a wss echo on 127.0.0.1:0, prints "READY <port>"; SIGTERM stops it. */
function serve(certFile: string, keyFile: string): void {
  const server = https.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('wsgate bench wss echo\n');
  });
  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
    ws.on('error', () => {});
  });
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`READY ${(server.address() as net.AddressInfo).port}\n`);
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      for (const c of wss.clients) c.terminate();
      server.close();
      process.exit(0);
    });
  }
}

/** CONNECT host:port through the proxy, then TLS inside the tunnel trusting only `ca`. */
function tlsThroughProxy(proxyPort: number, port: number, ca: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: proxyPort,
      method: 'CONNECT',
      path: `${INTERCEPT_HOST}:${port}`,
      headers: { host: `${INTERCEPT_HOST}:${port}` },
      timeout: CONNECT_TIMEOUT_MS,
    });
    req.once('timeout', () => req.destroy(new Error('CONNECT timed out')));
    req.once('error', reject);
    req.once('connect', (res, socket, head) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`CONNECT answered ${res.statusCode}`));
        return;
      }
      if (head.length > 0) socket.unshift(head);
      const t = tls.connect({ socket, host: INTERCEPT_HOST, ca, ALPNProtocols: ['http/1.1'] });
      t.once('error', reject);
      t.once('secureConnect', () => {
        t.off('error', reject);
        resolve(t);
      });
    });
    req.end();
  });
}

type Side = { name: 'direct' | 'intercepted'; open(): Promise<WebSocket> };

function openWs(url: string, options: WebSocket.ClientOptions): Promise<WebSocket> {
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
    handshakeTimeout: CONNECT_TIMEOUT_MS,
    ...options,
  });
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      ws.terminate();
      reject(err);
    };
    ws.once('error', fail);
    ws.once('unexpected-response', (_req, res) => fail(new Error(`unexpected HTTP ${res.statusCode}`)));
    ws.once('open', () => {
      ws.off('error', fail);
      ws.on('error', () => {});
      resolve(ws);
    });
  });
}

function closeWs(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) {
      resolve();
      return;
    }
    const t = setTimeout(() => {
      ws.terminate();
      resolve();
    }, 2000);
    ws.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    ws.close(1000);
  });
}

/** Ping-pong on `conns` connections (one message in flight each): round trips/s over the measured window. */
async function pingpong(side: Side, sc: InterceptScenario, durationMs: number, warmupMs: number): Promise<number> {
  const socks: WebSocket[] = [];
  try {
    for (let i = 0; i < sc.conns; i++) socks.push(await side.open());
    const payload = randomBytes(sc.size);
    let measuring = false;
    let stopping = false;
    let n = 0;
    let bad = 0;
    for (const ws of socks) {
      ws.on('message', (data: Buffer) => {
        if (data.length !== sc.size) bad++;
        if (measuring) n++;
        if (!stopping) ws.send(payload);
      });
      ws.send(payload);
    }
    await sleep(warmupMs);
    measuring = true;
    const t0 = performance.now();
    await sleep(durationMs);
    measuring = false;
    stopping = true;
    const elapsedS = (performance.now() - t0) / 1000;
    if (bad > 0) throw new Error(`${bad} echoes of the wrong size`);
    if (socks.some((s) => s.readyState !== WebSocket.OPEN)) throw new Error('a connection closed during the run');
    await sleep(50); // the last echoes in flight
    return n / elapsedS;
  } finally {
    await Promise.all(socks.map(closeWs));
  }
}

function waitReady(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error('echo server did not start')), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`echo server exited (${code})`));
    });
  });
}

function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, 3000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function runIntercept(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const quick = env['BENCH_QUICK'] === '1' || process.argv.includes('--quick');
  const reps = Math.max(1, Math.round(Number(env['BENCH_REPS'] || (quick ? 1 : 3))));
  const durationMs = Number(env['BENCH_DURATION'] || (quick ? 1 : 3)) * 1000;
  const warmupMs = Number(env['BENCH_WARMUP'] || 0.5) * 1000;
  // Imported here so that `serve` (and the unit test of the pure helpers) need not load the TLS code.
  const { createCa } = await import('../../src/tls/ca.ts');
  const { issueLeafCertificate } = await import('../../src/tls/leaf.ts');

  const dir = mkdtempSync(path.join(os.tmpdir(), 'wsgate-bench-intercept-'));
  let echo: ChildProcess | undefined;
  let gate: ChildProcess | undefined;
  const hardLimit = setTimeout(
    () => {
      process.stderr.write('intercept.ts: hard time limit reached, exiting\n');
      echo?.kill('SIGKILL');
      gate?.kill('SIGKILL');
      process.exit(3);
    },
    reps * INTERCEPT_SCENARIOS.length * 2 * (durationMs + warmupMs + 5000) + 60_000,
  );
  hardLimit.unref();
  try {
    // The server's side: a test CA and a leaf for 127.0.0.1 (its key is the test CA's shared leaf key).
    const testCa = await createCa(path.join(dir, 'test-ca'), { commonName: 'wsgate bench test CA' });
    const certFile = path.join(dir, 'server.pem');
    const keyFile = path.join(dir, 'server-key.pem');
    writeFileSync(certFile, await issueLeafCertificate(testCa, INTERCEPT_HOST));
    writeFileSync(keyFile, testCa.leafKey.privateKeyPem, { mode: 0o600 });

    echo = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve', certFile, keyFile], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const echoPort = await waitReady(echo, 10_000);

    const proxyPort = await freePort();
    const caDir = path.join(dir, 'wsgate-ca');
    const config = path.join(dir, 'wsgate.yaml');
    writeFileSync(config, interceptConfig(proxyPort, testCa.paths.cert, caDir));
    const logFile = path.join(dir, 'wsgate.log');
    const log = openSync(logFile, 'a');
    gate = spawn(process.execPath, [path.join(REPO_DIR, 'src', 'cli', 'main.ts'), 'run', '-c', config], {
      stdio: ['ignore', log, log],
      cwd: REPO_DIR,
    });
    closeSync(log);
    try {
      await waitForPort(proxyPort, 20_000);
    } catch (e) {
      throw new Error(`wsgate did not start: ${(e as Error).message}\n${readFileSync(logFile, 'utf8').slice(-600)}`);
    }
    const wsgateCa = readFileSync(path.join(caDir, 'ca.pem'), 'utf8');
    const testCaPem = testCa.certPem;

    const url = `wss://${INTERCEPT_HOST}:${echoPort}/`;
    const sides: Side[] = [
      { name: 'direct', open: () => openWs(url, { ca: testCaPem }) },
      {
        name: 'intercepted',
        open: async () => {
          const socket = await tlsThroughProxy(proxyPort, echoPort, wsgateCa);
          return openWs(url, { createConnection: () => socket });
        },
      },
    ];
    const rows: InterceptRow[] = INTERCEPT_SCENARIOS.map((sc) => ({ id: sc.id, direct: [], intercepted: [] }));
    for (let rep = 1; rep <= reps; rep++) {
      for (const [i, sc] of INTERCEPT_SCENARIOS.entries()) {
        // Alternate which side goes first, so drift in the machine's load does not favour one.
        const order = rep % 2 === 1 ? sides : [...sides].reverse();
        for (const side of order) {
          const rate = await pingpong(side, sc, durationMs, warmupMs);
          rows[i]![side.name].push(rate);
          process.stderr.write(`rep ${rep} ${sc.id.padEnd(9)} ${side.name.padEnd(12)} ${rate.toFixed(0)} rt/s\n`);
        }
      }
    }
    if (gate.exitCode !== null) throw new Error(`wsgate exited during the run: ${readFileSync(logFile, 'utf8')}`);
    const header =
      `**TLS interception** (scripts/bench/intercept.ts): wss echo ping-pong, direct vs through wsgate ` +
      `\`forward.intercept\` (tap meta); ${reps} rep(s) × ${durationMs / 1000} s, median; ` +
      `${os.cpus().length} CPUs, node ${process.version}`;
    return interceptMarkdown(rows, header);
  } finally {
    await stopChild(gate);
    await stopChild(echo);
    clearTimeout(hardLimit);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === 'serve') {
    serve(process.argv[3]!, process.argv[4]!);
  } else {
    try {
      process.stdout.write(await runIntercept());
    } catch (e) {
      process.stderr.write(`intercept bench: ${(e as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}
