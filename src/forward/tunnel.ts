// The I/O of a CONNECT tunnel after the 200: waiting for the first bytes to decide what the client speaks, the
// upstream connection dialed for the CONNECT (parked until the tunnel's first request takes it), and the blind
// splice for what is not parsed.
import type net from 'node:net';
import tls from 'node:tls';
import { defaultUpstreamTls, upstreamTlsOptions } from '../tls/upstream.ts';
import { type JoinStats, joinSockets } from '../websocket/tap.ts';
import { MAX_SNIFF_BYTES, sniffFirstBytes } from './sniff.ts';

export type TunnelContent = 'tls' | 'http' | 'opaque' | 'server-first' | 'closed' | 'idle';

/**
 * How long a client may take to complete what its first bytes began (a request line, a TLS record header) before
 * the tunnel is spliced blindly anyway: a short "PING" of some protocol must not wait for a space forever.
 */
export const SNIFF_PATIENCE_MS = 1000;

/**
 * Waits until the client's first bytes say what it speaks, or the upstream speaks first (SMTP, MySQL: those are
 * tunnelled blindly). The bytes read stay in the sockets (unshifted), both left paused, for whoever takes over.
 */
export function sniffTunnel(client: net.Socket, upstream: net.Socket, waitMs: number): Promise<TunnelContent> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let done = false;
    let patience: NodeJS.Timeout | undefined;
    const finish = (content: TunnelContent) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(patience);
      client.off('data', onClient);
      upstream.off('data', onUpstream);
      for (const s of [client, upstream]) {
        s.off('end', onEnd);
        s.off('close', onEnd);
      }
      client.pause();
      upstream.pause();
      if (length > 0) client.unshift(Buffer.concat(chunks, length));
      resolve(content);
    };
    const onClient = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      const verdict = sniffFirstBytes(length === chunk.length ? chunk : Buffer.concat(chunks, length));
      if (verdict !== 'incomplete') finish(verdict);
      else if (length >= MAX_SNIFF_BYTES) finish('opaque');
      else patience ??= setTimeout(() => finish('opaque'), SNIFF_PATIENCE_MS);
    };
    const onUpstream = (chunk: Buffer) => {
      upstream.pause();
      upstream.unshift(chunk);
      finish('server-first');
    };
    const onEnd = () => finish('closed');
    const timer = setTimeout(() => finish('idle'), waitMs);
    timer.unref();
    client.on('data', onClient);
    upstream.on('data', onUpstream);
    for (const s of [client, upstream]) {
      s.once('end', onEnd);
      s.once('close', onEnd);
    }
    client.resume();
    upstream.resume();
  });
}

/**
 * The socket dialed for a CONNECT, kept for the first request the tunnel carries; later connections (after the
 * first closes, or a keep-alive pool's second) are dialed anew the same way.
 */
export class TunnelUpstream {
  #parked: net.Socket | undefined;
  #dial: () => Promise<net.Socket>;
  #servername: string | undefined;

  constructor(socket: net.Socket, dial: () => Promise<net.Socket>, servername?: string | undefined) {
    this.#parked = socket;
    this.#dial = dial;
    this.#servername = servername;
    socket.once('close', () => {
      if (this.#parked === socket) this.#parked = undefined;
    });
  }

  /** A connection to the destination: the parked one while it is unused and open, else a new one. */
  async take(secure = false): Promise<net.Socket> {
    const parked = this.#parked;
    this.#parked = undefined;
    const raw = parked !== undefined && !parked.destroyed && parked.readable ? parked : await this.#dial();
    // The parked socket was paused while the tunnel was sniffed; whoever takes it reads from it right away.
    raw.resume();
    if (!secure) return raw;
    // After TLS interception the upstream side is TLS too, verified like any TLS upstream.
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        socket: raw,
        servername: this.#servername,
        ALPNProtocols: ['http/1.1'],
        ...upstreamTlsOptions(defaultUpstreamTls()),
      });
      socket.once('error', reject);
      socket.once('secureConnect', () => {
        socket.off('error', reject);
        socket.on('error', () => {});
        resolve(socket);
      });
    });
  }

  destroy(): void {
    this.#parked?.destroy();
    this.#parked = undefined;
  }
}

export type BlindTunnelOptions = { idleTimeout: number; halfCloseLinger: number };

/** Splices the two sockets byte for byte, with backpressure both ways; resolves when both are closed. */
export function spliceTunnel(
  client: net.Socket,
  upstream: net.Socket,
  options: BlindTunnelOptions,
): { done: Promise<JoinStats>; terminate(detail: string): void } {
  const joined = joinSockets(client, upstream, {
    idleTimeout: options.idleTimeout,
    halfCloseLinger: options.halfCloseLinger,
  });
  client.resume();
  upstream.resume();
  return { done: joined.done, terminate: (detail) => joined.terminate('shutdown', detail) };
}
