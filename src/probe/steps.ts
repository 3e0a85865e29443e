// The probe's network steps up to the handshake, in the order a browser takes them: DNS, TCP, CONNECT through the
// proxy, TLS. Each measures itself, records what it saw as facts and hands the answer to judge*.ts for the verdict;
// each returns the socket to go on with only when it succeeded (on failure the socket is destroyed here).
import { X509Certificate } from 'node:crypto';
import dns from 'node:dns/promises';
import net from 'node:net';
import tls from 'node:tls';
import { serializeRequestHead } from '../http/head.ts';
import { formatHostPort } from '../net/host-port.ts';
import { isIpLiteral } from '../net/ip.ts';
import { oneLineName } from '../tls/cert-error.ts';
import { judgeConnect, productOf } from './judge.ts';
import { type ChainCert, judgeTls } from './judge-tls.ts';
import { fail, ok, type StepResult } from './report.ts';
import { bodyPreview, elapsed, interimHeads, readHead, readSome } from './wire.ts';

export type Stepped<T> = { result: StepResult; value?: T };

const USER_AGENT = 'wsgate-probe';

export async function dnsStep(
  host: string,
  role: string,
  timeoutMs: number,
  lookup?: typeof dns.lookup,
): Promise<Stepped<string>> {
  const start = performance.now();
  const bare = host.replace(/^\[|\]$/g, '');
  if (isIpLiteral(bare)) {
    return {
      result: {
        step: 'dns',
        ms: 0,
        verdict: ok('DNS_LITERAL', `${bare} (${role}, an address: no lookup)`),
        facts: { host: bare, addresses: [bare] },
      },
      value: bare,
    };
  }
  try {
    let timer: NodeJS.Timeout | undefined;
    // getaddrinfo has no deadline of its own; a resolver that never answers must not hold the probe.
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(Object.assign(new Error('timeout'), { code: `no answer within ${timeoutMs} ms` })),
        timeoutMs,
      );
    });
    const found = await Promise.race([(lookup ?? dns.lookup)(bare, { all: true }), deadline]).finally(() =>
      clearTimeout(timer),
    );
    const addresses = found.map((a) => a.address);
    return {
      result: {
        step: 'dns',
        ms: elapsed(start),
        verdict: ok('DNS_OK', `${bare} (${role}) → ${addresses.join(', ')}`),
        facts: { host: bare, addresses },
      },
      value: addresses[0]!,
    };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'ERROR';
    return {
      result: {
        step: 'dns',
        ms: elapsed(start),
        verdict: fail(
          'DNS_FAILED',
          `${bare} (${role}) does not resolve: ${code}`,
          role === 'server'
            ? 'Check the name; on a network that resolves outside names only on its proxy, give the proxy (--proxy, --pac or HTTPS_PROXY).'
            : 'Check the proxy’s name (--proxy, the PAC file, HTTPS_PROXY).',
        ),
        facts: { host: bare, error: code },
      },
    };
  }
}

export type TcpTarget = {
  address: string;
  port: number;
  role: string;
  tlsToProxy?: { servername: string; ca?: string[] | undefined } | undefined;
};

