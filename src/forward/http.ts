// Plain HTTP through the forward proxy, with undici: absolute-form requests (`GET http://host/path`) and the
// requests parsed inside a CONNECT tunnel. Bodies stream both ways with backpressure, hop-by-hop headers stop
// here (Proxy-Authorization among them), Via is added on proxied requests and their responses. A destination
// behind an upstream proxy is reached with absolute-form through it (what corporate proxies expect for http);
// https destinations go through a CONNECT tunnel with TLS inside.
import type http from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Agent, Dispatcher, ProxyAgent } from 'undici';
import { formatDuration } from '../config/units.ts';
import { WsgateError } from '../errors.ts';
import { relayEarlyHints } from '../front/early-hints.ts';
import { sendErrorResponse } from '../front/error-response.ts';
import { objectToPairs } from '../http/head.ts';
import { relayedTrailers } from '../http/hop-by-hop.ts';
import type { Logger } from '../log/logger.ts';
import { classifyUpstreamError, type UpstreamTarget } from '../upstream/connect.ts';
import { hasNoBody, retryChoice } from '../upstream/http-retry.ts';
import type { UpstreamProxy } from '../upstream/proxy-config.ts';
import { describeProxy, refusalDetail } from '../upstream/proxy-tunnel.ts';
import type { ForwardDialer } from './dial.ts';
import { appendVia, endToEndHeaders } from './headers.ts';
import { undici } from './undici.ts';

export type RelayOptions = {
  /** Where the request goes: the full URL (origin + path and query). */
  url: URL;
  /**
   * The path and query to send, as the client wrote them (the front checked them); default: the URL's. A forward
   * proxy passes the client's request on, and a URL parser would remove dot segments and re-encode on the way.
   */
  path?: string | undefined;
  /** Undefined: direct (or a CONNECT tunnel for https); a proxy: absolute-form through it. */
  proxy: UpstreamProxy | undefined;
  /** The Host header sent: the target's authority for absolute-form; the client's own inside a tunnel. */
  host: string;
  /** This instance's Via entry; undefined inside a tunnel, where wsgate stays invisible. */
  via: string | undefined;
  responseTimeout: number;
  connectTimeout: number;
  /** A dispatcher to use instead of the shared ones (a tunnel's own connection). */
  dispatcher?: Dispatcher | undefined;
  /**
   * A PAC answer's further entries after `proxy` (undefined: DIRECT): a request without a body goes on to the next
   * when the proxy before cannot be reached, as browsers do.
   */
  fallbacks?: readonly (UpstreamProxy | undefined)[] | undefined;
  /** Told about each PAC entry passed over because its proxy could not be reached. */
  onSkip?: ((proxy: UpstreamProxy, error: WsgateError) => void) | undefined;
  /** Told when the request is sent again on a new connection (a kept-alive one was closed under it). */
  onRetry?: ((error: WsgateError) => void) | undefined;
};

/** One info line per request sent again on a new connection (RelayOptions.onRetry). */
export function logRetry(log: Logger, target: string, error: WsgateError): void {
  log.info(
    { event: 'http.upstream_retry', code: error.code, target, reason: 'kept-alive connection closed' },
    `${target}: sent again on a new connection: ${error.message}`,
  );
}

export type RelayResult = { status: number; error?: WsgateError; via?: UpstreamProxy | undefined };

/** undici's failures to reach the proxy at all (no TCP connection): a PAC list may go on to its next entry. */
function proxyUnreachable(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  const cause = (err as { cause?: { code?: string } }).cause?.code;
  return ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT'].some(
    (c) => c === code || c === cause,
  );
}

