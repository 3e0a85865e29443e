// WebSocket load generator (127.0.0.1 only). It runs in its own process, so its CPU never counts as the
// proxy's. Every loop is bounded in count and in time, and the process always exits on its own.
//
//   node scripts/bench/load.ts pingpong  --url ws://127.0.0.1:P/ --conns 50 --size 64 --duration 3 --warmup 0.5
//   node scripts/bench/load.ts handshake --url ws://127.0.0.1:P/ --count 200
//   node scripts/bench/load.ts idle      --url ws://127.0.0.1:P/ --count 2000 --pid <proxy pid>
//   common: --pid <proxy pid> (CPU and RSS from /proc, whole process tree), --hard-limit <s> (default 120)
//
// Prints one JSON line (see model.ts for the shapes): pingpong reports round trips/s, p50/p99 round-trip
// latency and proxy CPU µs per round trip; handshake reports p50/p99 from connect start to 'open' over
// sequential connects (after 10 unrecorded ones); idle reports the proxy's RSS growth per open connection.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import type { HandshakeResult, IdleResult, LoadResult, PingpongResult } from './model.ts';
import { assertLoopback, sleep } from './net.ts';
import { treeCpuMicros, treeRssKiB } from './proc.ts';
import { percentile } from './stats.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string' },
    pid: { type: 'string' },
    conns: { type: 'string', default: '1' },
    size: { type: 'string', default: '64' },
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '0.5' },
    count: { type: 'string', default: '200' },
    'warmup-count': { type: 'string', default: '10' },
    'max-time': { type: 'string', default: '60' },
    'max-msgs': { type: 'string', default: '5000000' },
    settle: { type: 'string', default: '1.5' },
    'hard-limit': { type: 'string', default: '120' },
  },
});

const mode = positionals[0];
if (!mode || !['pingpong', 'handshake', 'idle'].includes(mode) || !values.url) {
  process.stderr.write('usage: node scripts/bench/load.ts pingpong|handshake|idle --url ws://127.0.0.1:PORT/ ...\n');
  process.exit(2);
}
const url = new URL(values.url);
assertLoopback(url.hostname.replace(/^\[|\]$/g, ''), '--url host');
const pid = values.pid ? Number(values.pid) : null;
const CONNECT_TIMEOUT_MS = 10_000;

const hardLimitS = Number(values['hard-limit']);
setTimeout(() => {
  process.stderr.write(`load.ts: hard time limit ${hardLimitS}s reached, exiting\n`);
  process.exit(3);
}, hardLimitS * 1000).unref();

function openWs(): Promise<WebSocket> {
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
    handshakeTimeout: CONNECT_TIMEOUT_MS,
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

/** Clean close (close frame both ways), or terminate after timeoutMs. */
function closeWs(ws: WebSocket, timeoutMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) {
      resolve();
      return;
    }
    const t = setTimeout(() => {
      ws.terminate();
      resolve();
    }, timeoutMs);
    ws.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    try {
      ws.close(1000);
    } catch {
      ws.terminate();
    }
  });
}

