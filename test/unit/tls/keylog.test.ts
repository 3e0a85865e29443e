// The key-log file: tls.keyLog first, SSLKEYLOGFILE otherwise; appended, created 0600, never fatal.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { keyLogFile, openKeyLog } from '../../../src/tls/keylog.ts';

test('tls.keyLog wins over SSLKEYLOGFILE; empty values count as unset', () => {
  assert.equal(keyLogFile('a.log', { SSLKEYLOGFILE: 'b.log' }), 'a.log');
  assert.equal(keyLogFile(undefined, { SSLKEYLOGFILE: 'b.log' }), 'b.log');
  assert.equal(keyLogFile(undefined, { SSLKEYLOGFILE: '' }), undefined);
  assert.equal(keyLogFile('', {}), undefined);
});

test('lines are appended to an existing file; a new file is created 0600', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-keylog-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const existing = join(dir, 'existing.log');
  writeFileSync(existing, 'CLIENT_RANDOM aa bb\n');
  const log = openKeyLog(existing);
  log.write(Buffer.from('CLIENT_RANDOM cc dd\n'));
  await log.close();
  assert.equal(readFileSync(existing, 'utf8'), 'CLIENT_RANDOM aa bb\nCLIENT_RANDOM cc dd\n');

  const fresh = join(dir, 'fresh.log');
  const log2 = openKeyLog(fresh);
  log2.write(Buffer.from('X 1 2\n'));
  await log2.close();
  if (process.platform !== 'win32') assert.equal(statSync(fresh).mode & 0o777, 0o600);
});

test('a file that cannot be opened is reported once and later lines are dropped', async () => {
  const errors: Error[] = [];
  const log = openKeyLog('/nonexistent-dir-wsgate/keys.log', (err) => errors.push(err));
  log.write(Buffer.from('A 1 2\n'));
  await new Promise((r) => setTimeout(r, 50));
  log.write(Buffer.from('B 1 2\n'));
  await log.close();
  assert.equal(errors.length, 1);
  assert.match(errors[0]!.message, /ENOENT/);
});
