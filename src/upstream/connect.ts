// Opens sockets to upstreams and turns the ways that can fail into coded errors a user can act on.
// An upstream is reached directly or through a CONNECT tunnel of an upstream (corporate) proxy; TLS for wss/https
// runs over either the same way.
import net from 'node:net';
import tls from 'node:tls';
import { formatDuration } from '../config/units.ts';
import { WsgateError } from '../errors.ts';
import { formatHostPort } from '../net/host-port.ts';
import { ignoreError } from '../net/ignore-error.ts';
import { explainCertError, isCertVerificationCode } from '../tls/cert-error.ts';
import { timeTlsHandshake } from '../tls/handshake-time.ts';
import type { KeyLog } from '../tls/keylog.ts';
import { upstreamServerName } from '../tls/names.ts';
import { peerCertificateOf, watchPeerCertificate } from '../tls/upstream.ts';
import type { UpstreamRoute } from './network.ts';
import type { UpstreamProxy } from './proxy-config.ts';
import { isProxyUnreachable } from './proxy-tunnel.ts';

export type UpstreamTarget = {
  /** The name shown in logs and error bodies (a configured name or the URL's origin). */
  name: string;
  url: URL;
};

/** Host for net.connect: URL hostnames keep IPv6 brackets, sockets want them off. */
export function socketHost(url: URL): string {
  const host = url.hostname;
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

export function defaultPort(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' || url.protocol === 'wss:' ? 443 : 80;
}

export function isTlsUrl(url: URL): boolean {
  return url.protocol === 'https:' || url.protocol === 'wss:';
}

/**
 * A failed certificate check as a 502 that says why (self-signed, expired, not yet valid, hostname mismatch,
 * unknown issuer) and who issued the certificate: a corporate TLS inspector is recognised by that issuer.
 */
export function upstreamCertError(err: unknown, target: UpstreamTarget): WsgateError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  // Node's hostname check puts the name it checked on the error (the servername override, else the URL's host).
  const host = (err as { host?: unknown }).host;
  const peer = peerCertificateOf(err);
  const failure = explainCertError(code, peer, typeof host === 'string' ? host : socketHost(target.url));
  return new WsgateError(
    'WSG_UPSTREAM_CERT',
    {
      upstream: target.name,
      reason: failure.reason,
      detail: failure.detail,
      subject: failure.subject,
      issuer: failure.issuer,
      tlsCode: failure.code,
    },
    { cause: err },
  );
}

/**
 * Parser errors of an upstream's answer: Node's http client (http-proxy-3) reports llhttp's HPE_* codes, undici the
 * same (HTTPParserError) or its own. The upstream was reached and answered, so "unreachable" would send a user
 * looking at the network; nginx says "upstream sent invalid header" with its 502. Not a sign the server is down
 * (upstream/balancer SERVER_DOWN), as nginx's default proxy_next_upstream leaves out invalid_header.
 */
