// No Docker engine runs on these machines, so the Dockerfile is checked statically: every COPY source exists,
// the image runs as a non-root user with a HEALTHCHECK, and the entrypoint is a file the build emits.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../../helpers/cli.ts';

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

test('every COPY source from the build context exists', () => {
  const copies = instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from='));
  assert.ok(copies.length >= 3);
  for (const line of copies) {
    const parts = line.split(/\s+/).slice(1);
    for (const source of parts.slice(0, -1)) assert.ok(existsSync(join(ROOT, source)), `COPY source ${source} exists`);
  }
});

test('the entrypoint is the tsc output of the CLI, and the image is non-root with a healthcheck on Node 24', () => {
  const entry = instructions.find((l) => l.startsWith('ENTRYPOINT'));
  assert.ok(entry);
  const args = JSON.parse(entry.slice('ENTRYPOINT'.length)) as string[];
  const cli = args[args.length - 1];
  assert.equal(cli, 'dist/cli/main.js');
  const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as {
    compilerOptions: { rootDir: string; outDir: string };
  };
  // dist/cli/main.js is what tsc emits for src/cli/main.ts given rootDir src and outDir dist.
  assert.equal(tsconfig.compilerOptions.rootDir, 'src');
  assert.equal(tsconfig.compilerOptions.outDir, 'dist');
  assert.ok(existsSync(join(ROOT, 'src/cli/main.ts')));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: { wsgate: string } };
  assert.equal(pkg.bin.wsgate, cli);
  assert.ok(
    instructions.some((l) => /^USER (?!root)\w+/.test(l)),
    'USER is not root',
  );
  assert.ok(instructions.some((l) => l.startsWith('HEALTHCHECK')));
  assert.ok(instructions.filter((l) => l.startsWith('FROM')).every((l) => /node:24/.test(l)));
  assert.ok(
    instructions.some((l) => /WSGATE_HOST=0\.0\.0\.0/.test(l)),
    'listens on all interfaces in the container',
  );
  assert.match(readFileSync(join(ROOT, 'config/wsgate.yaml'), 'utf8'), /\$\{WSGATE_HOST:-127\.0\.0\.1\}/);
});

test('the Dockerfile, npm start and the bin start Node with the same flags (the shebang of the CLI)', () => {
  const shebang = readFileSync(join(ROOT, 'src/cli/main.ts'), 'utf8').split('\n', 1)[0] ?? '';
  const match = /^#!\/usr\/bin\/env -S node((?: --[\w-]+=\S+)*)$/.exec(shebang);
  assert.ok(match, `the CLI's shebang runs node through env -S: ${shebang}`);
  const flags = (match[1] ?? '').trim().split(' ').filter(Boolean);
  // The young generation's cap: without it an idle process keeps about 16 KiB more per WebSocket (docs/benchmarks.md).
  assert.ok(flags.includes('--max-semi-space-size=2'), `flags ${flags.join(' ')}`);
  const entry = instructions.find((l) => l.startsWith('ENTRYPOINT'));
  assert.ok(entry);
  assert.deepEqual(JSON.parse(entry.slice('ENTRYPOINT'.length)), ['node', ...flags, 'dist/cli/main.js']);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts['start'], `node ${flags.join(' ')} src/cli/main.ts run`);
  assert.equal(pkg.scripts['dev'], `node ${flags.join(' ')} src/cli/main.ts`);
});

test("the image preloads jemalloc from the path its RUN links (the soak's allocator)", () => {
  const run = instructions.find((l) => l.startsWith('RUN ') && l.includes('libjemalloc2'));
  assert.ok(run, 'libjemalloc2 is installed');
  const link = /ln -s .*libjemalloc\.so\.2.* (\/\S+)$/.exec(run);
  assert.ok(link, `the library is linked to a fixed path: ${run}`);
  const env = instructions.find((l) => l.startsWith('ENV LD_PRELOAD='));
  assert.equal(env, `ENV LD_PRELOAD=${link[1]}`);
  // Preloaded in the image that runs wsgate, not in the build stage.
  assert.ok(instructions.indexOf(env) > instructions.findLastIndex((l) => l.startsWith('FROM ')));
});
