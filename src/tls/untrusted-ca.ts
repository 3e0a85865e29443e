// The untrustedCert fault's CA: a second certificate authority made once per process, in memory only, that no
// client trusts and no file holds. Intercepting with its leaves is what a corporate TLS inspector looks like to a
// client whose machine does not have the inspector's CA installed: the handshake fails with an unknown-issuer
// error. Never written to disk, never printed, never shared with wsgate's own CA (tls/ca.ts), so trusting wsgate's
// CA does not make these leaves pass.
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { type LoadedCa, newEcKey, signCaCertificate } from './ca.ts';
import { LeafCache } from './leaf.ts';
import { EC_KEY_ALGORITHM, loadX509 } from './x509.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** The subject people see in a browser's certificate viewer: it says what it is. */
export const UNTRUSTED_CA_NAME = 'wsgate untrustedCert fault (a TLS inspector nobody trusts)';

/** What stands in for file paths in messages about this CA: it has none. */
export const UNTRUSTED_CA_DIR = '(in memory: the untrustedCert fault CA)';

/** Makes the in-memory CA, shaped like a loaded one so the leaf cache can sign with it. */
export async function createUntrustedCa(now: Date = new Date()): Promise<LoadedCa> {
  const caKey = newEcKey();
  const leafPrivate = newEcKey();
  const cert = await signCaCertificate(caKey, `CN=${UNTRUSTED_CA_NAME}, O=wsgate fault injection`, {
    notBefore: new Date(now.getTime() - DAY_MS),
    notAfter: new Date(now.getTime() + 30 * DAY_MS),
  });
  const ski = cert.getExtension((await loadX509()).SubjectKeyIdentifierExtension);
  if (ski === null) throw new Error('the CA certificate has no subject key identifier');
  const certPem = `${cert.toString('pem')}\n`;
  const leafPublic = createPublicKey(leafPrivate);
  return {
    paths: { dir: UNTRUSTED_CA_DIR, cert: UNTRUSTED_CA_DIR, key: UNTRUSTED_CA_DIR, leafKey: UNTRUSTED_CA_DIR },
    certPem,
    certificate: new X509Certificate(certPem),
    x509: cert,
    signingKey: caKey.toCryptoKey(EC_KEY_ALGORITHM, false, ['sign']),
    authorityKeyId: ski.keyId,
    leafKey: {
      privateKeyPem: leafPrivate.export({ type: 'pkcs8', format: 'pem' }) as string,
      publicKey: leafPublic.toCryptoKey(EC_KEY_ALGORITHM, true, ['verify']),
      spkiSha256: createHash('sha256')
        .update(leafPublic.export({ type: 'spki', format: 'der' }))
        .digest('base64'),
      persisted: false,
    },
  };
}

let shared: Promise<LeafCache> | undefined;

/** The process's one untrusted CA and its leaf cache, made on first use. */
export function untrustedLeaves(): Promise<LeafCache> {
  shared ??= createUntrustedCa().then((ca) => new LeafCache(ca, { max: 100 }));
  // A failure is not kept: the next intercepted tunnel tries again.
  shared.catch(() => {
    shared = undefined;
  });
  return shared;
}