/** Methods whose requests carry no body unless the client says so with Content-Length or Transfer-Encoding. */
/** undici's errors, and our connector's, as the coded error the client sees. */
export function classifyRelayError(err: unknown, target: UpstreamTarget, options: RelayOptions): WsgateError {
  if (err instanceof WsgateError) return err;
  const code = (err as { code?: string }).code;
  const timeout = (ms: number) =>
    new WsgateError('WSG_UPSTREAM_TIMEOUT', { upstream: target.name, timeout: formatDuration(ms) }, { cause: err });
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return timeout(options.responseTimeout);
    case 'UND_ERR_CONNECT_TIMEOUT':
      return timeout(options.connectTimeout);
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return new WsgateError(
        'WSG_UPSTREAM_RESET',
        { upstream: target.name, detail: 'connection closed' },
        { cause: err },
      );
    default:
      break;
  }
  // undici's ProxyAgent reports a proxy's refusal as "Proxy response (403) !== 200 when HTTP Tunneling" or
  // "Proxy Authentication Required (407)".
  const proxied = /^Proxy (?:response|Authentication Required) \((\d{3})\)/.exec((err as Error).message ?? '');
  if (proxied !== null && options.proxy !== undefined) {
    const status = Number(proxied[1]);
    return new WsgateError(
      'WSG_UPSTREAM_PROXY_REFUSED',
      {
        proxy: describeProxy(options.proxy),
        target: target.name,
        detail: refusalDetail(options.proxy, status, undefined),
      },
      { cause: err, status },
    );
  }
  // Errors while reaching the upstream proxy itself name the proxy.
  const cause = (err as { cause?: { code?: string } }).cause;
  if (options.proxy !== undefined && (cause?.code ?? code) === 'ECONNREFUSED') {
    return new WsgateError('WSG_UPSTREAM_REFUSED', { upstream: describeProxy(options.proxy) }, { cause: err });
  }
  return classifyUpstreamError(cause?.code !== undefined ? cause : err, target, options.connectTimeout);
}

/** Plain requests of one forward listener; undici is loaded by the listener's listen() before any arrives. */
export class HttpRelay {
  #direct: Agent | undefined;
  #proxies = new Map<string, ProxyAgent>();
  readonly #dialer: () => ForwardDialer;
  readonly #connectTimeout: () => number;

  constructor(dialer: () => ForwardDialer, connectTimeout: () => number) {
    this.#dialer = dialer;
    this.#connectTimeout = connectTimeout;
  }

