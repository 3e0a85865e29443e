// Requests inside a CONNECT tunnel, plain or decrypted by interception. They reach the front like any other
// request (same limits, gate, ids and access line); here they are sent to the tunnel's CONNECT target: the client
// speaks to the origin itself, so origin-form, its own Host, no Via. A CONNECT inside a tunnel is a loop.
import type http from 'node:http';
import type net from 'node:net';
import { WsgateError } from '../errors.ts';
import { writeErrorToSocket } from '../front/error-response.ts';
import type { RequestScope, UpgradeScope } from '../front/front.ts';
import { withoutAuthority } from '../http/request-target.ts';
import { reportInternal } from '../log/internal.ts';
import type { Logger } from '../log/logger.ts';
import { forwardRules, pathOf } from './faults.ts';
import { logRetry } from './http.ts';
import { type ForwardState, routeName, startUpgrade, type TunnelContext, tunnelWsUrl } from './state.ts';
import { undici } from './undici.ts';

export function serveTunnelRequest(
  state: ForwardState,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  scope: RequestScope<TunnelContext>,
  ctx: TunnelContext,
): void {
  const { log, access } = scope;
  // Read now: once the response is done, req.socket is gone.
  const client = req.socket.remoteAddress;
  access.route = routeName(state, 'tunnel');
  access.upstream = ctx.target.authority;
  access.note = `(in CONNECT ${ctx.target.authority})`;
  const secure = ctx.scheme === 'https';
  const origin = `${ctx.scheme}://${ctx.target.authority}`;
  ctx.dispatcher ??= new (undici().Client)(origin, {
    keepAliveTimeout: 4000,
    connect: (_opts, callback) => {
      ctx.upstream.take(secure).then(
        (socket) => callback(null, socket),
        (err: Error) => callback(err, null),
      );
    },
  });
  void state.relay
    .relay(req, res, {
      // Concatenated, not resolved against the origin: a path starting with "//" would be read as a host.
      url: new URL(`${origin}${withoutAuthority(req.url ?? '/')}`),
      // Sent as the client wrote it, as an upgrade in the tunnel is (upgradeTarget): the tunnel is the client's.
      path: withoutAuthority(req.url ?? '/'),
      proxy: undefined,
      host: req.headers.host ?? ctx.target.authority,
      via: undefined,
      responseTimeout: state.settings.limits.responseTimeout,
      connectTimeout: state.settings.limits.connectTimeout,
      dispatcher: ctx.dispatcher,
      onRetry: (error) => {
        access.retries = (access.retries ?? 0) + 1;
        logRetry(log, ctx.target.authority, error);
      },
    })
    .then((result) => {
      if (result.error === undefined) return;
      access.code = result.error.code;
      log.warn(
        {
          event: 'forward.upstream_error',
          code: access.code,
          client,
          target: ctx.target.authority,
        },
        result.error.message,
      );
    })
    .catch((error: unknown) => reportInternal(log, error));
}

export function serveTunnelUpgrade(
  state: ForwardState,
  req: http.IncomingMessage,
  socket: net.Socket,
  scope: UpgradeScope<TunnelContext>,
  ctx: TunnelContext,
): void {
  const url = tunnelWsUrl(ctx);
  startUpgrade(state, req, socket, scope, {
    route: { name: routeName(state, 'tunnel'), upstream: { name: new URL(url).origin, url }, changeOrigin: false },
    clientScheme: ctx.scheme,
    dial: () => ctx.upstream.take(ctx.scheme === 'https'),
    rules: forwardRules(state, 'tunnel', ctx.target, pathOf(req.url ?? '/'), scope.id),
    inTunnel: true,
  });
}

/** A CONNECT inside a tunnel would be a proxy chained through itself. */
export function refuseNestedConnect(socket: net.Socket): void {
  writeErrorToSocket(socket, new WsgateError('WSG_FORWARD_LOOP', { detail: 'CONNECT inside a CONNECT tunnel' }));
}

/** Hands a tunnel's client socket to the front: its requests go to the CONNECT target (see in-tunnel.ts). */
export function serveParsed(
  state: ForwardState,
  client: net.Socket,
  ctx: TunnelContext,
  log: Logger,
  onClose: () => void,
): void {
  state.front.serveTunnel(client, ctx, log, () => {
    ctx.upstream.destroy();
    void ctx.dispatcher?.destroy().catch(() => {});
    onClose();
  });
}