/** Opens n connections with at most `concurrency` handshakes in flight. */
async function openMany(n: number, concurrency: number) {
  const socks: WebSocket[] = [];
  let started = 0;
  let failures = 0;
  let lastError: string | null = null;
  const deadline = performance.now() + 60_000;
  const worker = async () => {
    while (started < n && performance.now() < deadline) {
      started++;
      try {
        socks.push(await openWs());
      } catch (e) {
        failures++;
        lastError = (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker));
  return { socks, failures, lastError };
}

async function closeAll(socks: WebSocket[]): Promise<void> {
  for (let i = 0; i < socks.length; i += 200) await Promise.all(socks.slice(i, i + 200).map((s) => closeWs(s)));
}

async function pingpong(): Promise<PingpongResult> {
  const conns = Number(values.conns);
  const size = Number(values.size);
  const durationMs = Number(values.duration) * 1000;
  const warmupMs = Number(values.warmup) * 1000;
  const maxMsgs = Number(values['max-msgs']);
  const payload = randomBytes(size);

  const { socks, lastError } = await openMany(conns, 50);
  if (socks.length === 0) throw new Error(`no connection could be opened (${lastError})`);

  const lat = new Float64Array(maxMsgs);
  let n = 0;
  let badEchoes = 0;
  let diedEarly = 0;
  let measuring = false;
  let stopping = false;
  let inFlight = 0;
  let resolveFull = () => {};
  const full = new Promise<void>((r) => {
    resolveFull = r;
  });
  let resolveDrained = () => {};
  const drained = new Promise<void>((r) => {
    resolveDrained = r;
  });

  for (const ws of socks) {
    let t0 = 0;
    let pending = false;
    const send = () => {
      t0 = performance.now();
      pending = true;
      inFlight++;
      ws.send(payload);
    };
    ws.on('message', (data: Buffer) => {
      const rtt = performance.now() - t0;
      pending = false;
      inFlight--;
      if (data.length !== size) badEchoes++;
      if (measuring) {
        lat[n++] = rtt;
        if (n >= maxMsgs) {
          measuring = false;
          stopping = true;
          resolveFull();
        }
      }
      if (stopping) {
        if (inFlight === 0) resolveDrained();
        return;
      }
      send();
    });
    ws.on('close', () => {
      if (!stopping) diedEarly++;
      if (pending) {
        pending = false;
        inFlight--;
        if (stopping && inFlight === 0) resolveDrained();
      }
    });
    send();
  }

  await sleep(warmupMs);
  const cpu0 = pid ? treeCpuMicros(pid) : 0;
  const tStart = performance.now();
  measuring = true;
  await Promise.race([sleep(durationMs), full]);
  measuring = false;
  stopping = true;
  const elapsedS = (performance.now() - tStart) / 1000;
  const cpu1 = pid ? treeCpuMicros(pid) : 0;
  if (inFlight === 0) resolveDrained();
  await Promise.race([drained, sleep(5000)]);
  await closeAll(socks);

  const sorted = lat.subarray(0, n).sort();
  const p50 = percentile(sorted, 50);
  const p99 = percentile(sorted, 99);
  return {
    mode: 'pingpong',
    conns,
    size,
    opened: socks.length,
    durationS: +elapsedS.toFixed(3),
    msgs: n,
    msgsPerSec: +(n / elapsedS).toFixed(1),
    mbPerSec: +((n * size) / elapsedS / 1e6).toFixed(3),
    p50Ms: p50 === null ? null : +p50.toFixed(4),
    p99Ms: p99 === null ? null : +p99.toFixed(4),
    proxyCpuUsPerMsg: pid && n > 0 ? +((cpu1 - cpu0) / n).toFixed(3) : null,
    proxyCpuPct: pid ? +(((cpu1 - cpu0) / 1e6 / elapsedS) * 100).toFixed(1) : null,
    badEchoes,
    diedEarly,
  };
}

async function handshake(): Promise<HandshakeResult> {
  const count = Number(values.count);
  const warm = Number(values['warmup-count']);
  const deadline = performance.now() + Number(values['max-time']) * 1000;
  const times: number[] = [];
  let failures = 0;
  let lastError: string | null = null;
  for (let i = 0; i < count + warm && performance.now() < deadline; i++) {
    const t0 = performance.now();
    try {
      const ws = await openWs();
      const dt = performance.now() - t0;
      if (i >= warm) times.push(dt);
      await closeWs(ws);
    } catch (e) {
      failures++;
      lastError = (e as Error).message;
    }
  }
  times.sort((a, b) => a - b);
  const p50 = percentile(times, 50);
  const p99 = percentile(times, 99);
  return {
    mode: 'handshake',
    count: times.length,
    failures,
    lastError,
    p50Ms: p50 === null ? null : +p50.toFixed(4),
    p99Ms: p99 === null ? null : +p99.toFixed(4),
    meanMs: times.length ? +(times.reduce((a, b) => a + b, 0) / times.length).toFixed(4) : null,
  };
}

async function idle(): Promise<IdleResult> {
  const count = Number(values.count);
  const settleMs = Number(values.settle) * 1000;
  // Warm-up: lazily initialised paths in the proxy come up before the baseline read.
  const warm = await openMany(20, 20);
  await Promise.all(
    warm.socks.map(
      (ws) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 2000);
          ws.once('message', () => {
            clearTimeout(t);
            resolve();
          });
          ws.send('warmup');
        }),
    ),
  );
  await closeAll(warm.socks);
  await sleep(500);
  const rss0 = pid ? treeRssKiB(pid) : null;
  const t0 = performance.now();
  const { socks, failures, lastError } = await openMany(count, 50);
  const openS = (performance.now() - t0) / 1000;
  await sleep(settleMs);
  const rss1 = pid ? treeRssKiB(pid) : null;
  await closeAll(socks);
  return {
    mode: 'idle',
    requested: count,
    opened: socks.length,
    failures,
    lastError,
    openS: +openS.toFixed(3),
    rssBeforeKiB: rss0,
    rssAfterKiB: rss1,
    kibPerConn: rss0 !== null && rss1 !== null && socks.length > 0 ? +((rss1 - rss0) / socks.length).toFixed(2) : null,
  };
}

let result: LoadResult;
try {
  result = mode === 'pingpong' ? await pingpong() : mode === 'handshake' ? await handshake() : await idle();
} catch (e) {
  result = { error: (e as Error).message };
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit('error' in result ? 1 : 0);
