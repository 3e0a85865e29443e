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
  assert.equal(args[1], 'dist/cli/main.js');
  const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as {
    compilerOptions: { rootDir: string; outDir: string };
  };
  // dist/cli/main.js is what tsc emits for src/cli/main.ts given rootDir src and outDir dist.
  assert.equal(tsconfig.compilerOptions.rootDir, 'src');
  assert.equal(tsconfig.compilerOptions.outDir, 'dist');
  assert.ok(existsSync(join(ROOT, 'src/cli/main.ts')));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: { wsgate: string } };
  assert.equal(pkg.bin.wsgate, args[1]);
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
