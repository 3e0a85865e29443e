// A worker's stdout, copied to the primary's in whole lines. When stdout is not a terminal each worker writes to a
// pipe to the primary rather than to the shared stdout, because a pipe keeps a write whole only up to PIPE_BUF
// (4 KiB): longer log lines of two workers would interleave. The primary writes only whole lines, so they never do.

import { writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { ignoreError } from '../net/ignore-error.ts';

/** A worker's output without a newline is held up to this much, then written as it is. */
export const MAX_PARTIAL_LINE = 1024 * 1024;

/** Writes all of `data` to a file descriptor, synchronously like wsgate's own log lines; a closed stdout drops it. */
export function writeAll(fd: number, data: Buffer): void {
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += writeSync(fd, data, offset);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

/** Copies a worker's stdout to ours in whole lines, so lines of different workers never interleave. */
export function forwardLines(from: Readable, write: (data: Buffer) => void): void {
  let rest: Buffer | undefined;
  from.on('data', (chunk: Buffer) => {
    const data = rest === undefined ? chunk : Buffer.concat([rest, chunk]);
    const end = data.lastIndexOf(0x0a);
    if (end === -1 && data.length < MAX_PARTIAL_LINE) {
      rest = data;
      return;
    }
    const cut = end === -1 ? data.length : end + 1;
    write(data.subarray(0, cut));
    rest = cut < data.length ? data.subarray(cut) : undefined;
  });
  from.on('end', () => {
    if (rest !== undefined) write(Buffer.concat([rest, Buffer.from('\n')]));
    rest = undefined;
  });
  from.on('error', ignoreError);
}