export function tcpStep(target: TcpTarget, timeoutMs: number): Promise<Stepped<net.Socket>> {
  const start = performance.now();
  const where = formatHostPort(target.address, target.port);
  return new Promise((resolve) => {
    const socket = net.connect({ host: target.address, port: target.port, noDelay: true });
    const finish = (stepped: Stepped<net.Socket>) => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      if (stepped.value === undefined) socket.destroy();
      resolve(stepped);
    };
    const facts = { address: target.address, port: target.port, role: target.role };
    const onConnect = () =>
      finish({
        result: {
          step: 'tcp',
          ms: elapsed(start),
          verdict: ok('TCP_OK', `connected to ${where} (${target.role})`),
          facts,
        },
        value: socket,
      });
    const onError = (err: NodeJS.ErrnoException) => {
      const refused = err.code === 'ECONNREFUSED';
      finish({
        result: {
          step: 'tcp',
          ms: elapsed(start),
          verdict: refused
            ? fail(
                'TCP_REFUSED',
                `${where} (${target.role}) refused the connection`,
                'Nothing listens there: check the port, and whether the server runs.',
              )
            : fail('TCP_UNREACHABLE', `${where} (${target.role}) is unreachable: ${err.code ?? err.message}`),
          facts: { ...facts, error: err.code ?? err.message },
        },
      });
    };
    const timer = setTimeout(
      () =>
        finish({
          result: {
            step: 'tcp',
            ms: elapsed(start),
            verdict: fail(
              'TCP_TIMEOUT',
              `${where} (${target.role}) did not answer within ${timeoutMs} ms`,
              target.role === 'server'
                ? 'A firewall drops the packets: networks that make browsers use a proxy often block direct connections. Give the proxy (--proxy, --pac or HTTPS_PROXY).'
                : 'A firewall drops the packets, or the proxy is down.',
            ),
            facts,
          },
        }),
      timeoutMs,
    );
    socket.once('connect', onConnect);
    socket.once('error', onError);
  });
}

export type ConnectRequest = { authority: string; port: number; authorization?: string | undefined };

/** CONNECT host:port through the proxy (RFC 9110 §9.3.6); on 2xx the socket is the tunnel. */
export async function connectStep(
  socket: net.Socket,
  req: ConnectRequest,
  timeoutMs: number,
): Promise<Stepped<net.Socket>> {
  const start = performance.now();
  const headers: [string, string][] = [
    ['Host', req.authority],
    ['User-Agent', USER_AGENT],
  ];
  if (req.authorization !== undefined) headers.push(['Proxy-Authorization', req.authorization]);
  socket.write(serializeRequestHead('CONNECT', req.authority, headers));
  // RFC 9110 §15.2: a client reads past interim 1xx heads (100 Continue, 103 Early Hints) to the answer; a 101 is an
  // answer (and no tunnel), so judgeConnect sees it.
  const interim = interimHeads();
  const read = await readHead(socket, timeoutMs, interim.onHead);
  if (!read.ok) {
    socket.destroy();
    return {
      result: {
        step: 'connect',
        ms: elapsed(start),
        verdict: fail(
          'CONNECT_NO_ANSWER',
          `CONNECT ${req.authority}: ${read.detail}${interim.after()}`,
          read.why === 'invalid' ? 'The proxy port does not speak HTTP (is it a SOCKS proxy?).' : undefined,
        ),
        facts: { request: `CONNECT ${req.authority}`, why: read.why, ...interim.facts() },
      },
    };
  }
  const { head } = read;
  const ms = elapsed(start);
  const statusLine = `${head.statusCode} ${head.statusMessage}`.trim();
  const judged = judgeConnect({
    status: head.statusCode,
    statusLine,
    headers: head.headers,
    port: req.port,
    hadCredentials: req.authorization !== undefined,
  });
  const after = interim.after();
  const verdict = after === '' ? judged : { ...judged, detail: `${judged.detail}${after}` };
  const facts: Record<string, unknown> = {
    request: `CONNECT ${req.authority}`,
    status: head.statusCode,
    statusLine,
    headers: head.headers,
    product: productOf(head.headers),
    ...interim.facts(),
  };
  if (!verdict.ok) {
    const body = await readSome(socket, read.rest, 2048, 200);
    facts['body'] = bodyPreview(body, 400);
    socket.destroy();
    return { result: { step: 'connect', ms, verdict, facts } };
  }
  if (read.rest.length > 0) socket.unshift(read.rest);
  return { result: { step: 'connect', ms, verdict, facts }, value: socket };
}

// ---------------------------------------------------------------- TLS

let publicRoots: { fingerprints: Set<string>; subjects: Set<string> } | undefined;

/** Node's bundled (Mozilla) roots: what "a public root" means here. */
function roots() {
  if (publicRoots === undefined) {
    const fingerprints = new Set<string>();
    const subjects = new Set<string>();
    for (const pem of tls.rootCertificates) {
      const cert = new X509Certificate(pem);
      fingerprints.add(cert.fingerprint256);
      subjects.add(oneLineName(cert.subject));
    }
    publicRoots = { fingerprints, subjects };
  }
  return publicRoots;
}

