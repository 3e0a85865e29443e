// The /proc files the soak reads beyond scripts/bench/proc.ts, parsed. smaps_rollup: RSS alone cannot tell memory a
// process still uses from memory it has given back lazily (pages released with madvise(MADV_FREE) stay in RSS as
// "LazyFree" until the kernel needs them). /proc/net/netstat: whether the ramp-up overflowed a listen queue (SYNs
// dropped, whose retries would look like slow handshakes). Pure, unit-tested.

/** Rss, LazyFree and Anonymous in KiB; a field that is missing reads as null. */
export type Rollup = { rssKiB: number | null; lazyFreeKiB: number | null; anonymousKiB: number | null };

export function parseSmapsRollup(text: string): Rollup {
  const field = (name: string): number | null => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  return { rssKiB: field('Rss'), lazyFreeKiB: field('LazyFree'), anonymousKiB: field('Anonymous') };
}

/** The kernel's counters of connections dropped at a full listen queue (machine-wide, since boot). */
export type ListenDrops = { listenOverflows: number; listenDrops: number };

/** ListenOverflows and ListenDrops from the TcpExt header/value line pair of /proc/net/netstat; null if absent. */
export function parseListenDrops(netstat: string): ListenDrops | null {
  const lines = netstat.split('\n').filter((l) => l.startsWith('TcpExt:'));
  if (lines.length < 2) return null;
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1).map(Number);
  const get = (name: string) => {
    const i = names.indexOf(name);
    return i < 0 || !Number.isFinite(values[i]) ? null : values[i]!;
  };
  const listenOverflows = get('ListenOverflows');
  const listenDrops = get('ListenDrops');
  return listenOverflows === null || listenDrops === null ? null : { listenOverflows, listenDrops };
}
