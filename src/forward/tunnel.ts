// The I/O of a CONNECT tunnel after the 200: waiting for the first bytes to decide what the client speaks, the
// upstream connection dialed for the CONNECT (parked until the tunnel's first request takes it), and the blind
// splice for what is not parsed.
import type net from 'node:net';
import tls from 'node:tls';
import { formatHostPort } from '../net/host-port.ts';
import { ignoreError } from '../net/ignore-error.ts';
import type { ConnectionFaults } from '../rules/types.ts';
import { timeTlsHandshake } from '../tls/handshake-time.ts';
import type { KeyLog } from '../tls/keylog.ts';
import { isIpAddress, normalizeHost } from '../tls/names.ts';
import { defaultUpstreamTls, type UpstreamTls, upstreamTlsOptions, watchPeerCertificate } from '../tls/upstream.ts';
import { classifyUpstreamError, type UpstreamTarget } from '../upstream/connect.ts';
import { type JoinStats, joinSockets } from '../websocket/joiner.ts';
import { createLinkShaper, hasLinkFaults } from '../websocket/link-shaper.ts';
import { MAX_SNIFF_BYTES, sniffFirstBytes } from './sniff.ts';

/**
 * What the client spoke first. 'quiet' only when sniffing without an upstream (an intercepted tunnel, dialed
 * lazily): the client sent nothing within `quietMs`, so it may be waiting for a server that speaks first.
 */
export type TunnelContent = 'tls' | 'http' | 'opaque' | 'server-first' | 'closed' | 'idle' | 'quiet';

/**
 * How long a client may take to complete what its first bytes began (a request line, a TLS record header) before
 * the tunnel is spliced blindly anyway: a short "PING" of some protocol must not wait for a space forever.
 */
export const SNIFF_PATIENCE_MS = 1000;

/**
 * Waits until the client's first bytes say what it speaks, or the upstream speaks first (SMTP, MySQL: those are
 * tunnelled blindly). The bytes read stay in the sockets (unshifted), both left paused, for whoever takes over.
 * Without an upstream (not dialed yet), a client silent for `quietMs` ends the wait with 'quiet'.
 */
export function sniffTunnel(
  client: net.Socket,
  upstream: net.Socket | undefined,
  waitMs: number,
  quietMs?: number | undefined,
): Promise<TunnelContent> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let done = false;
    let patience: NodeJS.Timeout | undefined;
    const sockets = upstream === undefined ? [client] : [client, upstream];
    const finish = (content: TunnelContent) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(patience);
      clearTimeout(quiet);
      client.off('data', onClient);
      upstream?.off('data', onUpstream);
      for (const s of sockets) {
        s.off('end', onEnd);
        s.off('close', onEnd);
      }
      client.pause();
      upstream?.pause();
      if (length > 0) client.unshift(Buffer.concat(chunks, length));
      resolve(content);
    };
    const onClient = (chunk: Buffer) => {
      clearTimeout(quiet);
      chunks.push(chunk);
      length += chunk.length;
      const verdict = sniffFirstBytes(length === chunk.length ? chunk : Buffer.concat(chunks, length));
      if (verdict !== 'incomplete') finish(verdict);
      else if (length >= MAX_SNIFF_BYTES) finish('opaque');
      else patience ??= setTimeout(() => finish('opaque'), SNIFF_PATIENCE_MS);
    };
    const onUpstream = (chunk: Buffer) => {
      upstream?.pause();
      upstream?.unshift(chunk);
      finish('server-first');
    };
    const onEnd = () => finish('closed');
    // limits.tunnelIdleTimeout 0 turns the idle limit off.
    const timer = waitMs > 0 ? setTimeout(() => finish('idle'), waitMs) : undefined;
    timer?.unref();
    const quiet =
      upstream === undefined && quietMs !== undefined ? setTimeout(() => finish('quiet'), quietMs) : undefined;
    client.on('data', onClient);
    upstream?.on('data', onUpstream);
    for (const s of sockets) {
      s.once('end', onEnd);
      s.once('close', onEnd);
    }
    client.resume();
    upstream?.resume();
    // A side that half-closed while the CONNECT was dialled emitted its 'end' before anyone listened: without this
    // the tunnel would wait for the idle limit (found by test/fuzz/connect.test.ts: CONNECT, then FIN at once).
    if (sockets.some((s) => s.readableEnded || s.destroyed)) finish('closed');
  });
}

/** TLS toward the destination of an intercepted tunnel: wsgate's own verified connection. */
export type TunnelTls = {
  /** The name sent as SNI and checked against the certificate: the client's SNI name, else the CONNECT host. */
  host: string;
  port: number;
  /** Trusted roots (forward.upstreamCa on top of the defaults). */
  settings: UpstreamTls;
  keyLog?: KeyLog | undefined;
  /** The TLS handshake must finish within this many ms (limits.connectTimeout). */
  timeout: number;
};

