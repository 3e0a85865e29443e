// The published package works: `npm pack` builds dist/ (prepack), and the tarball installed into a
// temporary prefix gives a `wsgate` bin whose --version and --help run.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from '../../helpers/cli.ts';

const run = promisify(execFile);

test('npm pack → install into a temporary prefix → wsgate --version', { timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-pack-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = {
    ...process.env,
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  };
  const packed = await run('npm', ['pack', '--pack-destination', dir, '--json'], {
    cwd: ROOT,
    env,
    maxBuffer: 1 << 24,
  });
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as {
    filename: string;
    files: { path: string }[];
  }[];
  assert.ok(info);
  const files = info.files.map((f) => f.path);
  assert.ok(files.includes('dist/cli/main.js'), 'the CLI is built into the tarball');
  assert.ok(files.includes('config/wsgate.yaml'));
  assert.ok(files.includes('dist/inspector/ui/index.html'), 'the inspector’s static files are built into the tarball');
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')), 'no sources or tests shipped');
  const prefix = join(dir, 'prefix');
  // Dependencies come from npm's cache, filled by the project's own install.
  await run('npm', ['install', '--prefix', prefix, '--prefer-offline', '--no-save', join(dir, info.filename)], {
    env,
    maxBuffer: 1 << 24,
  });
  const bin = join(prefix, 'node_modules', '.bin', 'wsgate');
  const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
  // Run the bin through the same Node as the tests: its shebang says `node`, which on these machines may be too old.
  const out = await run(process.execPath, [bin, '--version']);
  assert.equal(out.stdout.trim(), version);
  const help = await run(process.execPath, [bin, 'run', '--help']);
  assert.match(help.stdout, /^Usage: wsgate run/m);
  // And as a shell runs it, through its shebang (`env -S node <flags>`), with Node 24 first on PATH.
  const shell = await run(bin, ['--version'], {
    env: { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env['PATH'] ?? ''}` },
  });
  assert.equal(shell.stdout.trim(), version);
});
