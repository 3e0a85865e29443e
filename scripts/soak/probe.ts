// Preloaded into wsgate by the soak (`node --import scripts/soak/probe.ts src/cli/main.ts run …`; cluster workers
// inherit it): on SIGUSR2 it writes process.memoryUsage() to a file, so the report can set RSS beside the V8 heap and
// tell memory wsgate still holds from memory the allocator has not given back. Nothing else changes in the process.
// The request file says which snapshot this is and whether to run a full GC first (only for the last, diagnostic one).
//
//   SOAK_PROBE_DIR=dir: reads dir/request.json {"id": n, "gc": bool}, writes dir/<pid>-<n>.json
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const dir = process.env['SOAK_PROBE_DIR'];

type Gc = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

function fullGc(): void {
  // --expose-gc only for this call: the process otherwise runs with the flags a user would give it. The last-resort
  // flavour is the GC V8 runs under memory pressure: besides collecting everything it hands pooled pages back.
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as Gc)({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

if (dir) {
  process.on('SIGUSR2', () => {
    try {
      const req = JSON.parse(readFileSync(path.join(dir, 'request.json'), 'utf8')) as { id: number; gc: boolean };
      if (req.gc) fullGc();
      const out = { pid: process.pid, ...process.memoryUsage() };
      writeFileSync(path.join(dir, `${process.pid}-${req.id}.json`), JSON.stringify(out));
    } catch (e) {
      process.stderr.write(`soak probe: ${(e as Error).message}\n`);
    }
  });
}