function malformedAnswer(code: string | undefined, err: unknown): string | undefined {
  if (code === 'HPE_HEADER_OVERFLOW' || code === 'UND_ERR_HEADERS_OVERFLOW') return 'its response head is too large';
  if (code === undefined || !(code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH')) return;
  return `${(err as Error).message} (${code})`;
}

/** Maps a socket error from dialing an upstream to a WsgateError with the right code and status. */
export function classifyUpstreamError(err: unknown, target: UpstreamTarget, timeoutMs: number): WsgateError {
  if (err instanceof WsgateError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const upstream = target.name;
  if (isCertVerificationCode(code)) return upstreamCertError(err, target);
  const malformed = malformedAnswer(code, err);
  if (malformed !== undefined) {
    return new WsgateError('WSG_UPSTREAM_BAD_RESPONSE', { upstream, detail: malformed }, { cause: err });
  }
  switch (code) {
    case 'ECONNREFUSED':
      return new WsgateError('WSG_UPSTREAM_REFUSED', { upstream }, { cause: err });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new WsgateError('WSG_UPSTREAM_DNS', { host: target.url.hostname }, { cause: err });
    case 'ETIMEDOUT':
    case 'ECONNECT_TIMEOUT':
      return new WsgateError('WSG_UPSTREAM_TIMEOUT', { upstream, timeout: formatDuration(timeoutMs) }, { cause: err });
    case 'ECONNRESET':
    case 'EPIPE':
      return new WsgateError('WSG_UPSTREAM_RESET', { upstream, detail: code }, { cause: err });
    default:
      return new WsgateError(
        'WSG_UPSTREAM_UNREACHABLE',
        { upstream, detail: (err as Error | undefined)?.message ?? String(err) },
        { cause: err },
      );
  }
}

export type ConnectOptions = {
  connectTimeout: number;
  /** Extra trusted CAs and SNI override for TLS upstreams. */
  ca?: string | Buffer | undefined;
  servername?: string | undefined;
  /** Trusted roots built once per upstream (src/tls/upstream.ts); takes the place of `ca`. */
  secureContext?: tls.SecureContext | undefined;
  /** false only for an upstream with tls.insecure: the caller warns about every such connection. */
  rejectUnauthorized?: boolean | undefined;
  /** Where the TLS secrets of the connection go (SSLKEYLOGFILE / tls.keyLog). */
  keyLog?: KeyLog | undefined;
  /** Unsent bytes the socket holds before write() asks the writer to wait. */
  highWaterMark?: number | undefined;
  /** Direct (undefined), or through an upstream proxy: the caller asks its UpstreamNetwork for the route. */
  route?: UpstreamRoute | undefined;
  /** Name resolution for a direct connection (forward mode checks every address before it is dialed). */
  lookup?: net.LookupFunction | undefined;
  /**
   * A PROXY protocol header (upstreams[].proxyProtocol) to write before anything else on the connection: before TLS,
   * inside an upstream proxy's tunnel.
   */
  proxyHeader?: Buffer | undefined;
  /** Checked before a direct connection (forward mode: a literal address against the policy); throws to refuse. */
  beforeDirect?: (() => void) | undefined;
  /** Told which entry of the route connected (undefined: direct), when the route has PAC fallbacks. */
  onEntry?: ((proxy: UpstreamProxy | undefined, skipped: readonly SkippedEntry[]) => void) | undefined;
  /**
   * Ends the attempt when aborted (the client it was for left): the socket is closed and the promise rejects with
   * the signal's reason, which is nobody's failure to count against a server or a proxy.
   */
  signal?: AbortSignal | undefined;
};

/**
 * Destroys `socket` with the signal's reason once the signal aborts (at once if it has); returns what stops
 * listening, for when the attempt has settled.
 */
function destroyOnAbort(socket: net.Socket, signal: AbortSignal | undefined): () => void {
  if (signal === undefined) return noop;
  const onAbort = () => socket.destroy(signal.reason as Error);
  if (signal.aborted) {
    onAbort();
    return noop;
  }
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

function noop(): void {}

/** A PAC entry passed over because its proxy could not be reached. */
export type SkippedEntry = { proxy: UpstreamProxy; error: WsgateError };

/**
 * Dials the upstream directly or through an upstream proxy (see ConnectOptions.route), with TLS for https/wss,
 * and resolves once the socket is ready for bytes. The socket comes back with an 'error' listener attached.
 */
export function connectUpstream(target: UpstreamTarget, options: ConnectOptions): Promise<net.Socket> {
  const route = options.route;
  if (route?.fallbacks !== undefined) return connectInOrder(target, route, options);
  if (route?.proxy === undefined) {
    options.beforeDirect?.();
    return connectDirect(target, options);
  }
  return connectThroughProxy(target, route, route.proxy, options);
}

/**
 * A PAC answer's list, as browsers use it: each proxy in turn until one can be reached (a proxy that answers, even
 * with a refusal, ends the search); DIRECT is tried where it stands, and its failure is final.
 */
async function connectInOrder(target: UpstreamTarget, route: UpstreamRoute, options: ConnectOptions) {
  const entries = route.tunnels.order([route.proxy, ...(route.fallbacks ?? [])]);
  const skipped: SkippedEntry[] = [];
  for (const [i, entry] of entries.entries()) {
    if (entry === undefined) {
      options.beforeDirect?.();
      const socket = await connectDirect(target, options);
      options.onEntry?.(undefined, skipped);
      return socket;
    }
    try {
      const socket = await connectThroughProxy(target, route, entry, options);
      options.onEntry?.(entry, skipped);
      return socket;
    } catch (err) {
      if (!isProxyUnreachable(err)) throw err;
      route.tunnels.markUnreachable(entry);
      if (i === entries.length - 1) throw err;
      skipped.push({ proxy: entry, error: err as WsgateError });
    }
  }
  throw new Error('unreachable: a route has at least one entry');
}

async function connectThroughProxy(
  target: UpstreamTarget,
  route: UpstreamRoute,
  proxy: UpstreamProxy,
  options: ConnectOptions,
): Promise<net.Socket> {
  const host = socketHost(target.url);
  const started = performance.now();
  const raw = await route.tunnels.open(proxy, formatHostPort(host, defaultPort(target.url)), {
    timeout: options.connectTimeout,
    headers: route.headers,
    signal: options.signal,
  });
  // The PROXY header is the upstream's first byte: inside the tunnel, before TLS.
  if (options.proxyHeader !== undefined) raw.write(options.proxyHeader);
  if (!isTlsUrl(target.url)) return raw;
  // TLS with the upstream runs inside the tunnel: the proxy sees only the CONNECT and encrypted bytes.
  return secureOver(raw, target, options, started);
}

/** TLS with the upstream over a connection already open (a tunnel, or TCP that carried a PROXY header first). */
function secureOver(raw: net.Socket, target: UpstreamTarget, options: ConnectOptions, started: number) {
  const host = socketHost(target.url);
  const remaining = Math.max(1, options.connectTimeout - (performance.now() - started));
  return new Promise<net.Socket>((resolve, reject) => {
    const tlsSocket = tls.connect({
      socket: raw,
      // Only for the certificate's name check (the socket is open): without it Node checks "localhost".
      host,
      servername: options.servername ?? upstreamServerName(host),
      ca: options.ca,
      ALPNProtocols: ['http/1.1'],
      ...(options.secureContext === undefined ? {} : { secureContext: options.secureContext }),
      rejectUnauthorized: options.rejectUnauthorized ?? true,
    });
    watchPeerCertificate(tlsSocket);
    timeTlsHandshake(tlsSocket);
    options.keyLog?.attach(tlsSocket);
    const timer = setTimeout(() => {
      tlsSocket.destroy(Object.assign(new Error('TLS handshake timeout'), { code: 'ECONNECT_TIMEOUT' }));
    }, remaining);
    const stopAbort = destroyOnAbort(tlsSocket, options.signal);
    const onError = (err: Error) => {
      clearTimeout(timer);
      stopAbort();
      raw.destroy();
      reject(classifyUpstreamError(err, target, options.connectTimeout));
    };
    tlsSocket.once('error', onError);
    tlsSocket.once('secureConnect', () => {
      clearTimeout(timer);
      stopAbort();
      tlsSocket.off('error', onError);
      tlsSocket.on('error', ignoreError);
      tlsSocket.setNoDelay(true);
      resolve(tlsSocket);
    });
  });
}

/**
 * Dials the upstream (TCP, or TLS for https/wss) and resolves once the socket is ready for bytes.
 * The socket comes back with an 'error' listener already attached, so a late error cannot crash the process.
 */
export function connectDirect(target: UpstreamTarget, options: ConnectOptions): Promise<net.Socket> {
  // With a PROXY header, TCP comes first (the header its first bytes), then TLS over it.
  if (options.proxyHeader !== undefined && isTlsUrl(target.url)) {
    const started = performance.now();
    return connectSocket(target, options, false).then((raw) => secureOver(raw, target, options, started));
  }
  return connectSocket(target, options, isTlsUrl(target.url));
}

function connectSocket(target: UpstreamTarget, options: ConnectOptions, secure: boolean): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const host = socketHost(target.url);
    const port = defaultPort(target.url);
    // highWaterMark is a stream option that net/tls pass through; @types/node does not declare it there.
    const buffering = options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark };
    const lookup = options.lookup === undefined ? {} : { lookup: options.lookup };
    const tlsOptions: tls.ConnectionOptions = {
      host,
      port,
      servername: options.servername ?? upstreamServerName(host),
      ca: options.ca,
      ALPNProtocols: ['http/1.1'],
      ...(options.secureContext === undefined ? {} : { secureContext: options.secureContext }),
      rejectUnauthorized: options.rejectUnauthorized ?? true,
      ...buffering,
      ...lookup,
    };
    const tcpOptions: net.TcpNetConnectOpts = { host, port, ...buffering, ...lookup };
    let socket: net.Socket;
    if (secure) {
      const tlsSocket = tls.connect(tlsOptions);
      watchPeerCertificate(tlsSocket);
      timeTlsHandshake(tlsSocket);
      options.keyLog?.attach(tlsSocket);
      socket = tlsSocket;
    } else {
      socket = net.connect(tcpOptions);
      // Written once connected, before any byte of the caller's.
      if (options.proxyHeader !== undefined) socket.write(options.proxyHeader);
    }
    const timer = setTimeout(() => {
      const error = Object.assign(new Error('connect timeout'), { code: 'ECONNECT_TIMEOUT' });
      socket.destroy(error);
    }, options.connectTimeout);
    const stopAbort = destroyOnAbort(socket, options.signal);
    const onError = (err: Error) => {
      clearTimeout(timer);
      stopAbort();
      reject(classifyUpstreamError(err, target, options.connectTimeout));
    };
    socket.once('error', onError);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      stopAbort();
      socket.off('error', onError);
      // The owner attaches its own handler; this one only keeps an early error from being uncaught. A function from
      // outside: an arrow here would keep this call's context (target, options and their closures) with the socket.
      socket.on('error', ignoreError);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}
