// Opens sockets to upstreams and turns the ways that can fail into coded errors a user can act on.
// Corporate-proxy tunnels (CONNECT through an upstream proxy) will plug in here too.
import net from 'node:net';
import tls from 'node:tls';
import { WsgateError } from '../errors.ts';

export type UpstreamTarget = {
  /** The name shown in logs and error bodies (a configured name or the URL's origin). */
  name: string;
  url: URL;
};

export function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

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

/** Maps a socket error from dialing an upstream to a WsgateError with the right code and status. */
export function classifyUpstreamError(err: unknown, target: UpstreamTarget, timeoutMs: number): WsgateError {
  if (err instanceof WsgateError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const upstream = target.name;
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
  /** Unsent bytes the socket holds before write() asks the writer to wait. */
  highWaterMark?: number | undefined;
};

/**
 * Dials the upstream (TCP, or TLS for https/wss) and resolves once the socket is ready for bytes.
 * The socket comes back with an 'error' listener already attached, so a late error cannot crash the process.
 */
export function connectUpstream(target: UpstreamTarget, options: ConnectOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const host = socketHost(target.url);
    const port = defaultPort(target.url);
    const secure = isTlsUrl(target.url);
    // highWaterMark is a stream option that net/tls pass through; @types/node does not declare it there.
    const buffering = options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark };
    const tlsOptions: tls.ConnectionOptions = {
      host,
      port,
      servername: options.servername ?? (net.isIP(host) ? undefined : host),
      ca: options.ca,
      ALPNProtocols: ['http/1.1'],
      ...buffering,
    };
    const tcpOptions: net.TcpNetConnectOpts = { host, port, ...buffering };
    const socket: net.Socket = secure ? tls.connect(tlsOptions) : net.connect(tcpOptions);
    const timer = setTimeout(() => {
      const error = Object.assign(new Error('connect timeout'), { code: 'ECONNECT_TIMEOUT' });
      socket.destroy(error);
    }, options.connectTimeout);
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(classifyUpstreamError(err, target, options.connectTimeout));
    };
    socket.once('error', onError);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.on('error', () => {
        // The owner attaches its own handler; this one only keeps an early error from being uncaught.
      });
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}
