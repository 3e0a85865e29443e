// Hostile case 39 as a user meets it: `wsgate run` with TLS interception and a CA whose private key others could read
// (mode 0644), or that belongs to another user, refuses to start: exit code 2, a message naming the key file and the
// fix, and nothing listening. (The loader's rules are unit-tested in test/unit/tls/ca.test.ts; that keys wsgate
// generates are 0600 in a 0700 directory is checked by test/integration/tls/cli.test.ts for `ca init` and by
// test/integration/intercept/lifecycle.test.ts for a CA created on first use.)
import assert from 'node:assert/strict';
import { chmodSync, chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { caPaths, createCa } from '../../src/tls/ca.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tls.ts';

const posix = process.platform !== 'win32';
const root = process.getuid?.() === 0;

/** A CA in a fresh directory and a config that intercepts with it. */
async function setup(t: TestContext): Promise<{ file: string; key: string; home: string }> {
  const home = tempDir(t, 'wsgate-ca-files-');
  const caDir = join(home, 'ca');
  await createCa(caDir);
  const file = join(home, 'wsgate.yaml');
  writeFileSync(
    file,
    `listeners:\n  - name: proxy\n    bind: 127.0.0.1:0\n    forward: { intercept: ["*.example.test"] }\ntls: { caDir: ${JSON.stringify(caDir)} }\n`,
  );
  return { file, key: caPaths(caDir).key, home };
}

async function assertRefused(file: string, home: string, key: string, says: RegExp): Promise<void> {
  const r = await runCli(['run', '-c', file], { cwd: home, env: { HOME: home, SSLKEYLOGFILE: '' } });
  assert.equal(r.code, 2, r.stderr);
  assert.ok(r.stderr.includes(key), `the message names ${key}: ${r.stderr}`);
  assert.match(r.stderr, says);
  assert.doesNotMatch(r.stdout + r.stderr, /listening on/, 'nothing listens');
}

test('case 39: wsgate run refuses a CA key readable by others (0644), naming the file and the chmod', {
  skip: !posix,
}, async (t) => {
  const { file, key, home } = await setup(t);
  chmodSync(key, 0o644);
  await assertRefused(file, home, key, new RegExp(`chmod 600 ${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
});

test('case 39: wsgate run refuses a CA key owned by another user, naming the file', {
  skip: !posix || !root ? 'changing a file’s owner needs root' : false,
}, async (t) => {
  const { file, key, home } = await setup(t);
  chownSync(key, 65534, 65534);
  await assertRefused(file, home, key, /owned by uid 65534, not by the user wsgate runs as/);
});
