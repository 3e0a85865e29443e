// The inspection variant of the benchmark (issue 13 item 6): wsgate with tap payload, the admin API's traffic
// store on and the session file written (SQLite in a worker thread), compared with wsgate-off in the same rep.
// The traffic log is not written (log.level warn), so the row measures what the store and the session file cost;
// the "+log" rows measure the traffic log. Whole messages go to the store as configured by
// inspector.store.maxMessageBytes (default 1 MiB: every benchmark message whole).
//
//   PROXIES="wsgate-off wsgate-store" SCENARIOS="64B-c50 64KiB-c4" npm run bench -- --quick
//   BENCH_STORE_DISK=0 …    the memory store only (no session file), to tell the two costs apart
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { wsgateNodeCommandArgs, wsgateNodeFlagsText } from './cli-flags.ts';
import type { Command, ProxyDef } from './proxies.ts';

export function storeConfig(port: number, target: string): string {
  return `listeners:
  - name: bench
    bind: 127.0.0.1:${port}
    routes:
      - upstream: ws://${target}
tap: { level: payload }
log: { level: warn }
inspector:
  bind: 127.0.0.1:0
  store: { maxFileBytes: 256MiB, disk: ${process.env['BENCH_STORE_DISK'] !== '0'} }
`;
}

export function storeDefinition(cli: string): ProxyDef {
  return {
    name: 'wsgate-store',
    kind: 'wsgate',
    tap: 'payload',
    missing: () => null,
    info: () =>
      `node ${wsgateNodeFlagsText(cli)}src/cli/main.ts run -c wsgate.yaml (tap payload, inspector store on, the default temporary session file capped at 256 MiB, log.level warn) on ${process.version}`,
    command: ({ port, target, dir, profileDir }): Command => {
      const config = path.join(dir, 'wsgate.yaml');
      writeFileSync(config, storeConfig(port, target));
      return { cmd: process.execPath, args: [...wsgateNodeCommandArgs(cli, profileDir), cli, 'run', '-c', config] };
    },
    settleMs: 0,
  };
}
