// wsgate's CA on disk: created with private modes, never overwritten by accident, and refused when a file is
// corrupt, mismatched, expired or readable by others, always naming the file.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { isWsgateError } from '../../../src/errors.ts';
import {
  CA_FILES,
  caPaths,
  certificateDer,
  createCa,
  ensureCa,
  loadCa,
  resolveCaDir,
  spkiSha256,
} from '../../../src/tls/ca.ts';

const posix = process.platform !== 'win32';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-ca-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function rejectsWith(code: string, file: string | RegExp) {
  return (err: unknown) => {
    assert.ok(isWsgateError(err), String(err));
    assert.equal(err.code, code);
    assert.equal(err.exitCode, 2);
    if (typeof file === 'string') assert.ok(err.message.includes(file), `${err.message} names ${file}`);
    else assert.match(err.message, file);
    return true;
  };
}

test('createCa writes the certificate and both keys; keys 0600 in a 0700 directory', { skip: !posix }, async (t) => {
  const dir = join(tempDir(t), 'nested', 'ca');
  const ca = await createCa(dir);
  const paths = caPaths(dir);
  assert.equal(statSync(paths.dir).mode & 0o777, 0o700);
  assert.equal(statSync(paths.key).mode & 0o777, 0o600);
  assert.equal(statSync(paths.leafKey).mode & 0o777, 0o600);
  assert.equal(statSync(paths.cert).mode & 0o777, 0o644);
  const cert = new X509Certificate(readFileSync(paths.cert));
  assert.equal(cert.ca, true);
  assert.match(cert.subject, /^CN=wsgate CA /);
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(cert.validToDate.getTime() > Date.now() + 9 * 365 * 24 * 3600 * 1000);
  // Positive serial: DER INTEGER with the high bit of the first byte clear.
  assert.ok(Number.parseInt(cert.serialNumber[0]!, 16) < 8);
  assert.equal(ca.leafKey.persisted, true);
  assert.equal(ca.certPem.endsWith('\n'), true);
  assert.deepEqual(certificateDer(ca.certPem), Buffer.from(cert.raw));
  assert.match(spkiSha256(cert), /^[A-Za-z0-9+/]{43}=$/);
});

test('a second createCa refuses; force replaces the CA', async (t) => {
  const dir = tempDir(t);
  const first = await createCa(dir);
  await assert.rejects(createCa(dir), rejectsWith('WSG_CA_EXISTS', dir));
  assert.equal((await loadCa(dir)).certificate.fingerprint256, first.certificate.fingerprint256, 'untouched');
  const second = await createCa(dir, { force: true });
  assert.notEqual(second.certificate.fingerprint256, first.certificate.fingerprint256);
  assert.equal((await loadCa(dir)).certificate.fingerprint256, second.certificate.fingerprint256);
  if (posix) assert.equal(statSync(caPaths(dir).key).mode & 0o777, 0o600);
});

test('loadCa reads back what createCa wrote, leaf key included', async (t) => {
  const dir = tempDir(t);
  const created = await createCa(dir, { commonName: 'Test Corp wsgate CA' });
  const loaded = await loadCa(dir);
  assert.equal(loaded.certificate.fingerprint256, created.certificate.fingerprint256);
  assert.equal(loaded.leafKey.spkiSha256, created.leafKey.spkiSha256);
  assert.equal(loaded.authorityKeyId, created.authorityKeyId);
  assert.match(loaded.certificate.subject, /CN=Test Corp wsgate CA/);
});

test('no CA: WSG_CA_MISSING naming the directory; ensureCa creates one, then loads it', async (t) => {
  const dir = join(tempDir(t), 'ca');
  await assert.rejects(loadCa(dir), rejectsWith('WSG_CA_MISSING', join(dir, CA_FILES.cert)));
  const first = await ensureCa(dir);
  assert.equal(first.created, true);
  const again = await ensureCa(dir);
  assert.equal(again.created, false);
  assert.equal(again.ca.certificate.fingerprint256, first.ca.certificate.fingerprint256);
});

