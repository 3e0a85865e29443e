// Leaf certificates for intercepted hosts, signed by wsgate's CA. Every leaf uses the CA's one shared leaf key,
// so a new host costs one ECDSA signature (a few ms) and one SecureContext. Leaves live in a bounded LRU of
// Promise<SecureContext>: concurrent handshakes for the same host wait for the same signing, and a failed
// issuance is forgotten so the next handshake tries again.
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { LoadedCa } from './ca.ts';
import { isIpAddress, normalizeHost } from './names.ts';
import { MIN_TLS_VERSION } from './server-certs.ts';
import { EC_SIGNING_ALGORITHM, loadX509, randomSerial } from './x509.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Below Apple's and Chrome's 398-day cap for TLS server certificates. */
export const LEAF_VALIDITY_DAYS = 397;
export const DEFAULT_LEAF_CACHE_SIZE = 1000;

export type Leaf = {
  host: string;
  /** The leaf alone, PEM. */
  certPem: string;
  /** Leaf, then the CA: what the TLS server presents (clients that trust the CA can then build the chain). */
  chainPem: string;
  notAfter: Date;
  context: tls.SecureContext;
};

export type IssueLeafOptions = { now?: Date; validityDays?: number };

/**
 * Signs a leaf for one host (a DNS name, or an IP address that goes into an iPAddress SAN) with the CA's key,
 * for the shared leaf key. Never outlives the CA.
 */
export async function issueLeafCertificate(
  ca: LoadedCa,
  host: string,
  options: IssueLeafOptions = {},
): Promise<string> {
  const name = normalizeHost(host);
  if (name === '') throw new Error('a leaf certificate needs a host name');
  const now = options.now ?? new Date();
  const notAfter = new Date(
    Math.min(
      now.getTime() + (options.validityDays ?? LEAF_VALIDITY_DAYS) * DAY_MS,
      ca.certificate.validToDate.getTime(),
    ),
  );
  const san = isIpAddress(name) ? { type: 'ip' as const, value: name } : { type: 'dns' as const, value: name };
  const x509 = await loadX509();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    // RFC 5280 ub-common-name is 64 characters; the SAN carries the full name, which is what clients check.
    subject: [{ CN: [name.slice(0, 64)] }, { O: ['wsgate'] }],
    issuer: ca.x509.subjectName,
    // A day back, for clients whose clocks run behind.
    notBefore: new Date(now.getTime() - DAY_MS),
    notAfter,
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    publicKey: ca.leafKey.publicKey,
    signingKey: ca.signingKey,
    extensions: [
      new x509.SubjectAlternativeNameExtension([san]),
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.AuthorityKeyIdentifierExtension(ca.authorityKeyId),
    ],
  });
  // toString('pem') has no final newline; gluing it to the CA without one breaks the PEM end line.
  return `${cert.toString('pem')}\n`;
}

export type LeafCacheOptions = {
  /** Hosts kept (least recently used dropped first). */
  max?: number;
  validityDays?: number;
  now?: () => Date;
};

type Entry = { promise: Promise<Leaf>; leaf: Leaf | undefined };

/** Issues and caches leaves for one CA. */
export class LeafCache {
  readonly ca: LoadedCa;
  #max: number;
  #validityDays: number;
  #now: () => Date;
  #entries = new Map<string, Entry>();
  #issued = 0;

  constructor(ca: LoadedCa, options: LeafCacheOptions = {}) {
    this.ca = ca;
    this.#max = Math.max(1, options.max ?? DEFAULT_LEAF_CACHE_SIZE);
    this.#validityDays = options.validityDays ?? LEAF_VALIDITY_DAYS;
    this.#now = options.now ?? (() => new Date());
  }

  /** Hosts in the cache. */
  get size(): number {
    return this.#entries.size;
  }

  /** Certificates signed so far (cache misses). */
  get issued(): number {
    return this.#issued;
  }

  has(host: string): boolean {
    return this.#entries.has(normalizeHost(host));
  }

  /** The leaf for a host: cached, being issued (the same promise), or issued now. */
  get(host: string): Promise<Leaf> {
    const name = normalizeHost(host);
    const entry = this.#entries.get(name);
    if (entry !== undefined) {
      // Reissue a day before the leaf runs out; a long-running wsgate must never serve an expired one.
      const stale = entry.leaf !== undefined && entry.leaf.notAfter.getTime() - DAY_MS <= this.#now().getTime();
      if (!stale) {
        this.#entries.delete(name);
        this.#entries.set(name, entry);
        return entry.promise;
      }
      this.#entries.delete(name);
    }
    const fresh: Entry = { promise: this.#issue(name), leaf: undefined };
    fresh.promise.then(
      (leaf) => {
        fresh.leaf = leaf;
      },
      () => {
        if (this.#entries.get(name) === fresh) this.#entries.delete(name);
      },
    );
    this.#entries.set(name, fresh);
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
    return fresh.promise;
  }

  /** The SecureContext to terminate a client's TLS with, for a host. */
  async secureContext(host: string): Promise<tls.SecureContext> {
    return (await this.get(host)).context;
  }

  async #issue(name: string): Promise<Leaf> {
    this.#issued += 1;
    const certPem = await issueLeafCertificate(this.ca, name, { now: this.#now(), validityDays: this.#validityDays });
    const chainPem = certPem + this.ca.certPem;
    const context = tls.createSecureContext({
      cert: chainPem,
      key: this.ca.leafKey.privateKeyPem,
      minVersion: MIN_TLS_VERSION,
    });
    return { host: name, certPem, chainPem, notAfter: new X509Certificate(certPem).validToDate, context };
  }
}
