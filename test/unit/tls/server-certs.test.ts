// A TLS listener's certificates: read before listening, each key checked against its certificate, the one for an
// SNI name chosen (exact, then wildcard, else the first), every failure naming the file.
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isWsgateError } from '../../../src/errors.ts';
import { loadServerTls, selectServerCert } from '../../../src/tls/server-certs.ts';
import { makeTestCa, tempDir, writePair } from '../../helpers/tls.ts';

function rejectsWith(code: string, ...names: string[]) {
  return (err: unknown) => {
    assert.ok(isWsgateError(err), String(err));
    assert.equal(err.code, code);
    assert.equal(err.exitCode, 2);
    for (const name of names) assert.ok(err.message.includes(name), `${err.message} names ${name}`);
    return true;
  };
}

test('certificates are chosen by SNI: exact before wildcard, config serverNames before SANs, else the first', async (t) => {
  const ca = await makeTestCa();
  const dir = tempDir(t);
  const a = writePair(dir, 'a', await ca.issue({ names: ['a.test', '*.wild.test'] }));
  const b = writePair(dir, 'b', await ca.issue({ names: ['b.test', 'x.wild.test'] }));
  const c = writePair(dir, 'c', await ca.issue({ names: ['c.test'] }));
  const server = await loadServerTls([a, b, { ...c, serverNames: ['named.test'] }]);
  const pick = (name: string | undefined) => selectServerCert(server, name).certFile;
  assert.equal(pick('a.test'), a.cert);
  assert.equal(pick('B.TEST.'), b.cert);
  assert.equal(pick('x.wild.test'), b.cert, 'an exact name in a later certificate beats an earlier wildcard');
  assert.equal(pick('y.wild.test'), a.cert);
  assert.equal(pick('named.test'), c.cert);
  assert.equal(pick('c.test'), a.cert, 'serverNames replace the SANs');
  assert.equal(pick(undefined), a.cert);
  assert.equal(pick('unknown.test'), a.cert);
  assert.deepEqual(server.certs[0]!.names, ['a.test', '*.wild.test']);
});

test('a key that belongs to another certificate: WSG_TLS_KEY_MISMATCH naming both files', async (t) => {
  const ca = await makeTestCa();
  const dir = tempDir(t);
  const a = writePair(dir, 'a', await ca.issue());
  const b = writePair(dir, 'b', await ca.issue());
  await assert.rejects(
    loadServerTls([{ cert: a.cert, key: b.key }]),
    rejectsWith('WSG_TLS_KEY_MISMATCH', a.cert, b.key),
  );
});

test('missing, garbage and encrypted files: WSG_TLS_CERT_READ naming the file', async (t) => {
  const ca = await makeTestCa();
  const dir = tempDir(t);
  const good = writePair(dir, 'good', await ca.issue());
  const missing = join(dir, 'missing.pem');
  await assert.rejects(
    loadServerTls([{ cert: missing, key: good.key }]),
    rejectsWith('WSG_TLS_CERT_READ', missing, 'no such file'),
  );
  const garbage = join(dir, 'garbage.pem');
  writeFileSync(garbage, 'hello');
  await assert.rejects(loadServerTls([{ cert: garbage, key: good.key }]), rejectsWith('WSG_TLS_CERT_READ', garbage));
  await assert.rejects(loadServerTls([{ cert: good.cert, key: garbage }]), rejectsWith('WSG_TLS_CERT_READ', garbage));
  await assert.rejects(loadServerTls([{ cert: good.cert, key: dir }]), rejectsWith('WSG_TLS_CERT_READ', dir));
  const encrypted = join(dir, 'encrypted.pem');
  const encryptedPem = createPrivateKey(readFileSync(good.key)).export({
    type: 'pkcs8',
    format: 'pem',
    cipher: 'aes-256-cbc',
    passphrase: 'secret',
  });
  writeFileSync(encrypted, encryptedPem);
  await assert.rejects(
    loadServerTls([{ cert: good.cert, key: encrypted }]),
    rejectsWith('WSG_TLS_CERT_READ', encrypted, 'encrypted'),
  );
});
