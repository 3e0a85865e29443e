// One soak client process: opens its share of the connections through wsgate in batches, sends one sequence-numbered
// text message per connection per second, checks every echo, and reports counts and latencies to scripts/soak.ts over
// IPC. Several of these run at once so one event loop is never the bottleneck. Only 127.0.0.1; every loop is bounded
// in count and time, and the process exits on its own (hard limit, or when the orchestrator goes away).
//
//   started by scripts/soak.ts: node scripts/soak/client.ts --url ws://127.0.0.1:P/ --conns M --first G --size 64
//     --batch 100 --seconds 60 --hard-limit S
//   orchestrator → client: {type:'open'} {type:'start', at, seconds} {type:'close'} {type:'exit'}
//   client → orchestrator: {type:'opened'} {type:'done'} {type:'closed'}  (see ClientMessage)
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { assertLoopback, sleep } from '../bench/net.ts';
import { Histogram, type HistogramData } from './histogram.ts';
import { dueAt, sendsDue } from './plan.ts';
import {
  addTracker,
  emptyTotals,
  formatMessage,
  parseMessage,
  type SequenceTotals,
  SequenceTracker,
} from './sequence.ts';

export type OrchestratorMessage =
  | { type: 'open' }
  | { type: 'start'; at: number }
  | { type: 'close' }
  | { type: 'exit' };

export type ClientMessage =
  | {
      type: 'opened';
      opened: number;
      failed: number;
      lastError: string | null;
      ms: number;
      /** From the start of each successful handshake to its 'open'. */
      handshake: HistogramData;
    }
  | {
      type: 'done';
      totals: SequenceTotals;
      /** Echoes whose text was not ours or named another connection. */
      corrupt: number;
      /** Sends skipped because the connection had already closed. */
      skipped: number;
      rtt: HistogramData;
      /** How late each send left against its schedule: this client's own event-loop delay. */
      lateness: HistogramData;
      /** The longest round trip of the echoes received in each second of the run (ms; index = second). */
      worstBySecond: number[];
      unexpectedCloses: number;
      closeCodes: Record<string, number>;
      errors: number;
      lastError: string | null;
    }
  | { type: 'closed'; unexpectedCloses: number; ms: number };

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    conns: { type: 'string' },
    first: { type: 'string', default: '0' },
    size: { type: 'string', default: '64' },
    batch: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '60' },
    'hard-limit': { type: 'string', default: '600' },
  },
});
if (!values.url || !values.conns || !process.send) {
  process.stderr.write('soak client: started by scripts/soak.ts (needs --url, --conns and an IPC channel)\n');
  process.exit(2);
}
const url = new URL(values.url);
assertLoopback(url.hostname, '--url host');
const conns = Number(values.conns);
const first = Number(values.first);
const size = Number(values.size);
const batch = Number(values.batch);
const seconds = Number(values.seconds);
const HANDSHAKE_TIMEOUT_MS = 10_000;
const RAMP_LIMIT_MS = 180_000;
const DRAIN_LIMIT_MS = 15_000;
const CLOSE_LIMIT_MS = 30_000;

setTimeout(() => {
  process.stderr.write('soak client: hard time limit reached, exiting\n');
  process.exit(3);
}, Number(values['hard-limit']) * 1000).unref();
process.on('disconnect', () => process.exit(4));

function send(msg: ClientMessage): void {
  process.send!(msg);
}

type Conn = { ws: WebSocket; id: number; tracker: SequenceTracker; open: boolean };
const list: Conn[] = [];
const rtt = new Histogram();
const lateness = new Histogram();
const closeCodes: Record<string, number> = {};
const worstBySecond: number[] = [];
let runStart = 0;
let closing = false;
let unexpectedCloses = 0;
let corrupt = 0;
let errors = 0;
let lastError: string | null = null;
const handshake = new Histogram();

