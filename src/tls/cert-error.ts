// Why an upstream's certificate failed verification, in words a person can act on. Node reports OpenSSL's
// X509_V_ERR_* names (and ERR_TLS_CERT_ALTNAME_INVALID from its own hostname check); they map to five reasons.
// A corporate TLS inspector shows up here as "unknown issuer" (or "self-signed") with its own CA as the issuer,
// which is why the issuer's subject is part of the explanation. Pure: codes and certificate fields in, text out.

export type CertFailureReason =
  | 'self-signed'
  | 'expired'
  | 'not yet valid'
  | 'hostname mismatch'
  | 'unknown issuer'
  | 'untrusted';

/** What is known of the certificate the upstream presented (the fields of Node's X509Certificate). */
export type PeerCertificateInfo = {
  subject?: string | undefined;
  issuer?: string | undefined;
  validFrom?: string | undefined;
  validTo?: string | undefined;
  subjectAltName?: string | undefined;
};

export type CertFailure = {
  reason: CertFailureReason;
  /** Node's error code, e.g. CERT_HAS_EXPIRED. */
  code: string;
  /** One sentence with the specifics (dates, names). */
  detail: string;
  /** One-line distinguished names ("CN=…, O=…"), or "unknown" when the certificate was not seen. */
  subject: string;
  issuer: string;
};

const REASONS: Record<string, CertFailureReason> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed',
  CERT_HAS_EXPIRED: 'expired',
  ERROR_IN_CERT_NOT_AFTER_FIELD: 'expired',
  CERT_NOT_YET_VALID: 'not yet valid',
  ERROR_IN_CERT_NOT_BEFORE_FIELD: 'not yet valid',
  ERR_TLS_CERT_ALTNAME_INVALID: 'hostname mismatch',
  HOSTNAME_MISMATCH: 'hostname mismatch',
  IP_ADDRESS_MISMATCH: 'hostname mismatch',
  UNABLE_TO_GET_ISSUER_CERT: 'unknown issuer',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unknown issuer',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown issuer',
  // A chain that ends in a root nobody here trusts: the root is self-signed, the issuer is what is unknown.
  SELF_SIGNED_CERT_IN_CHAIN: 'unknown issuer',
  CERT_UNTRUSTED: 'unknown issuer',
};

const OTHER_CODES = new Set([
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_REJECTED',
  'UNABLE_TO_GET_CRL',
  'CRL_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'EMAIL_MISMATCH',
]);

/** Is this error code a failed certificate check (rather than a network or protocol failure)? */
export function isCertVerificationCode(code: string | undefined): boolean {
  return code !== undefined && (code in REASONS || OTHER_CODES.has(code));
}

/** Node prints distinguished names one attribute per line; logs and error bodies want one line. */
export function oneLineName(name: string | undefined): string {
  if (name === undefined || name.trim() === '') return 'unknown';
  return name
    .split('\n')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .join(', ');
}

function describe(reason: CertFailureReason, code: string, peer: PeerCertificateInfo | undefined, host: string) {
  switch (reason) {
    case 'self-signed':
      return 'the certificate signed itself and is not trusted here';
    case 'expired':
      return peer?.validTo ? `it expired on ${peer.validTo}` : 'it has expired';
    case 'not yet valid':
      return peer?.validFrom ? `it is valid only from ${peer.validFrom}` : 'it is not valid yet';
    case 'hostname mismatch': {
      const names = peer?.subjectAltName ? `it is for ${peer.subjectAltName}` : 'it names other hosts';
      return `${names}, not ${host}`;
    }
    case 'unknown issuer':
      return code === 'SELF_SIGNED_CERT_IN_CHAIN'
        ? 'its chain ends in a root CA that is not trusted here'
        : 'it was issued by a CA that is not trusted here';
    default:
      return `OpenSSL says ${code}`;
  }
}

/** Explains a verification failure for `host` (the name that was checked: the servername, else the URL host). */
export function explainCertError(code: string, peer: PeerCertificateInfo | undefined, host: string): CertFailure {
  const reason = REASONS[code] ?? 'untrusted';
  return {
    reason,
    code,
    detail: describe(reason, code, peer, host),
    subject: oneLineName(peer?.subject),
    issuer: oneLineName(peer?.issuer),
  };
}
