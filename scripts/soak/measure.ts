// What the soak measures of wsgate from outside: RSS of its process tree (/proc), LazyFree (smaps_rollup), the V8 heap
// through the preloaded probe (scripts/soak/probe.ts: a request file, SIGUSR2 to every process of the tree, one
// answer file each, waited for at most 3 s), the log read back, the load average and the listen-queue drop counters.
import { createReadStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sleep } from '../bench/net.ts';
import { processTree, treeRssKiB } from '../bench/proc.ts';
import { type LogCounts, LogTally } from './log-tally.ts';
import { type ListenDrops, parseListenDrops, parseSmapsRollup } from './procfs.ts';
import type { MemorySample } from './report.ts';

/** The machine's listen-queue drop counters now; null where /proc/net/netstat cannot be read. */
export function listenDrops(): ListenDrops | null {
  try {
    return parseListenDrops(readFileSync('/proc/net/netstat', 'utf8'));
  } catch {
    return null;
  }
}

export const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

let probeId = 0;
/** RSS of wsgate's tree, and the V8 heap summed over its processes when every probe answered within 3 s. */
export async function memory(pid: number, probeDir: string, gc = false): Promise<MemorySample> {
  const id = ++probeId;
  writeFileSync(path.join(probeDir, 'request.json'), JSON.stringify({ id, gc }));
  const pids = processTree(pid);
  for (const p of pids) {
    try {
      process.kill(p, 'SIGUSR2');
    } catch {
      // gone
    }
  }
  const files = pids.map((p) => path.join(probeDir, `${p}-${id}.json`));
  const deadline = Date.now() + 3000;
  while (!files.every((f) => existsSync(f)) && Date.now() < deadline) await sleep(20);
  await sleep(20); // the probe writes in one call; this only covers a reader racing the write
  let heapUsed = 0;
  let heapTotal = 0;
  let complete = true;
  for (const f of files) {
    try {
      const m = JSON.parse(readFileSync(f, 'utf8')) as { heapUsed: number; heapTotal: number };
      heapUsed += m.heapUsed / 1024;
      heapTotal += m.heapTotal / 1024;
    } catch {
      complete = false;
    }
  }
  let lazyFree: number | null = 0;
  for (const p of pids) {
    try {
      const kib = parseSmapsRollup(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8')).lazyFreeKiB;
      lazyFree = kib === null || lazyFree === null ? null : lazyFree + kib;
    } catch {
      lazyFree = null;
    }
  }
  return {
    rssKiB: treeRssKiB(pid),
    lazyFreeKiB: lazyFree,
    heapUsedKiB: complete ? heapUsed : null,
    heapTotalKiB: complete ? heapTotal : null,
  };
}

export async function tallyLog(file: string): Promise<LogCounts> {
  const tally = new LogTally();
  for await (const chunk of createReadStream(file, {
    encoding: 'utf8',
    highWaterMark: 1 << 20,
  }) as AsyncIterable<string>) {
    tally.push(chunk);
  }
  return tally.end();
}