function chainOf(socket: tls.TLSSocket): ChainCert[] {
  const chain: ChainCert[] = [];
  let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (cert !== undefined && cert.raw !== undefined && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    const x = new X509Certificate(cert.raw);
    chain.push({
      subject: oneLineName(x.subject),
      issuer: oneLineName(x.issuer),
      validFrom: x.validFrom,
      validTo: x.validTo,
      fingerprint256: x.fingerprint256,
    });
    cert = cert.issuerCertificate;
  }
  return chain;
}

function endsInPublicRoot(chain: readonly ChainCert[]): boolean {
  const r = roots();
  if (chain.some((c) => r.fingerprints.has(c.fingerprint256))) return true;
  const last = chain.at(-1);
  return last !== undefined && last.subject !== last.issuer && r.subjects.has(last.issuer);
}

export type TlsOptions = {
  host: string;
  /** Extra trusted CAs (--ca), added to Node's default ones. */
  ca?: string[] | undefined;
  insecure: boolean;
  proxied: boolean;
};

export function tlsStep(socket: net.Socket, o: TlsOptions, timeoutMs: number): Promise<Stepped<tls.TLSSocket>> {
  const start = performance.now();
  const servername = isIpLiteral(o.host) ? undefined : o.host;
  return new Promise((resolve) => {
    // The check is done below, after the handshake, so that a failed one still shows the chain and its issuer.
    const secure = tls.connect({
      socket,
      ...(servername === undefined ? {} : { servername }),
      ALPNProtocols: ['http/1.1'],
      rejectUnauthorized: false,
      ...(o.ca === undefined ? {} : { ca: [...tls.getCACertificates('default'), ...o.ca] }),
    });
    const finish = (stepped: Stepped<tls.TLSSocket>) => {
      clearTimeout(timer);
      secure.off('secureConnect', onSecure);
      secure.off('error', onError);
      if (stepped.value === undefined) secure.destroy();
      resolve(stepped);
    };
    const onSecure = () => {
      const chain = chainOf(secure);
      let authorized = secure.authorized;
      let error = secure.authorizationError === null ? undefined : String(secure.authorizationError);
      if (authorized) {
        const peer = secure.getPeerCertificate();
        const mismatch = tls.checkServerIdentity(o.host, peer);
        if (mismatch !== undefined) {
          authorized = false;
          error = (mismatch as NodeJS.ErrnoException).code ?? 'ERR_TLS_CERT_ALTNAME_INVALID';
        }
      }
      const verdict = judgeTls({
        protocol: secure.getProtocol() ?? undefined,
        alpn: secure.alpnProtocol ?? undefined,
        chain,
        authorized,
        error,
        publicRoot: endsInPublicRoot(chain),
        proxied: o.proxied,
        insecure: o.insecure,
        host: o.host,
      });
      const facts = {
        protocol: secure.getProtocol(),
        alpn: secure.alpnProtocol || null,
        chain,
        authorized,
        error: error ?? null,
      };
      const stepped: Stepped<tls.TLSSocket> = { result: { step: 'tls', ms: elapsed(start), verdict, facts } };
      if (verdict.ok) stepped.value = secure;
      finish(stepped);
    };
    const onError = (err: NodeJS.ErrnoException) =>
      finish({
        result: {
          step: 'tls',
          ms: elapsed(start),
          verdict: fail(
            'TLS_FAILED',
            `TLS handshake with ${o.host} failed: ${err.code ?? ''} ${err.message}`.trim(),
            'The other side may not speak TLS on this port (a plain ws:// server?), or a middlebox broke the handshake.',
          ),
          facts: { error: err.code ?? err.message },
        },
      });
    const timer = setTimeout(
      () =>
        finish({
          result: {
            step: 'tls',
            ms: elapsed(start),
            verdict: fail('TLS_TIMEOUT', `no TLS answer from ${o.host} within ${timeoutMs} ms`),
            facts: {},
          },
        }),
      timeoutMs,
    );
    secure.once('secureConnect', onSecure);
    secure.once('error', onError);
  });
}