/**
 * The socket dialed for a CONNECT, kept for the first request the tunnel carries; later connections (after the
 * first closes, or a keep-alive pool's second) are dialed anew the same way. An intercepted tunnel starts with no
 * socket: the first request dials.
 */
export class TunnelUpstream {
  #parked: net.Socket | undefined;
  #dial: () => Promise<net.Socket>;
  #tls: TunnelTls | undefined;

  constructor(socket: net.Socket | undefined, dial: () => Promise<net.Socket>, tlsOptions?: TunnelTls | undefined) {
    this.#parked = socket;
    this.#dial = dial;
    this.#tls = tlsOptions;
    socket?.once('close', () => {
      if (this.#parked === socket) this.#parked = undefined;
    });
  }

  /**
   * A connection to the destination: the parked one while it is unused and open, else a new one. With `secure`
   * (after TLS interception) wrapped in TLS, verified like any TLS upstream; a failed check rejects with
   * WSG_UPSTREAM_CERT naming the reason and the issuer.
   */
  async take(secure = false): Promise<net.Socket> {
    const parked = this.#parked;
    this.#parked = undefined;
    const raw = parked !== undefined && !parked.destroyed && parked.readable ? parked : await this.#dial();
    // The parked socket was paused while the tunnel was sniffed; whoever takes it reads from it right away.
    raw.resume();
    if (!secure) return raw;
    return upstreamTls(raw, this.#tls);
  }

  destroy(): void {
    this.#parked?.destroy();
    this.#parked = undefined;
  }
}

/** wsgate's TLS client handshake with the destination, over the raw (direct or proxy-tunnelled) socket. */
function upstreamTls(raw: net.Socket, options: TunnelTls | undefined): Promise<tls.TLSSocket> {
  const settings = options?.settings ?? defaultUpstreamTls();
  const host = normalizeHost(options?.host ?? '');
  const authority = formatHostPort(host, options?.port ?? 443);
  const target: UpstreamTarget = { name: authority, url: new URL(`https://${authority}`) };
  const timeoutMs = options?.timeout ?? 10_000;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      socket: raw,
      // The name checked against the certificate; without it Node would check "localhost" (or a proxy's host).
      host,
      // RFC 6066 §3: no SNI for an IP address; the certificate must then carry it as an IP SAN.
      ...(isIpAddress(host) ? {} : { servername: host }),
      ALPNProtocols: ['http/1.1'],
      ...upstreamTlsOptions(settings),
    });
    watchPeerCertificate(socket);
    timeTlsHandshake(socket);
    options?.keyLog?.attach(socket);
    const timer = setTimeout(() => {
      socket.destroy(Object.assign(new Error('TLS handshake timeout'), { code: 'ECONNECT_TIMEOUT' }));
    }, timeoutMs);
    const onError = (err: Error) => {
      clearTimeout(timer);
      raw.destroy();
      reject(classifyUpstreamError(err, target, timeoutMs));
    };
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.on('error', ignoreError);
      resolve(socket);
    });
  });
}

export type BlindTunnelOptions = {
  idleTimeout: number;
  halfCloseLinger: number;
  /** Connection faults a rule asked for (websocket/link-shaper.ts); resetAfter needs messages and is ignored. */
  faults?: ConnectionFaults | undefined;
  maxBufferedBytes?: number | undefined;
};

/** Splices the two sockets byte for byte, with backpressure both ways; resolves when both are closed. */
export function spliceTunnel(
  client: net.Socket,
  upstream: net.Socket,
  options: BlindTunnelOptions,
): { done: Promise<JoinStats>; terminate(detail: string): void } {
  const faults = options.faults;
  const shaper = hasLinkFaults(faults)
    ? createLinkShaper(faults, {
        client,
        upstream,
        maxBufferedBytes: options.maxBufferedBytes ?? 4 * 1024 * 1024,
        onEnd: (end) => joined.markCause({ by: 'wsgate', how: 'fault', detail: end.detail }),
      })
    : undefined;
  const joined = joinSockets(client, upstream, {
    idleTimeout: options.idleTimeout,
    halfCloseLinger: options.halfCloseLinger,
    forward: shaper === undefined ? undefined : (direction, chunk) => shaper.sink(direction).write(chunk),
    endOnward: shaper === undefined ? undefined : (direction) => shaper.endOnward(direction),
  });
  if (shaper !== undefined) void joined.done.then(() => shaper.stop());
  client.resume();
  upstream.resume();
  return { done: joined.done, terminate: (detail) => joined.terminate('shutdown', detail) };
}
