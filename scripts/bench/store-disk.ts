// The session file's two candidates, measured once: SQLite (node:sqlite in a worker thread, batched inserts,
// indexed) against append-only JSON lines (one write stream, no index). For each: the main thread's cost per
// message while writing N messages across C connections, the time until everything is on disk, the file size,
// and the time to answer one API page (100 messages of one connection, after a cursor in the middle, filtered by
// direction). Run: node scripts/bench/store-disk.ts [N] [previewBytes]. Numbers go to docs/admin-api.md.
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { StoredMessage } from '../../src/traffic/store.ts';
import { SessionFile } from '../../src/traffic/store-disk.ts';

const N = Number(process.argv[2] ?? 100_000);
const PREVIEW = Number(process.argv[3] ?? 1024);
const CONNS = 50;
const dir = mkdtempSync(join(tmpdir(), 'wsgate-store-bench-'));
const text = 'x'.repeat(PREVIEW);
const time = new Date().toISOString();

function message(i: number): StoredMessage {
  return {
    seq: i + 1,
    conn: `w${i % CONNS}`,
    time,
    dir: i % 2 === 0 ? 'toUpstream' : 'toClient',
    kind: 'text',
    size: PREVIEW,
    compressed: false,
    fragments: 1,
    preview: text,
  };
}

const target = { conn: 'w7', after: Math.floor(N / 2), limit: 100, direction: 'toClient' as const };

async function sqlite(): Promise<Record<string, number>> {
  const file = join(dir, 'session.sqlite');
  const disk = new SessionFile({ file, maxBytes: 64 * 1024 ** 3, onError: (m) => console.error(m) });
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < N; i++) disk.append(message(i));
  const mainUs = process.cpuUsage(cpu);
  // A query waits behind every insert posted before it: its answer means all is written.
  await disk.query('w0', { after: N, limit: 1 });
  const written = performance.now() - started;
  const q0 = performance.now();
  const page = await disk.query(target.conn, target);
  const queryMs = performance.now() - q0;
  if (page.messages.length !== 100) throw new Error(`sqlite page has ${page.messages.length}`);
  await disk.close();
  return {
    mainThreadUsPerMsg: (mainUs.user + mainUs.system) / N,
    writtenMs: written,
    fileMiB: (statSync(file).size + (safeSize(`${file}-wal`) ?? 0)) / 2 ** 20,
    pageQueryMs: queryMs,
  };
}

function safeSize(file: string): number | undefined {
  try {
    return statSync(file).size;
  } catch {
    return undefined;
  }
}

async function jsonLines(): Promise<Record<string, number>> {
  const file = join(dir, 'session.jsonl');
  const out = createWriteStream(file);
  const started = performance.now();
  const cpu = process.cpuUsage();
  // Batched like the SQLite side: one write per 1,000 lines.
  let batch = '';
  for (let i = 0; i < N; i++) {
    batch += `${JSON.stringify(message(i))}\n`;
    if (i % 1000 === 999) {
      out.write(batch);
      batch = '';
    }
  }
  out.write(batch);
  const mainUs = process.cpuUsage(cpu);
  await new Promise<void>((resolve) => out.end(resolve));
  const written = performance.now() - started;
  // No index: a page is a scan from the start of the file.
  const q0 = performance.now();
  const found: StoredMessage[] = [];
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    const m = JSON.parse(line) as StoredMessage;
    if (m.conn === target.conn && m.seq > target.after && m.dir === target.direction) {
      found.push(m);
      if (found.length === target.limit) break;
    }
  }
  lines.close();
  const queryMs = performance.now() - q0;
  if (found.length !== 100) throw new Error(`jsonl page has ${found.length}`);
  return {
    mainThreadUsPerMsg: (mainUs.user + mainUs.system) / N,
    writtenMs: written,
    fileMiB: statSync(file).size / 2 ** 20,
    pageQueryMs: queryMs,
  };
}

try {
  const results = { sqlite: await sqlite(), jsonLines: await jsonLines() };
  console.log(`N=${N} messages, ${PREVIEW} B previews, ${CONNS} connections`);
  console.table(
    Object.fromEntries(
      Object.entries(results).map(([k, v]) => [
        k,
        Object.fromEntries(Object.entries(v).map(([m, n]) => [m, Math.round(n * 100) / 100])),
      ]),
    ),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