  /** One pool per origin; every new connection is dialed by the forward dialer (policy checks, proxies, TLS). */
  #directAgent(): Agent {
    this.#direct ??= new (undici().Agent)({
      keepAliveTimeout: 4000,
      connect: (opts, callback) => {
        const secure = opts.protocol === 'https:';
        const port = opts.port === '' || opts.port === undefined ? (secure ? 443 : 80) : Number(opts.port);
        this.#dialer()
          .dial(
            { host: opts.hostname, port },
            { connectTimeout: this.#connectTimeout(), secure, kind: secure ? 'https' : 'http' },
          )
          .then(
            (socket) => callback(null, socket),
            (err: Error) => callback(err, null),
          );
      },
    });
    return this.#direct;
  }

  #dispatcherFor(options: RelayOptions): Dispatcher {
    if (options.dispatcher !== undefined) return options.dispatcher;
    if (options.proxy === undefined || options.url.protocol === 'https:') return this.#directAgent();
    const key = `${options.proxy.url.href} ${options.proxy.authorization ?? ''}`;
    let agent = this.#proxies.get(key);
    if (agent === undefined) {
      agent = new (undici().ProxyAgent)({
        uri: options.proxy.url.href,
        ...(options.proxy.authorization === undefined ? {} : { token: options.proxy.authorization }),
        keepAliveTimeout: 4000,
      });
      this.#proxies.set(key, agent);
    }
    return agent;
  }

  /** Relays one request and its response. Never rejects: a failure becomes a coded error response. */
  async relay(req: http.IncomingMessage, res: http.ServerResponse, options: RelayOptions): Promise<RelayResult> {
    const target: UpstreamTarget = { name: options.url.origin, url: options.url };
    const headers = endToEndHeaders(req.headers, 'request');
    headers['host'] = options.host;
    if (options.via !== undefined) headers['via'] = appendVia(req.headers.via, options.via);
    const controller = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) controller.abort();
    };
    res.once('close', onClose);
    const entries = [options.proxy, ...(options.fallbacks ?? [])];
    /** The options with the entry being tried as `proxy`. */
    let current = options;
    try {
      let response: Dispatcher.ResponseData | undefined;
      for (const [i, proxy] of entries.entries()) {
        current = { ...options, proxy };
        try {
          response = await this.#send(req, current, target, {
            // The dispatcher's own request(): undici's top-level one parses origin and path into a URL again.
            origin: options.url.origin,
            path: options.path ?? `${options.url.pathname}${options.url.search}`,
            method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
            headers,
            body: hasNoBody(req.headers) ? null : req,
            signal: controller.signal,
            onInfo: (info) => relayEarlyHints(req, res, info.statusCode, objectToPairs(info.headers)),
            headersTimeout: options.responseTimeout,
            bodyTimeout: options.responseTimeout,
          });
          break;
        } catch (error) {
          // A body may be partly read by now: only a request without one can be sent again.
          const last = i === entries.length - 1 || proxy === undefined || !hasNoBody(req.headers);
          if (last || !proxyUnreachable(error)) throw error;
          options.onSkip?.(proxy, classifyRelayError(error, target, current));
        }
      }
      if (response === undefined) throw new Error('unreachable: a relay has at least one entry');
      // A proxy's own 407 to a forwarded request is about wsgate's credentials, not the client's: it must not reach
      // the client as a challenge it would answer with its own.
      if (response.statusCode === 407 && current.proxy !== undefined && options.dispatcher === undefined) {
        await response.body.dump();
        const challenge = response.headers['proxy-authenticate'];
        throw new WsgateError(
          'WSG_UPSTREAM_PROXY_REFUSED',
          {
            proxy: describeProxy(current.proxy),
            target: target.name,
            detail: refusalDetail(current.proxy, 407, Array.isArray(challenge) ? challenge.join(', ') : challenge),
          },
          { status: 407 },
        );
      }
      const out = endToEndHeaders(response.headers, 'response');
      if (options.via !== undefined) out['via'] = appendVia(response.headers['via'], options.via);
      res.writeHead(response.statusCode, out);
      // Every listener on res is per request: the front's access line, in-flight count and observer, this relay's
      // client-gone guard, and pipeline's own (pipe and end-of-stream) pass Node's default of 10 'close' listeners,
      // which printed a "possible EventEmitter memory leak" warning for every proxied response.
      res.setMaxListeners(Math.max(res.getMaxListeners(), 20));
      // Not ended by the pipeline: the trailer fields are known once the body is read, and go after it.
      await pipeline(response.body, res, { end: false });
      const trailers = relayedTrailers(response.trailers);
      if (trailers !== undefined) res.addTrailers(trailers);
      res.end();
      return { status: response.statusCode, via: current.proxy };
    } catch (error) {
      // The client's side is over: it left, or the front answered it already (a body timeout's 408). Nothing to
      // answer or report.
      if (res.destroyed || res.writableFinished) {
        return { status: res.statusCode };
      }
      const err = classifyRelayError(error, target, current);
      sendErrorResponse(res, err);
      return { status: err.status ?? 502, error: err, via: current.proxy };
    } finally {
      res.off('close', onClose);
    }
  }

  /**
   * One request on the entry's dispatcher; sent again on a new connection when a kept-alive one was closed under it
   * before any answer (upstream/http-retry.ts: idempotent and without a body only). undici keeps its pool's
   * connections past the point where the target may close them and does not retry; nor does it say whether the
   * connection was a reused one, so any such close counts.
   */
  async #send(
    req: http.IncomingMessage,
    options: RelayOptions,
    target: UpstreamTarget,
    request: Dispatcher.RequestOptions & { signal: AbortSignal },
  ): Promise<Dispatcher.ResponseData> {
    for (let staleRetries = 0; ; staleRetries++) {
      try {
        return await this.#dispatcherFor(options).request(request);
      } catch (error) {
        const err = classifyRelayError(error, target, options);
        const outcome = { connected: true, reused: true, answered: false, bodyRead: !hasNoBody(req.headers) };
        const choice = retryChoice(outcome, req.method ?? '', err, { untriedServers: 0, staleRetries });
        // A dispatcher closed by wsgate itself (shutdown, a reload) has no new connection to give.
        const closed = (error as { code?: string }).code === 'UND_ERR_CLOSED';
        if (choice === undefined || closed || request.signal.aborted) throw error;
        options.onRetry?.(err);
      }
    }
  }

  async close(): Promise<void> {
    const all: Dispatcher[] = [...(this.#direct === undefined ? [] : [this.#direct]), ...this.#proxies.values()];
    this.#direct = undefined;
    this.#proxies.clear();
    await Promise.all(all.map((d) => d.destroy().catch(() => {})));
  }
}
