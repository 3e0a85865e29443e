// The Node flags wsgate's bin starts with: the ones in the CLI's shebang (`#!/usr/bin/env -S node <flags>`), which the
// Dockerfile and `npm start` repeat (test/unit/packaging/dockerfile.test.ts). The bench and the soak start wsgate
// with `node <flags> src/cli/main.ts` so that they measure what users run.
import { readFileSync } from 'node:fs';

export function cliNodeFlags(cli: string): string[] {
  const first = readFileSync(cli, 'utf8').split('\n', 1)[0] ?? '';
  const match = /^#!\/usr\/bin\/env -S node(.*)$/.exec(first);
  return match ? match[1]!.trim().split(/\s+/).filter(Boolean) : [];
}

/**
 * Node flags for every wsgate variant of the bench: by default the bin's own (its shebang's), else
 * BENCH_WSGATE_NODE_ARGS (set it to " " for none, to measure what the flags buy).
 */
export function wsgateNodeArgs(cli: string): string[] {
  return (process.env['BENCH_WSGATE_NODE_ARGS'] ?? cliNodeFlags(cli).join(' ')).split(/\s+/).filter(Boolean);
}

/** The Node arguments before a wsgate variant's script: the flags above, and --cpu-prof when profiling. */
export function wsgateNodeCommandArgs(cli: string, profileDir: string | undefined): string[] {
  return [...wsgateNodeArgs(cli), ...(profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir])];
}

/** The flags as they precede the script in a command line shown in the report ("--max-semi-space-size=2 "). */
export function wsgateNodeFlagsText(cli: string): string {
  return wsgateNodeArgs(cli)
    .map((a) => `${a} `)
    .join('');
}
