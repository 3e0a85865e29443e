// Micro-benchmark of what the tap costs per frame on the main thread, in-process and without sockets: one
// ConnectionObserver fed 64 B frames one per chunk (what a 64 B ping-pong delivers), both directions, through the
// real traffic log (createTrafficLog over createLogger) writing to a temp file or filtered by the log level.
// CPU time (process.cpuUsage, main thread plus any worker) and minor GCs per frame; the A/B of two checkouts runs
// interleaved in one process so machine noise hits both alike.
//
//   node scripts/bench/tap-micro.ts [DIR_A [DIR_B]]   (default: this repo; e.g. a snapshot of HEAD vs the work tree)
//   TAP_MICRO_FRAMES=200000 TAP_MICRO_ROUNDS=3 TAP_MICRO_SIZE=64 node scripts/bench/tap-micro.ts
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dirs = process.argv.slice(2).length > 0 ? process.argv.slice(2) : [REPO];
const FRAMES = Number(process.env['TAP_MICRO_FRAMES'] ?? 200_000);
const ROUNDS = Number(process.env['TAP_MICRO_ROUNDS'] ?? 3);
const SIZE = Number(process.env['TAP_MICRO_SIZE'] ?? 64);
const CASES = (process.env['TAP_MICRO_CASES'] ?? 'off frames-quiet frames-file payload-file').split(/[\s,]+/);

type Mods = {
  ConnectionObserver: new (
    identity: { conn: string; route: string },
    settings: Record<string, unknown>,
    deflate: undefined,
    sink: (e: unknown) => void,
  ) => { push(direction: string, chunk: Buffer): void };
  createLogger: (o: Record<string, unknown>) => unknown;
  createTrafficLog: (o: { file: string | undefined; main: unknown }) => {
    emit(e: unknown): void;
    active(): boolean;
    close(): Promise<void>;
  };
  encodeFrame: (o: { opcode: number; payload: Uint8Array; maskKey?: Uint8Array }) => Buffer;
};

async function load(dir: string): Promise<Mods> {
  const u = (p: string) => pathToFileURL(path.join(dir, p)).href;
  const [obs, logger, traffic, enc] = await Promise.all([
    import(u('src/websocket/observer.ts')),
    import(u('src/log/logger.ts')),
    import(u('src/traffic/traffic-log.ts')),
    import(u('src/websocket/encoder.ts')),
  ]);
  return {
    ConnectionObserver: obs.ConnectionObserver,
    createLogger: logger.createLogger,
    createTrafficLog: traffic.createTrafficLog,
    encodeFrame: enc.encodeFrame,
  };
}

let gcs = 0;
new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
}).observe({ entryTypes: ['gc'] });

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tap-micro-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runCase(m: Mods, name: string): Promise<{ nsPerFrame: number; gcPer1k: number; bytes: number }> {
  const level = name === 'off' ? 'off' : name.startsWith('payload') ? 'payload' : 'frames';
  const toFile = name.endsWith('-file');
  const file = toFile ? path.join(tmp, `${name}-${Math.random().toString(36).slice(2)}.log`) : undefined;
  // No shedding: every line is written, so the cost per line is what is measured.
  const main = m.createLogger({
    level: toFile ? 'info' : 'warn',
    format: 'json',
    file: path.join(tmp, 'main.log'),
    maxQueueBytes: 1 << 30,
  });
  const traffic = m.createTrafficLog({ file, main });
  const observer = new m.ConnectionObserver(
    { conn: 'w1', route: 'default' },
    { level, previewBytes: 64, maxDecodedBytes: 1 << 20, active: () => traffic.active(), onViolation: 'log' },
    undefined,
    (e) => traffic.emit(e),
  );
  const payload = Buffer.alloc(SIZE, 0x61);
  const up = m.encodeFrame({ opcode: 2, payload, maskKey: Uint8Array.from([1, 2, 3, 4]) });
  const down = m.encodeFrame({ opcode: 2, payload });
  // Fresh buffers per chunk, as socket reads arrive; a pool so building them is not measured.
  const POOL = 512;
  const ups = Array.from({ length: POOL }, () => Buffer.from(up));
  const downs = Array.from({ length: POOL }, () => Buffer.from(down));
  // Frames per direction between event-loop turns: 64B-c50 delivers about one frame per connection per turn.
  const batch = Number(process.env['TAP_MICRO_PER_TURN'] ?? 50);
  const feed = async (n: number) => {
    for (let i = 0; i < n; i += batch) {
      for (let j = 0; j < batch; j++) {
        observer.push('toUpstream', ups[j % POOL]!);
        observer.push('toClient', downs[j % POOL]!);
      }
      // Let the event loop run between batches, as between socket reads: asynchronous writes happen here.
      await new Promise<void>((r) => setImmediate(r));
    }
  };
  await feed(20_000); // warm-up (JIT)
  const g0 = gcs;
  const c0 = process.cpuUsage();
  const t0 = process.threadCpuUsage();
  const w0 = performance.now();
  await feed(FRAMES);
  await traffic.close();
  const c = process.cpuUsage(c0);
  const t = process.threadCpuUsage(t0);
  const wall = performance.now() - w0;
  process.stderr.write(
    `  main thread ${(((t.user + t.system) * 1000) / (2 * FRAMES)).toFixed(0)} ns/frame, wall ${((wall * 1e6) / (2 * FRAMES)).toFixed(0)} ns/frame\n`,
  );
  const g = gcs - g0;
  await sleep(20);
  const bytes = file ? statSync(file).size : 0;
  return { nsPerFrame: ((c.user + c.system) * 1000) / (2 * FRAMES), gcPer1k: (g * 1000) / (2 * FRAMES), bytes };
}

const mods = await Promise.all(dirs.map(load));
const results = new Map<string, number[]>();
const gcr = new Map<string, number[]>();
for (let r = 0; r < ROUNDS; r++) {
  for (const name of CASES) {
    for (let d = 0; d < dirs.length; d++) {
      const res = await runCase(mods[d]!, name);
      const key = `${name} @ ${d === 0 ? 'A' : 'B'}`;
      results.set(key, [...(results.get(key) ?? []), res.nsPerFrame]);
      gcr.set(key, [...(gcr.get(key) ?? []), res.gcPer1k]);
      process.stderr.write(
        `${key}: ${res.nsPerFrame.toFixed(0)} ns/frame, ${res.gcPer1k.toFixed(2)} GC/1k, ${res.bytes} B\n`,
      );
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `\n${SIZE} B frames, ${FRAMES} per direction, ${ROUNDS} rounds (median CPU ns per frame, minor GCs per 1k frames)`,
);
for (const [i, d] of dirs.entries()) console.log(`${i === 0 ? 'A' : 'B'}: ${d}`);
console.log('| case | A ns/frame | A GC/1k |' + (dirs.length > 1 ? ' B ns/frame | B GC/1k |' : ''));
console.log('|---|---:|---:|' + (dirs.length > 1 ? '---:|---:|' : ''));
for (const name of CASES) {
  const cols = dirs.map((_, i) => {
    const key = `${name} @ ${i === 0 ? 'A' : 'B'}`;
    return `${median(results.get(key)!).toFixed(0)} | ${median(gcr.get(key)!).toFixed(2)}`;
  });
  console.log(`| ${name} | ${cols.join(' | ')} |`);
}
if (process.env['TAP_MICRO_KEEP'] === undefined) rmSync(tmp, { recursive: true, force: true });
else console.log(`kept ${tmp}`);
