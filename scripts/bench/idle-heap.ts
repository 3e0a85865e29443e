// What one idle tapped WebSocket connection holds in wsgate: wsgate runs in this process (tap level from
// IDLE_TAP, default frames), the ws echo upstream and the clients in child processes; after N connections are
// open and a full GC, the V8 heap, external memory and RSS growth per connection, and (IDLE_SNAPSHOT=1) a heap
// snapshot summarised by constructor: the objects and bytes each connection adds.
//
//   node --expose-gc scripts/bench/idle-heap.ts [N, default 500]
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { startWsgate } from '../../src/app/app.ts';
import { configFromObject } from '../../src/config/load.ts';
import { createLogger } from '../../src/log/logger.ts';

const N = Number(process.argv[2] ?? 500);
const TAP = process.env['IDLE_TAP'] ?? 'frames';
const BENCH = path.dirname(fileURLToPath(import.meta.url));
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

function child(args: string[]): { proc: ChildProcess; line: Promise<string> } {
  const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    proc.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
  });
  return { proc, line };
}

const CLIENT = `
import WebSocket from 'ws';
const [url, n] = [process.argv[1], Number(process.argv[2])];
const open = [];
for (let i = 0; i < n; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => { open.push(ws); resolve(); });
    ws.once('error', reject);
  })));
}
process.stdout.write('OPEN ' + open.length + '\\n');
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

const echo = child([path.join(BENCH, 'echo-server.ts'), '--port', '0']);
const echoPort = Number((await echo.line).split(' ')[1]);
const log = createLogger({
  level: 'warn',
  format: 'json',
  file: path.join(os.tmpdir(), `idle-heap-${process.pid}.log`),
});
const running = await startWsgate(
  configFromObject(
    {
      listeners: [{ name: 'idle', bind: '127.0.0.1:0', routes: [{ upstream: `ws://127.0.0.1:${echoPort}` }] }],
      tap: { level: TAP },
      log: { level: 'warn' },
    },
    '<idle-heap>',
  ),
  log,
);
const port = [...running.listeners.values()][0]!.port;
const url = `ws://127.0.0.1:${port}/`;

async function clients(n: number): Promise<ChildProcess> {
  const c = child(['--input-type=module', '-e', CLIENT, url, String(n)]);
  c.proc.stdout!.setEncoding('utf8');
  await c.line;
  return c.proc;
}

function measure(): { heap: number; external: number; rss: number } {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { heap: v8.getHeapStatistics().used_heap_size, external: m.external, rss: m.rss };
}

/** Objects and self bytes in a heap snapshot by constructor (closures by name, other node types by type). */
let snapshots = 0;
function summarize(): Map<string, { count: number; bytes: number }> {
  snapshots++;
  const file = v8.writeHeapSnapshot(path.join(os.tmpdir(), `idle-heap-${process.pid}-${snapshots}.heapsnapshot`));
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  if (process.env['IDLE_KEEP_SNAPSHOT'] === undefined) rmSync(file);
  else console.log(`snapshot kept: ${file}`);
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const byName = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]!]!;
    const name = type === 'object' || type === 'closure' ? snap.strings[snap.nodes[i + iName]!]! : `(${type})`;
    const key = type === 'closure' ? `closure ${name}` : name;
    const e = byName.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += snap.nodes[i + iSize]!;
    byName.set(key, e);
  }
  return byName;
}

// Warm up: a few connections open and close, so one-time costs (TLS roots, code) are not counted.
const warm = await clients(20);
warm.stdin!.end();
await once(warm, 'exit');
await new Promise((r) => setTimeout(r, 500));
const before = measure();
const snapshotBefore = process.env['IDLE_SNAPSHOT'] === '1' ? summarize() : undefined;
const held = await clients(N);
await new Promise((r) => setTimeout(r, 1000));
const after = measure();
const per = (k: 'heap' | 'external' | 'rss') => ((after[k] - before[k]) / N / 1024).toFixed(2);
console.log(
  `tap ${TAP}, ${N} idle connections: V8 heap ${per('heap')} KiB/conn, external ${per('external')} KiB/conn, RSS ${per('rss')} KiB/conn`,
);

if (snapshotBefore !== undefined) {
  const after = summarize();
  const rows = [...after.entries()]
    .map(([name, e]) => {
      const b = snapshotBefore.get(name) ?? { count: 0, bytes: 0 };
      return [name, { count: e.count - b.count, bytes: e.bytes - b.bytes }] as const;
    })
    .filter(([, e]) => e.count >= N / 2)
    .sort((a, b) => b[1].bytes - a[1].bytes);
  console.log('\nheap snapshot after minus before, per connection (objects, bytes):');
  for (const [name, e] of rows.slice(0, 70)) {
    console.log(
      `${(e.count / N).toFixed(1).padStart(6)} ${(e.bytes / N).toFixed(0).padStart(7)} B  ${name.slice(0, 90)}`,
    );
  }
}

held.stdin!.end();
await once(held, 'exit');
await running.shutdown();
echo.proc.kill('SIGTERM');