function openOne(id: number): Promise<Conn> {
  const t0 = performance.now();
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      ws.terminate();
      reject(err);
    };
    ws.once('error', fail);
    ws.once('unexpected-response', (_req, res) => fail(new Error(`unexpected HTTP ${res.statusCode}`)));
    ws.once('open', () => {
      handshake.record(performance.now() - t0);
      ws.off('error', fail);
      const c: Conn = { ws, id, tracker: new SequenceTracker(), open: true };
      ws.on('error', (err) => {
        errors++;
        lastError = err.message;
      });
      ws.on('message', (data: Buffer, isBinary) => {
        const now = performance.now();
        const parsed = isBinary ? null : parseMessage(data.toString('latin1'));
        if (!parsed || parsed.conn !== id || data.length !== size) {
          corrupt++;
          return;
        }
        const out = c.tracker.echo(parsed.seq, now);
        if (out.kind !== 'unexpected') {
          rtt.record(out.rttMs);
          const second = Math.max(0, Math.floor((now - runStart) / 1000));
          if (second < 3600) worstBySecond[second] = Math.max(worstBySecond[second] ?? 0, out.rttMs);
        }
      });
      ws.on('close', (code) => {
        c.open = false;
        if (!closing) {
          unexpectedCloses++;
          closeCodes[code] = (closeCodes[code] ?? 0) + 1;
        }
      });
      resolve(c);
    });
  });
}

async function openAll(): Promise<void> {
  const t0 = performance.now();
  let failed = 0;
  let openError: string | null = null;
  for (let i = 0; i < conns && performance.now() - t0 < RAMP_LIMIT_MS; i += batch) {
    const ids = Array.from({ length: Math.min(batch, conns - i) }, (_, j) => first + i + j);
    for (const r of await Promise.allSettled(ids.map(openOne))) {
      if (r.status === 'fulfilled') list.push(r.value);
      else {
        failed++;
        openError = (r.reason as Error).message;
      }
    }
  }
  const opened = list.length;
  send({
    type: 'opened',
    opened,
    failed: conns - opened,
    lastError: openError ?? (failed ? 'failed' : null),
    ms: performance.now() - t0,
    handshake: handshake.toJSON(),
  });
}

async function run(at: number): Promise<void> {
  await sleep(Math.max(0, at - Date.now()));
  const n = list.length;
  const start = performance.now();
  runStart = start;
  const total = n * seconds;
  let k = 0;
  let skipped = 0;
  // Bounded: k only grows, and the loop ends at the total or a second past the run's end, whichever comes first.
  while (k < total && performance.now() - start < (seconds + 1) * 1000 + 60_000) {
    const now = performance.now();
    const due = sendsDue(now - start, n, seconds);
    for (; k < due; k++) {
      const c = list[k % n]!;
      lateness.record(Math.max(0, now - start - dueAt(k, n)));
      if (!c.open) {
        skipped++;
        continue;
      }
      const seq = c.tracker.send(performance.now());
      c.ws.send(formatMessage(c.id, seq, size));
    }
    await sleep(Math.max(1, Math.min(10, start + dueAt(k, n) - performance.now())));
  }
  const drainStart = performance.now();
  const outstanding = () => list.reduce((sum, c) => sum + (c.open ? c.tracker.outstanding : 0), 0);
  while (outstanding() > 0 && performance.now() - drainStart < DRAIN_LIMIT_MS) await sleep(50);
  const totals = emptyTotals();
  for (const c of list) addTracker(totals, c.tracker);
  send({
    type: 'done',
    totals,
    corrupt,
    skipped,
    rtt: rtt.toJSON(),
    lateness: lateness.toJSON(),
    worstBySecond: Array.from(worstBySecond, (x) => x ?? 0),
    unexpectedCloses,
    closeCodes,
    errors,
    lastError,
  });
}

function closeOne(c: Conn): Promise<void> {
  if (!c.open) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      c.ws.terminate();
      resolve();
    }, 5000);
    c.ws.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    c.ws.close(1000, 'soak done');
  });
}

async function closeAll(): Promise<void> {
  const t0 = performance.now();
  const before = unexpectedCloses;
  closing = true;
  for (let i = 0; i < list.length && performance.now() - t0 < CLOSE_LIMIT_MS; i += 500) {
    await Promise.all(list.slice(i, i + 500).map(closeOne));
  }
  for (const c of list) if (c.open) c.ws.terminate();
  send({ type: 'closed', unexpectedCloses: unexpectedCloses - before, ms: performance.now() - t0 });
}

process.on('message', (m: OrchestratorMessage) => {
  const fail = (e: unknown) => {
    process.stderr.write(`soak client: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  };
  if (m.type === 'open') openAll().catch(fail);
  else if (m.type === 'start') run(m.at).catch(fail);
  else if (m.type === 'close') closeAll().catch(fail);
  else if (m.type === 'exit') process.exit(0);
});
