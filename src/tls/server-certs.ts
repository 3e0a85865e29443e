// Certificates a TLS listener serves: reading the PEM files (before anything listens, so a bad file is an exit 2
// naming it), checking that each key belongs to its certificate, and choosing one by the client's SNI name.
// The first certificate is the default, for clients that send no SNI or a name no certificate covers.
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import { WsgateError } from '../errors.ts';
import { matchServerName, namesFromSubjectAltName, normalizeHost } from './names.ts';

/** TLS 1.2 is the floor (RFC 8996 deprecates 1.0 and 1.1). */
export const MIN_TLS_VERSION = 'TLSv1.2';
/** wsgate speaks HTTP/1.1 only (WebSocket upgrades need it); offering only it keeps browsers off h2. */
export const ALPN_PROTOCOLS = ['http/1.1'];
/**
 * A client whose ALPN list has nothing wsgate speaks (only h2, as gRPC and some HTTP/2 clients send) is refused with
 * the no_application_protocol alert, as nginx without http2 does; OpenSSL's own words do not say what to change.
 */
export const NO_COMMON_ALPN_CODE = 'ERR_SSL_NO_APPLICATION_PROTOCOL';
export const NO_COMMON_ALPN_TEXT = `the client offered only protocols wsgate does not speak (ALPN); wsgate speaks ${ALPN_PROTOCOLS.join(', ')}, so an h2-only client must be set to use HTTP/1.1`;

export type ServerCertSpec = { cert: string; key: string; serverNames?: readonly string[] | undefined };

export type ServerCert = {
  certFile: string;
  keyFile: string;
  /** Names this certificate is chosen for: serverNames from the config, else the certificate's DNS SANs. */
  names: readonly string[];
  fingerprint256: string;
  validFrom: Date;
  validTo: Date;
  context: tls.SecureContext;
  /** The PEM texts, for the listener's default context. */
  cert: string;
  key: string;
};

export type ServerTls = { certs: readonly ServerCert[] };

function readError(what: string, file: string, err: unknown): WsgateError {
  const code = (err as NodeJS.ErrnoException).code;
  const detail =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'it is a directory'
          : (code ?? (err as Error).message);
  return new WsgateError('WSG_TLS_CERT_READ', { what, file, detail }, { cause: err });
}

/** Reads a PEM file; WSG_TLS_CERT_READ naming it when it cannot be read. */
export async function readPemFile(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw readError(what, file, err);
  }
}

/** Parses a certificate file's first certificate (a chain file lists the leaf first). */
export function parseCertificate(pem: string, file: string, what = 'certificate file'): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new WsgateError('WSG_TLS_CERT_READ', { what, file, detail: 'it holds no PEM certificate' }, { cause: err });
  }
}

function parsePrivateKey(pem: string, file: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const detail =
      code === 'ERR_MISSING_PASSPHRASE'
        ? 'the key is encrypted; decrypt it with `openssl pkey -in KEY -out KEY.plain`'
        : 'it holds no PEM private key';
    throw new WsgateError('WSG_TLS_CERT_READ', { what: 'key file', file, detail }, { cause: err });
  }
}

/** Reads, parses and pairs one certificate with its key. */
export async function loadServerCert(spec: ServerCertSpec): Promise<ServerCert> {
  const [certPem, keyPem] = await Promise.all([
    readPemFile(spec.cert, 'certificate file'),
    readPemFile(spec.key, 'key file'),
  ]);
  const certificate = parseCertificate(certPem, spec.cert);
  const key = parsePrivateKey(keyPem, spec.key);
  if (!certificate.checkPrivateKey(key)) {
    throw new WsgateError('WSG_TLS_KEY_MISMATCH', { key: spec.key, cert: spec.cert });
  }
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext({ cert: certPem, key: keyPem, minVersion: MIN_TLS_VERSION });
  } catch (err) {
    throw new WsgateError(
      'WSG_TLS_CERT_READ',
      { what: 'certificate file', file: spec.cert, detail: (err as Error).message },
      { cause: err },
    );
  }
  const names = spec.serverNames ?? namesFromSubjectAltName(certificate.subjectAltName).dns;
  return {
    certFile: spec.cert,
    keyFile: spec.key,
    names: names.map(normalizeHost),
    fingerprint256: certificate.fingerprint256,
    validFrom: certificate.validFromDate,
    validTo: certificate.validToDate,
    context,
    cert: certPem,
    key: keyPem,
  };
}

/** Loads every certificate of a listener; the first problem found is thrown (exit 2, naming the file). */
export async function loadServerTls(specs: readonly ServerCertSpec[]): Promise<ServerTls> {
  const certs: ServerCert[] = [];
  for (const spec of specs) certs.push(await loadServerCert(spec));
  if (certs.length === 0) throw new Error('unreachable: a TLS listener has at least one certificate');
  return { certs };
}

/**
 * The certificate for an SNI name: an exact name wins over a wildcard, earlier certificates over later ones,
 * and without a match (or without SNI) the first certificate is served.
 */
export function selectServerCert(server: ServerTls, servername: string | undefined): ServerCert {
  const first = server.certs[0]!;
  if (servername === undefined || servername === '') return first;
  return certificateNaming(server, servername) ?? first;
}

/** The certificate that names `host` (exact before wildcard, earlier before later), if one does. */
function certificateNaming(server: ServerTls, host: string): ServerCert | undefined {
  const name = normalizeHost(host);
  return (
    server.certs.find((c) => c.names.includes(name)) ??
    server.certs.find((c) => c.names.some((p) => matchServerName(p, name)))
  );
}

/**
 * The SNI name of a connection when a request's Host is one another certificate names (RFC 9110 §15.5.20, 421):
 * the client verified the certificate for its SNI name only, so a request on that connection for a host of another
 * certificate was never authenticated for it (domain fronting, or a client reusing a connection across hosts).
 * Undefined when they agree, when one certificate covers both, when no certificate names the Host (an IP address,
 * a name only catch-all routes take: no other certificate's host is reached), or when the client sent no SNI.
 */
export function misdirectedServerName(
  server: ServerTls,
  servername: string | false | null | undefined,
  hostname: string | undefined,
): string | undefined {
  if (typeof servername !== 'string' || servername === '' || hostname === undefined || hostname === '') return;
  if (server.certs.length < 2) return;
  const hostCert = certificateNaming(server, hostname);
  return hostCert === undefined || hostCert === selectServerCert(server, servername) ? undefined : servername;
}
