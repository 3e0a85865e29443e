// Linux /proc readers for the benchmark: CPU time (utime + stime) and VmRSS of a process and all its
// descendants, so a proxy that forks workers (nginx, wsgate --workers) is measured as a whole.
// The parsers are pure and unit-tested against fixture strings; the readers are thin wrappers.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export type StatFields = { pid: number; comm: string; state: string; ppid: number; utime: number; stime: number };

/**
 * Parses /proc/PID/stat. The command name (field 2) is in parentheses and may itself contain spaces and
 * parentheses, so the fields after it are split from the LAST ')'. utime and stime are fields 14 and 15,
 * in clock ticks.
 */
export function parseStat(text: string): StatFields {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error('not a /proc/PID/stat line');
  const pid = Number(text.slice(0, open).trim());
  const rest = text
    .slice(close + 2)
    .trim()
    .split(' ');
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  const field = (n: number): number => {
    const v = Number(rest[n - 3]);
    if (!Number.isFinite(v)) throw new Error(`/proc/PID/stat field ${n} is not a number`);
    return v;
  };
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '?',
    ppid: field(4),
    utime: field(14),
    stime: field(15),
  };
}

/** VmRSS in KiB from /proc/PID/status; null when absent (a zombie or kernel thread has none). */
export function parseVmRssKiB(status: string): number | null {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) : null;
}

/** Soft and hard "Max open files" from /proc/PID/limits; null for "unlimited" or when absent. */
export function parseMaxOpenFiles(limits: string): { soft: number | null; hard: number | null } {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  const num = (s: string | undefined) => (s === undefined || s === 'unlimited' ? null : Number(s));
  return m ? { soft: num(m[1]), hard: num(m[2]) } : { soft: null, hard: null };
}

/** Every pid in the tree rooted at root (root included), given a pid → ppid map. */
export function descendants(root: number, parentOf: ReadonlyMap<number, number>): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parentOf) {
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  const out: number[] = [];
  const stack = [root];
  const seen = new Set<number>();
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    out.push(p);
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return out;
}

let clockTicks: number | undefined;
/** USER_HZ (clock ticks per second), 100 on every usual Linux build. */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

function readStat(pid: number): StatFields | null {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null; // gone
  }
}

/** Live pids in the process tree rooted at pid, from one scan of /proc. */
export function processTree(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st) parentOf.set(st.pid, st.ppid);
  }
  return descendants(pid, parentOf);
}

/** utime + stime of the whole tree rooted at pid, in microseconds. */
export function treeCpuMicros(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    const st = readStat(p);
    if (st) ticks += st.utime + st.stime;
  }
  return (ticks * 1e6) / clockTicksPerSecond();
}

/** VmRSS of the whole tree rooted at pid, in KiB. */
export function treeRssKiB(pid: number): number {
  let kib = 0;
  for (const p of processTree(pid)) {
    try {
      kib += parseVmRssKiB(readFileSync(`/proc/${p}/status`, 'utf8')) ?? 0;
    } catch {
      // gone
    }
  }
  return kib;
}

/** This process's open-file limits (inherited by the children the bench starts). */
export function ownOpenFileLimit(): { soft: number | null; hard: number | null } {
  try {
    return parseMaxOpenFiles(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return { soft: null, hard: null };
  }
}
