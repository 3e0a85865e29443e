// Node's certificate verification codes → the reason a person reads in the 502 body.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { explainCertError, isCertVerificationCode, oneLineName } from '../../../src/tls/cert-error.ts';

const peer = {
  subject: 'CN=app.example.test\nO=Example',
  issuer: 'C=US\nO=Corp\nCN=Corp TLS Inspection CA',
  validFrom: 'Jan  1 00:00:00 2025 GMT',
  validTo: 'Feb  1 00:00:00 2025 GMT',
  subjectAltName: 'DNS:app.example.test',
};

test('each verification code maps to its reason', () => {
  const table: [string, string][] = [
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed'],
    ['CERT_HAS_EXPIRED', 'expired'],
    ['CERT_NOT_YET_VALID', 'not yet valid'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'hostname mismatch'],
    ['HOSTNAME_MISMATCH', 'hostname mismatch'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unknown issuer'],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unknown issuer'],
    ['UNABLE_TO_GET_ISSUER_CERT', 'unknown issuer'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'unknown issuer'],
    ['CERT_REVOKED', 'untrusted'],
    ['CERT_SIGNATURE_FAILURE', 'untrusted'],
  ];
  for (const [code, reason] of table) {
    assert.equal(isCertVerificationCode(code), true, code);
    assert.equal(explainCertError(code, peer, 'app.example.test').reason, reason, code);
  }
});

test('network and protocol errors are not certificate failures', () => {
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ETIMEDOUT', undefined]) {
    assert.equal(isCertVerificationCode(code), false, String(code));
  }
});

test('the explanation names dates, names and the issuer on one line', () => {
  const expired = explainCertError('CERT_HAS_EXPIRED', peer, 'app.example.test');
  assert.equal(expired.detail, 'it expired on Feb  1 00:00:00 2025 GMT');
  assert.equal(expired.issuer, 'C=US, O=Corp, CN=Corp TLS Inspection CA');
  assert.equal(expired.subject, 'CN=app.example.test, O=Example');
  assert.equal(
    explainCertError('CERT_NOT_YET_VALID', peer, 'x').detail,
    'it is valid only from Jan  1 00:00:00 2025 GMT',
  );
  assert.equal(
    explainCertError('ERR_TLS_CERT_ALTNAME_INVALID', peer, 'other.test').detail,
    'it is for DNS:app.example.test, not other.test',
  );
  assert.match(explainCertError('SELF_SIGNED_CERT_IN_CHAIN', peer, 'x').detail, /root CA that is not trusted/);
  assert.match(explainCertError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', peer, 'x').detail, /CA that is not trusted/);
  assert.equal(explainCertError('CERT_REVOKED', peer, 'x').detail, 'OpenSSL says CERT_REVOKED');
});

test('without the certificate the reason still holds and the names say unknown', () => {
  const failure = explainCertError('CERT_HAS_EXPIRED', undefined, 'x');
  assert.equal(failure.reason, 'expired');
  assert.equal(failure.detail, 'it has expired');
  assert.equal(failure.issuer, 'unknown');
  assert.equal(oneLineName(''), 'unknown');
});

test('cert-error.ts stays pure: no sockets, file system or timers', () => {
  const source = readFileSync(new URL('../../../src/tls/cert-error.ts', import.meta.url), 'utf8');
  assert.doesNotMatch(source, /from 'node:|setTimeout|setInterval/);
  const names = readFileSync(new URL('../../../src/tls/names.ts', import.meta.url), 'utf8');
  assert.doesNotMatch(names, /from 'node:|setTimeout|setInterval/);
});
