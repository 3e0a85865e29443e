// How wsgate verifies the TLS upstreams it connects to (wss:// and https://): the roots it trusts (Node's bundled
// roots, NODE_EXTRA_CA_CERTS, the operating system's store, plus an upstream's own tls.ca), the name it checks
// (tls.servername, else the URL's host), and tls.insecure for one named upstream. It also keeps the certificate
// an upstream presented when verification fails, so the 502 can say who issued it.
import { createHash, X509Certificate } from 'node:crypto';
import https from 'node:https';
import tls from 'node:tls';
import { WsgateError } from '../errors.ts';
import { UPSTREAM_AGENT_OPTIONS } from '../http/keep-alive.ts';
import { isCertVerificationCode } from './cert-error.ts';
import type { KeyLog } from './keylog.ts';
import { upstreamServerName } from './names.ts';
import { parseCertificate, readPemFile } from './server-certs.ts';

export type UpstreamTlsSpec = {
  ca?: string | undefined;
  servername?: string | undefined;
  insecure?: boolean | undefined;
};

export type UpstreamTls = {
  /** The extra CA file (for logs and messages). */
  caFile: string | undefined;
  servername: string | undefined;
  /** Verification is off for this upstream: allowed, but warned about at start and on every connection. */
  insecure: boolean;
  /** The trusted roots (system + tls.ca), built once: a context with a few hundred roots costs ~10 ms. */
  secureContext: tls.SecureContext;
  /** Identifies the settings (CA content included), e.g. to pick a connection pool. */
  key: string;
};

let systemRoots: string[] | undefined;

/**
 * What wsgate trusts by default: Node's own store (bundled Mozilla roots and NODE_EXTRA_CA_CERTS) and the
 * operating system's, so a CA that IT installed on the machine is trusted here as it is by browsers.
 */
export function defaultRoots(): readonly string[] {
  if (systemRoots === undefined) {
    let system: string[] = [];
    try {
      system = tls.getCACertificates('system');
    } catch {
      // No readable system store on this platform: Node's own roots remain.
    }
    systemRoots = [...new Set([...tls.getCACertificates('default'), ...system])];
  }
  return systemRoots;
}

let defaultTls: UpstreamTls | undefined;

/** The settings of a TLS upstream without tls: in the config (every inline wss:// or https:// URL). */
export function defaultUpstreamTls(): UpstreamTls {
  defaultTls ??= {
    caFile: undefined,
    servername: undefined,
    insecure: false,
    secureContext: tls.createSecureContext({ ca: [...defaultRoots()] }),
    key: 'default',
  };
  return defaultTls;
}

/** Reads an upstream's tls settings (its CA file must be readable PEM: exit 2 naming it otherwise). */
export async function loadUpstreamTls(spec: UpstreamTlsSpec | undefined): Promise<UpstreamTls> {
  if (spec === undefined || (spec.ca === undefined && spec.servername === undefined && !spec.insecure)) {
    return defaultUpstreamTls();
  }
  let caPem: string | undefined;
  if (spec.ca !== undefined) {
    caPem = await readPemFile(spec.ca, 'upstream CA file');
    parseCertificate(caPem, spec.ca, 'upstream CA file');
  }
  let secureContext: tls.SecureContext;
  try {
    secureContext = tls.createSecureContext({
      ca: caPem === undefined ? [...defaultRoots()] : [...defaultRoots(), caPem],
    });
  } catch (err) {
    throw new WsgateError(
      'WSG_TLS_CERT_READ',
      { what: 'upstream CA file', file: spec.ca ?? '', detail: (err as Error).message },
      { cause: err },
    );
  }
  const caHash = caPem === undefined ? '' : createHash('sha256').update(caPem).digest('hex').slice(0, 16);
  return {
    caFile: spec.ca,
    servername: spec.servername,
    insecure: spec.insecure ?? false,
    secureContext,
    key: `ca=${caHash};sni=${spec.servername ?? ''};insecure=${spec.insecure ? 1 : 0}`,
  };
}

/** The tls.connect options that carry an upstream's settings. */
export function upstreamTlsOptions(
  settings: UpstreamTls,
): Pick<tls.ConnectionOptions, 'secureContext' | 'rejectUnauthorized' | 'servername'> {
  return {
    secureContext: settings.secureContext,
    rejectUnauthorized: !settings.insecure,
    ...(settings.servername === undefined ? {} : { servername: settings.servername }),
  };
}

const peerCertificates = new WeakMap<object, X509Certificate>();

/**
 * Keeps the certificate the peer presents, and hangs it on a verification error. Node destroys the socket (and
 * with it the certificate) before 'error' is emitted, so it is read on the internal 'secure' event that precedes
 * Node's own check (a listener prepended to it runs first). Only an explanation depends on this.
 */
export function watchPeerCertificate(socket: tls.TLSSocket): void {
  let seen: Buffer | undefined;
  socket.prependOnceListener('secure', () => {
    // getPeerCertificate, not getPeerX509Certificate: on Node 24 the latter, called first, leaves Node's own
    // hostname check an empty certificate (every name then "mismatches").
    const raw = socket.getPeerCertificate()?.raw;
    seen = raw !== undefined && raw.length > 0 ? raw : undefined;
  });
  socket.prependListener('error', (err: NodeJS.ErrnoException) => {
    if (seen === undefined || !isCertVerificationCode(err.code)) return;
    try {
      peerCertificates.set(err, new X509Certificate(seen));
    } catch {
      // An unparsable certificate: the explanation goes without its names.
    }
  });
}

/** The certificate a verification error was about, when watchPeerCertificate saw it. */
export function peerCertificateOf(err: unknown): X509Certificate | undefined {
  return err !== null && typeof err === 'object' ? peerCertificates.get(err) : undefined;
}

/**
 * An https.Agent for one upstream host and its settings: pooled keep-alive connections, verified as configured.
 * The name sent as SNI and checked is fixed here (tls.servername, else the URL's host): Node would otherwise take
 * it from the request's Host header, which a reverse proxy passes on from the client.
 */
export function createUpstreamAgent(settings: UpstreamTls, host: string, keyLog?: KeyLog | undefined): https.Agent {
  const agent = new UpstreamAgent({
    ...UPSTREAM_AGENT_OPTIONS,
    // Agent options override the request's (http-proxy-3 sets rejectUnauthorized per request).
    ...upstreamTlsOptions(settings),
    // "" means no SNI (IP literals, RFC 6066 §3), and stops Node from deriving one from the Host header.
    servername: settings.servername ?? upstreamServerName(host) ?? '',
    ALPNProtocols: ['http/1.1'],
  });
  keyLog?.attach(agent);
  return agent;
}

class UpstreamAgent extends https.Agent {
  override createConnection(...args: Parameters<https.Agent['createConnection']>) {
    const socket = super.createConnection(...args);
    if (socket instanceof tls.TLSSocket) watchPeerCertificate(socket);
    return socket;
  }
}
