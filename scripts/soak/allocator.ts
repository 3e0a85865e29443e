// Which malloc the soak runs wsgate with. By default jemalloc, preloaded as the Docker image does, when the machine
// has it: glibc's malloc keeps the holes that a burst of 10,000 connections leaves in its heap, so RSS after the close
// stays well above idle although nothing is held (docs/benchmarks.md, "Soak"). SOAK_ALLOCATOR=glibc measures without.
import { existsSync } from 'node:fs';

export type Allocator = { name: 'jemalloc' | 'glibc'; env: Record<string, string>; note?: string };

/** Where Debian's libjemalloc2 puts the library (the Dockerfile links the same file). */
const JEMALLOC_PATHS = [
  '/usr/local/lib/libjemalloc.so.2',
  `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/libjemalloc.so.2`,
];

export function chooseAllocator(requested: string | undefined): Allocator {
  if (requested !== undefined && requested !== '' && requested !== 'jemalloc' && requested !== 'glibc') {
    throw new Error('SOAK_ALLOCATOR must be jemalloc or glibc');
  }
  if (requested === 'glibc') return { name: 'glibc', env: {} };
  const found = JEMALLOC_PATHS.find((p) => existsSync(p));
  if (found !== undefined) return { name: 'jemalloc', env: { LD_PRELOAD: found } };
  const why = `no libjemalloc.so.2 in ${JEMALLOC_PATHS.join(' or ')} (Debian: apt-get install libjemalloc2)`;
  if (requested === 'jemalloc') throw new Error(`SOAK_ALLOCATOR=jemalloc: ${why}`);
  return { name: 'glibc', env: {}, note: `wsgate ran on glibc's malloc: ${why}` };
}
