// Plain HTTP requests on a reverse route go to the upstream through http-proxy-3: bodies stream both ways,
// X-Forwarded-For/-Proto/-Host are added, Host follows the route's changeOrigin. Failures become coded
// error responses (502 refused/unreachable/DNS, 504 timeout) with one log line each.
import http from 'node:http';
import https from 'node:https';
import { createProxyServer } from 'http-proxy-3';
import { WsgateError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { sendErrorResponse } from '../server/error-response.ts';
import { classifyUpstreamError, formatDuration, type UpstreamTarget } from '../upstream/connect.ts';
import { connectionOptions, HOP_BY_HOP } from '../websocket/handshake.ts';

export type HttpRoute = {
  name: string;
  upstream: { name: string; url: string };
  changeOrigin: boolean;
};

export type HttpForwardOptions = {
  log: Logger;
  connectTimeout: number;
  responseTimeout: number;
};

export type HttpForwarder = {
  forward(req: http.IncomingMessage, res: http.ServerResponse, route: HttpRoute, options: HttpForwardOptions): void;
  close(): void;
};

/** ws:// and wss:// upstreams also serve plain HTTP on the same origin. */
function httpUrlOf(url: string): URL {
  const u = new URL(url);
  if (u.protocol === 'ws:') u.protocol = 'http:';
  else if (u.protocol === 'wss:') u.protocol = 'https:';
  return u;
}

/**
 * RFC 9110 §7.6.1: hop-by-hop request headers, and whatever Connection names (but Host), stop here. This runs
 * before http-proxy-3 adds X-Forwarded-*, so a client that names X-Forwarded-For in Connection only removes its
 * own value, never wsgate's.
 */
function stripRequestHopByHop(req: http.IncomingMessage): void {
  const named = connectionOptions(req.headers.connection, req.headers['proxy-connection']);
  for (const name of [...HOP_BY_HOP, ...named]) {
    if (name !== 'te' || String(req.headers.te).toLowerCase() !== 'trailers') delete req.headers[name];
  }
}

/**
 * The same for the upstream's response, which http-proxy-3 would copy to the client. Its `setConnection` pass then
 * fills the missing Connection header from the (already stripped) request as "keep-alive", and an explicit header
 * overrides Node's own decision, so a client's `Connection: close` would be ignored. Say what Node would say.
 */
function stripResponseHopByHop(proxyRes: http.IncomingMessage, res: http.ServerResponse): void {
  const named = connectionOptions(proxyRes.headers.connection, proxyRes.headers['proxy-connection']);
  for (const name of [...HOP_BY_HOP, ...named]) delete proxyRes.headers[name];
  proxyRes.headers.connection = res.shouldKeepAlive ? 'keep-alive' : 'close';
}

type PendingRequest = { target: UpstreamTarget; options: HttpForwardOptions; started: number };

export function createHttpForwarder(): HttpForwarder {
  const agents = {
    http: new http.Agent({ keepAlive: true, maxFreeSockets: 64 }),
    https: new https.Agent({ keepAlive: true, maxFreeSockets: 64 }),
  };
  const proxy = createProxyServer({ xfwd: true, ws: false });
  const pending = new WeakMap<http.IncomingMessage, PendingRequest>();

  proxy.on('proxyRes', (proxyRes, _req, res) => {
    stripResponseHopByHop(proxyRes, res);
  });

  proxy.on('proxyReq', (proxyReq, req) => {
    const p = pending.get(req as http.IncomingMessage);
    if (!p) return;
    // An idle timer on the upstream request, as nginx's proxy_read_timeout: no bytes for this long is a 504.
    proxyReq.setTimeout(p.options.responseTimeout, () => {
      proxyReq.destroy(
        new WsgateError('WSG_UPSTREAM_TIMEOUT', {
          upstream: p.target.name,
          timeout: formatDuration(p.options.responseTimeout),
        }),
      );
    });
  });

  return {
    forward(req, res, route, options) {
      const url = httpUrlOf(route.upstream.url);
      const target: UpstreamTarget = { name: route.upstream.name, url };
      pending.set(req, { target, options, started: performance.now() });
      stripRequestHopByHop(req);
      proxy.web(
        req,
        res,
        {
          target: url,
          changeOrigin: route.changeOrigin,
          agent: url.protocol === 'https:' ? agents.https : agents.http,
          connectTimeout: options.connectTimeout,
        },
        (error) => {
          const err = classifyUpstreamError(error, target, options.connectTimeout);
          options.log.warn(
            {
              event: 'http.upstream_error',
              code: err.code,
              route: route.name,
              upstream: target.name,
              cause: error.message,
            },
            err.message,
          );
          sendErrorResponse(res, err);
        },
      );
    },
    close() {
      proxy.close();
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}
