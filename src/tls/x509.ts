// The one place @peculiar/x509 is set up. It needs `reflect-metadata` loaded before it (its tsyringe container
// throws otherwise) and a WebCrypto provider; Node's own is used. Everything in src/tls gets x509 from here.
import { webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';

export type { X509 };

let loading: Promise<typeof X509> | undefined;

/**
 * @peculiar/x509, imported on first use: with its ASN.1 stack it is ~3 MiB of heap that a wsgate which never
 * signs a certificate (no interception, no generated listener certificate) would carry and collect from start.
 */
export function loadX509(): Promise<typeof X509> {
  loading ??= (async () => {
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  })();
  return loading;
}

/** ECDSA P-256 with SHA-256: fast to sign (about 4 ms per leaf) and accepted by curl, Node and browsers. */
export const EC_KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const EC_SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/**
 * A random serial number as hex: 16 bytes (RFC 5280 §4.1.2.2 allows up to 20), high bit clear so the DER INTEGER
 * stays positive, and never starting with a zero byte (which DER would have to drop).
 */
export function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}
