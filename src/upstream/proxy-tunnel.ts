// CONNECT tunnels through an upstream (corporate) proxy. A refused CONNECT is read like any response, so the client
// can be told which proxy said no and why (407 and the scheme it asked for, 403, a 5xx). The exchange is written by
// hand rather than with undici's Client#connect: undici keeps the connection to the proxy open when a CONNECT is
// aborted before the proxy answers (a timeout), and a proxy that never answers would then hold a socket per attempt.
import { STATUS_CODES } from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { formatDuration } from '../config/units.ts';
import { WsgateError } from '../errors.ts';
import { headerValue, parseResponseHead, serializeRequestHead } from '../http/head.ts';
import { isInterimStatus } from '../http/status.ts';
import { ignoreError } from '../net/ignore-error.ts';
import { classifyUpstreamError, type UpstreamTarget } from './connect.ts';
import type { UpstreamProxy } from './proxy-config.ts';

export type TunnelOptions = {
  /** For the TCP connection to the proxy and its answer to CONNECT together. */
  timeout: number;
  /** Added to the CONNECT request (e.g. Via for loop detection). */
  headers?: Record<string, string> | undefined;
  /** Ends the attempt when aborted (its client left): rejects with the reason, the proxy not marked unreachable. */
  signal?: AbortSignal | undefined;
};

/** Errors of tunnels whose proxy was never reached (no TCP connection): a PAC list goes on to its next entry. */
const unreachable = new WeakSet<Error>();

/** Did this error come from a proxy that could not be reached at all (DNS, refused, no answer to the SYN)? */
export function isProxyUnreachable(err: unknown): boolean {
  return err instanceof Error && unreachable.has(err);
}

/** The largest response head a proxy may send to CONNECT. */
const MAX_PROXY_HEAD = 16 * 1024;

/** The proxy as it appears in messages: its name and URL without credentials. */
export function describeProxy(proxy: UpstreamProxy): string {
  return proxy.name === proxy.display ? `proxy ${proxy.display}` : `proxy ${proxy.name} (${proxy.display})`;
}

/** Why a proxy refused, in words a user can act on. */
export function refusalDetail(proxy: UpstreamProxy, status: number, challenge: string | undefined): string {
  const reason = `${status} ${STATUS_CODES[status] ?? ''}`.trim();
  if (status === 407) {
    const scheme = challenge?.trim().split(/\s+/)[0];
    if (proxy.authorization === undefined) {
      return `${reason}: it requires authentication${challenge ? ` (${challenge})` : ''}; put user:password in the proxy URL (${proxy.name})`;
    }
    if (scheme !== undefined && scheme.toLowerCase() !== 'basic') {
      return `${reason}: it asks for ${scheme} authentication, and wsgate sends Basic only`;
    }
    return `${reason}: it rejected the credentials in the proxy URL (${proxy.name})`;
  }
  if (status === 403) return `${reason}: its policy does not allow this destination`;
  if (status >= 500) return `${reason}: the proxy could not reach the destination`;
  return reason;
}

/** How long a proxy that could not be reached goes to the end of PAC lists (Chromium keeps them 5 minutes). */
export const BAD_PROXY_MS = 60_000;

export class ProxyTunnels {
  /** Tunnels being opened, so close() can cut them. */
  #pending = new Set<net.Socket>();
  /** Proxies (by URL) that could not be reached lately, until when: PAC lists try them last. */
  #bad = new Map<string, number>();