test('ensureCa started many times at once (run --workers) creates one CA and all load it', async (t) => {
  const dir = join(tempDir(t), 'ca');
  const results = await Promise.all(Array.from({ length: 6 }, () => ensureCa(dir)));
  assert.equal(results.filter((r) => r.created).length, 1, 'exactly one creates');
  const fingerprints = new Set(results.map((r) => r.ca.certificate.fingerprint256));
  const leafKeys = new Set(results.map((r) => r.ca.leafKey.spkiSha256));
  assert.equal(fingerprints.size, 1, 'every caller has the same CA');
  assert.equal(leafKeys.size, 1, 'and the same leaf key');
  assert.equal((await loadCa(dir)).certificate.fingerprint256, [...fingerprints][0]);
  assert.ok(!existsSync(join(dir, '.init.lock')), 'the lock file is gone');
});

test('a corrupt certificate or key is refused naming the file', async (t) => {
  const dir = tempDir(t);
  await createCa(dir);
  const paths = caPaths(dir);
  const goodCert = readFileSync(paths.cert, 'utf8');
  writeFileSync(paths.cert, '-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n');
  await assert.rejects(loadCa(dir), rejectsWith('WSG_CA_INVALID', paths.cert));
  writeFileSync(paths.cert, goodCert);
  writeFileSync(paths.key, 'garbage', { mode: 0o600 });
  await assert.rejects(loadCa(dir), rejectsWith('WSG_CA_INVALID', paths.key));
  // ensureCa must not paper over a broken CA by creating a new one.
  await assert.rejects(ensureCa(dir), rejectsWith('WSG_CA_INVALID', paths.key));
});

test('a key from another CA is refused as not belonging to the certificate', async (t) => {
  const a = tempDir(t);
  const b = tempDir(t);
  await createCa(a);
  await createCa(b);
  writeFileSync(caPaths(a).key, readFileSync(caPaths(b).key), { mode: 0o600 });
  await assert.rejects(loadCa(a), rejectsWith('WSG_CA_INVALID', /does not belong to the certificate/));
});

test('a CA key readable by others is refused with the chmod to run', { skip: !posix }, async (t) => {
  const dir = tempDir(t);
  await createCa(dir);
  const { key, leafKey } = caPaths(dir);
  chmodSync(key, 0o644);
  await assert.rejects(loadCa(dir), rejectsWith('WSG_CA_INVALID', `chmod 600 ${key}`));
  chmodSync(key, 0o600);
  chmodSync(leafKey, 0o640);
  await assert.rejects(loadCa(dir), rejectsWith('WSG_CA_INVALID', leafKey));
});

test('an expired CA is refused with how to replace it', async (t) => {
  const dir = tempDir(t);
  await createCa(dir, { now: new Date(Date.now() - 3651 * 24 * 3600 * 1000) });
  await assert.rejects(loadCa(dir), rejectsWith('WSG_CA_INVALID', /expired on .*ca init --force/));
});

test('a missing leaf-key.pem gives a key for this process only', async (t) => {
  const dir = tempDir(t);
  await createCa(dir);
  unlinkSync(caPaths(dir).leafKey);
  const a = await loadCa(dir);
  const b = await loadCa(dir);
  assert.equal(a.leafKey.persisted, false);
  assert.notEqual(a.leafKey.spkiSha256, b.leafKey.spkiSha256);
  assert.equal(existsSync(caPaths(dir).leafKey), false, 'loading never writes');
});

test('resolveCaDir expands ~ and makes paths absolute', () => {
  assert.equal(resolveCaDir('~/.wsgate/ca', '/home/u'), '/home/u/.wsgate/ca');
  assert.equal(resolveCaDir('~', '/home/u'), '/home/u');
  assert.equal(resolveCaDir('/etc/wsgate'), '/etc/wsgate');
  assert.equal(resolveCaDir('ca'), join(process.cwd(), 'ca'));
});
