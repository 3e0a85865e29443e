// What the server's TLS says: version, ALPN, the chain (subjects, issuers, validity) and whether it ends in a public
// root. A chain that ends anywhere else is either a private CA or a TLS inspector re-signing the traffic; through a
// proxy the second is by far the likelier, so the verdict names the issuer as the interceptor and says how to trust
// it. The certificate check itself is Node's (the step connects with the system's roots plus --ca); this module only
// reads the outcome. Pure.
import { explainCertError, isCertVerificationCode, oneLineName } from '../tls/cert-error.ts';
import { fail, ok, type Verdict, warn } from './report.ts';

export type ChainCert = {
  subject: string;
  issuer: string;
  validFrom: string;
  validTo: string;
  fingerprint256: string;
};

export type TlsFacts = {
  protocol: string | undefined;
  alpn: string | false | undefined;
  /** Leaf first, as the server sent it (and Node linked it). */
  chain: ChainCert[];
  authorized: boolean;
  /** Node's verification error code (UNABLE_TO_VERIFY_LEAF_SIGNATURE, CERT_HAS_EXPIRED, …). */
  error: string | undefined;
  /** The chain ends in (or is issued by) one of Node's bundled public roots. */
  publicRoot: boolean;
  /** A proxy tunnel carries this TLS. */
  proxied: boolean;
  /** --insecure: the probe goes on past a failed check. */
  insecure: boolean;
  /** The name checked (servername or IP). */
  host: string;
};

/** The top of the chain: the issuer of the last certificate the server sent. */
export function topIssuer(chain: readonly ChainCert[]): string {
  const last = chain.at(-1);
  return last === undefined ? 'unknown' : oneLineName(last.issuer);
}

function trustHint(issuer: string): string {
  return `If ${issuer} is your organisation’s TLS inspection CA, trust it: --ca FILE here, NODE_EXTRA_CA_CERTS=FILE for Node clients, forward.upstreamCa or an upstream's tls.ca in wsgate; \`wsgate ca trust-help\` shows how for browsers and systems. Or ask for the WebSocket host to be exempted from inspection.`;
}

function describe(f: TlsFacts): string {
  const chain = f.chain.map((c) => oneLineName(c.subject)).join(' ← ');
  return `${f.protocol ?? 'TLS'}, ALPN ${f.alpn === false || f.alpn === undefined ? '(none)' : f.alpn}, chain ${chain || '(empty)'}`;
}

export function judgeTls(f: TlsFacts): Verdict {
  const issuer = topIssuer(f.chain);
  const leaf = f.chain[0];
  if (!f.authorized && f.error !== undefined) {
    const peer =
      leaf === undefined
        ? undefined
        : { subject: leaf.subject, issuer: leaf.issuer, validFrom: leaf.validFrom, validTo: leaf.validTo };
    const failure = isCertVerificationCode(f.error) ? explainCertError(f.error, peer, f.host) : undefined;
    const untrustedIssuer = failure === undefined || failure.reason === 'unknown issuer';
    const verdict = untrustedIssuer
      ? fail(
          f.proxied ? 'TLS_INTERCEPTED' : 'TLS_UNKNOWN_ISSUER',
          f.proxied
            ? `TLS is intercepted by ${issuer}: the certificate for ${f.host} was issued by a CA that is not trusted here (${f.error}; or the server itself uses that private CA)`
            : `the certificate for ${f.host} was issued by ${issuer}, which is not trusted here (${f.error}): a TLS inspector or a private CA`,
          trustHint(issuer),
        )
      : failure.reason === 'self-signed'
        ? fail(
            'TLS_SELF_SIGNED',
            `the certificate ${failure.subject} signed itself and is not trusted here`,
            'Trust that certificate explicitly (--ca FILE; NODE_EXTRA_CA_CERTS for Node clients) or give the server a certificate from a trusted CA.',
          )
        : fail(
            'TLS_CERT_INVALID',
            `the certificate ${failure.subject} (issuer ${failure.issuer}) fails verification: ${failure.detail}`,
            failure.reason === 'hostname mismatch'
              ? 'Connect with a name the certificate lists, or reissue it with this name in subjectAltName.'
              : 'Renew the certificate (and check the clocks of client and server).',
          );
    if (f.insecure) {
      return warn(verdict.code, `${verdict.detail}; going on because of --insecure`, verdict.hint);
    }
    return verdict;
  }
  if (!f.authorized) return fail('TLS_FAILED', `TLS handshake with ${f.host} failed`);
  if (!f.publicRoot) {
    return warn(
      f.proxied ? 'TLS_INTERCEPTED' : 'TLS_PRIVATE_ROOT',
      f.proxied
        ? `${describe(f)}: trusted here, but TLS is intercepted by ${issuer} (not a public root; or the server itself uses that private CA)`
        : `${describe(f)}: trusted here, but the chain ends in ${issuer}, which is not a public root (a private CA or a TLS inspector)`,
      `Clients that trust only public roots (browsers on other machines, mobile apps) will fail. ${trustHint(issuer)}`,
    );
  }
  return ok('TLS_OK', `${describe(f)} (public root)`);
}