  /** Remembers a proxy that could not be reached, so the next connections do not wait on it first. */
  markUnreachable(proxy: UpstreamProxy): void {
    if (this.#bad.size >= 1024) this.#bad.clear();
    this.#bad.set(proxy.url.href, performance.now() + BAD_PROXY_MS);
  }

  /** Was this proxy unreachable within BAD_PROXY_MS? */
  isBad(proxy: UpstreamProxy): boolean {
    const until = this.#bad.get(proxy.url.href);
    if (until === undefined) return false;
    if (until > performance.now()) return true;
    this.#bad.delete(proxy.url.href);
    return false;
  }

  /**
   * A PAC list in the order to try it: proxies unreachable lately move to the end, the rest keep their order
   * (DIRECT included), as Chromium deprioritises bad proxies.
   */
  order(entries: readonly (UpstreamProxy | undefined)[]): (UpstreamProxy | undefined)[] {
    const good = entries.filter((e) => e === undefined || !this.isBad(e));
    return good.length === entries.length ? [...entries] : [...good, ...entries.filter((e) => !good.includes(e))];
  }

  /**
   * Opens a tunnel to `host:port` through the proxy. Resolves with a socket whose bytes reach the destination;
   * rejects with WSG_UPSTREAM_PROXY_REFUSED (carrying the proxy's status) or a dialing error that names the proxy.
   */
  open(proxy: UpstreamProxy, authority: string, options: TunnelOptions): Promise<net.Socket> {
    const asTarget: UpstreamTarget = { name: describeProxy(proxy), url: proxy.url };
    const host = proxy.url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(proxy.url.port || (proxy.url.protocol === 'https:' ? 443 : 80));
    const secure = proxy.url.protocol === 'https:';
    // RFC 9110 §9.3.6: CONNECT names the authority, and Host repeats it.
    const headers: [string, string][] = [['Host', authority]];
    for (const [name, value] of Object.entries(options.headers ?? {})) headers.push([name, value]);
    if (proxy.authorization !== undefined) headers.push(['Proxy-Authorization', proxy.authorization]);
    const request = serializeRequestHead('CONNECT', authority, headers);
    return new Promise((resolve, reject) => {
      const socket: net.Socket = secure
        ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'] })
        : net.connect({ host, port });
      this.#pending.add(socket);
      // A TCP connection to the proxy (TLS sockets emit 'connect' too): from then on the proxy was reached.
      let reached = false;
      socket.once('connect', () => {
        reached = true;
      });
      let buffered: Buffer = Buffer.alloc(0);
      /** Bytes of interim heads read past so far. */
      let interimBytes = 0;
      let settled = false;
      const settle = (err: Error | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.#pending.delete(socket);
        socket.off('data', onData);
        socket.off('error', onError);
        socket.off('close', onClose);
        if (err === undefined) {
          socket.on('error', ignoreError);
          resolve(socket);
        } else {
          socket.on('error', ignoreError);
          socket.destroy();
          reject(err);
        }
      };
      const timer = setTimeout(() => {
        // Still connecting: the proxy itself did not answer; else it took the CONNECT and did not answer that.
        const err = !reached
          ? new WsgateError('WSG_UPSTREAM_TIMEOUT', {
              upstream: describeProxy(proxy),
              timeout: formatDuration(options.timeout),
            })
          : new WsgateError('WSG_UPSTREAM_TIMEOUT', {
              upstream: `${authority} through ${describeProxy(proxy)}`,
              timeout: formatDuration(options.timeout),
            });
        if (!reached) unreachable.add(err);
        settle(err);
      }, options.timeout);
      const onError = (err: Error) => {
        const classified = classifyUpstreamError(err, asTarget, options.timeout);
        if (!reached) unreachable.add(classified);
        settle(classified);
      };
      const onClose = () =>
        settle(
          new WsgateError(
            'WSG_UPSTREAM_PROXY_REFUSED',
            { proxy: describeProxy(proxy), target: authority, detail: 'it closed the connection without answering' },
            { status: 502 },
          ),
        );
      const onData = (chunk: Buffer) => {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        let parsed = parseResponseHead(buffered, MAX_PROXY_HEAD - interimBytes);
        // An interim head (a proxy's 100 Continue) is not its answer to CONNECT: read past it (RFC 9110 §15.2), all
        // heads together within MAX_PROXY_HEAD. A 101 is an answer (and no tunnel).
        while (parsed.state === 'complete' && isInterimStatus(parsed.head.statusCode)) {
          interimBytes += parsed.head.length;
          buffered = buffered.subarray(parsed.head.length);
          parsed = parseResponseHead(buffered, MAX_PROXY_HEAD - interimBytes);
        }
        if (parsed.state === 'incomplete') return;
        if (parsed.state === 'invalid') {
          settle(
            new WsgateError(
              'WSG_UPSTREAM_PROXY_REFUSED',
              { proxy: describeProxy(proxy), target: authority, detail: `its answer is not HTTP: ${parsed.detail}` },
              { status: 502 },
            ),
          );
          return;
        }
        const { statusCode, headers: answer } = parsed.head;
        if (statusCode >= 200 && statusCode <= 299) {
          // The socket goes to its new owner as a fresh one would: flowing, read by whoever listens next (in the
          // same tick). Bytes that came with the head (a destination that speaks first) are put back, and the
          // socket is paused so they wait for the owner's resume().
          const rest = buffered.subarray(parsed.head.length);
          if (rest.length > 0) {
            socket.pause();
            socket.unshift(rest);
          }
          socket.setNoDelay(true);
          settle(undefined);
          return;
        }
        const challenge = headerValue(answer, 'proxy-authenticate');
        settle(
          new WsgateError(
            'WSG_UPSTREAM_PROXY_REFUSED',
            { proxy: describeProxy(proxy), target: authority, detail: refusalDetail(proxy, statusCode, challenge) },
            // 407, 403 and 5xx reach the client as they are: they are the proxy's verdict, and tools know them.
            { status: statusCode === 407 || statusCode === 403 || statusCode >= 500 ? statusCode : 502 },
          ),
        );
      };
      const onAbort = () => settle(options.signal?.reason as Error);
      socket.on('error', onError);
      socket.on('close', onClose);
      socket.on('data', onData);
      if (options.signal?.aborted === true) {
        onAbort();
        return;
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      socket.write(request, 'latin1');
    });
  }

  close(): Promise<void> {
    for (const socket of this.#pending) socket.destroy();
    this.#pending.clear();
    return Promise.resolve();
  }
}
