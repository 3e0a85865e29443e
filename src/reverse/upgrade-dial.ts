// How a reverse listener reaches a route's upstream for a WebSocket upgrade: a server of its pool (failing over to the
// next), with the upstream's TLS settings, through its proxy (via:), starting with the client's PROXY header when
// the upstream wants one, or on a spare connection held for it (upstream/spares.ts, upstreams[].preconnect).
import type http from 'node:http';
import type net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { DEFAULT_PRECONNECT_MS, type RouteUpstream } from '../config/resolve.ts';
import { clientEnds } from '../front/proxy-header.ts';
import type { Logger } from '../log/logger.ts';
import { proxyHeaderFor } from '../net/proxy-protocol-send.ts';
import type { KeyLog } from '../tls/keylog.ts';
import { defaultUpstreamTls, type UpstreamTls, upstreamTlsOptions } from '../tls/upstream.ts';
import { dialFromPool, logServerFailed, type UpstreamBalancer } from '../upstream/balancer.ts';
import { connectUpstream, isTlsUrl, type UpstreamTarget } from '../upstream/connect.ts';
import type { UpstreamNetwork } from '../upstream/network.ts';
import { logPacFallthrough } from '../upstream/pac-route.ts';
import { spareKey, type UpstreamSpares } from '../upstream/spares.ts';
import type { UpgradeDialOptions } from '../websocket/upgrade.ts';

/** What of a listener's settings its upgrades dial with (ListenerSettings' fields), and its spares. */
export type UpgradeDialSettings = {
  /** TLS settings of named upstreams; others get the defaults. */
  upstreamTls?: ReadonlyMap<string, UpstreamTls> | undefined;
  network?: UpstreamNetwork | undefined;
  balancer?: UpstreamBalancer | undefined;
  keyLog?: KeyLog | undefined;
  spares: UpstreamSpares;
};

/** Dials the route's upstream, or, for one with several servers, a server of it (failing over to the next). */
export function dialRoute(
  settings: UpgradeDialSettings,
  log: Logger,
  upstream: RouteUpstream,
  target: UpstreamTarget,
  options: UpgradeDialOptions,
  req: http.IncomingMessage,
  clientOf: () => string,
): Promise<net.Socket> {
  const { pool, proxyProtocol } = upstream;
  const balancer = settings.balancer;
  // A connection that starts with the client's PROXY header is the client's: no spare for it.
  const dialOptions =
    proxyProtocol === undefined
      ? { ...options, preconnect: options.fresh === true ? 0 : (upstream.preconnect ?? DEFAULT_PRECONNECT_MS) }
      : { ...options, proxyHeader: proxyHeaderFor(proxyProtocol, clientEnds(req.socket)), preconnect: 0 };
  if (pool === undefined || balancer === undefined) return dialUpstream(settings, log, target, dialOptions);
  return dialFromPool(
    balancer,
    pool,
    target,
    () => dialUpstream(settings, log, target, dialOptions),
    (server, err, next) => logServerFailed(log, target.name, server, pool, err, next),
    pool.balance === 'ip-hash' ? clientOf() : undefined,
  );
}

/**
 * Dials an upgrade's upstream with that upstream's TLS settings. With tls.insecure every connection is logged
 * as a warning, with what verification would have said.
 */
function dialUpstream(
  settings: UpgradeDialSettings,
  log: Logger,
  target: UpstreamTarget,
  options: UpgradeDialOptions & { proxyHeader?: Buffer; preconnect: number },
) {
  // Plain ws:// upstreams never build the default TLS context (loading the system's roots costs the first
  // handshake most of a second of CPU).
  const tls = isTlsUrl(target.url) ? (settings.upstreamTls?.get(target.name) ?? defaultUpstreamTls()) : undefined;
  const route = settings.network?.routeFor(target);
  const { preconnect, signal, fresh: _fresh, ...dial } = options;
  const connectOptions = {
    ...dial,
    ...(tls === undefined ? {} : upstreamTlsOptions(tls)),
    keyLog: settings.keyLog,
    route,
  };
  // Spares go straight to the server: through an upstream proxy each connection is a CONNECT of its own.
  const direct = route?.proxy === undefined && route?.fallbacks === undefined;
  const spare =
    direct && preconnect > 0
      ? settings.spares.take(target.name, spareKey(target.name, target.url), preconnect, () =>
          connectUpstream({ name: target.name, url: new URL(target.url) }, connectOptions),
        )
      : undefined;
  const socket =
    spare === undefined
      ? connectUpstream(target, {
          ...connectOptions,
          signal,
          onEntry: (used, skipped) => logPacFallthrough(log, target.name, used, skipped),
        })
      : Promise.resolve(spare);
  return socket.then((socket) => {
    if (tls?.insecure && 'authorized' in socket) {
      const tlsSocket = socket as TLSSocket;
      log.warn(
        {
          event: 'tls.insecure_upstream',
          upstream: target.name,
          authorized: tlsSocket.authorized,
          authorizationError: tlsSocket.authorizationError?.toString(),
        },
        `TLS verification is off for upstream ${target.name} (tls.insecure)`,
      );
    }
    return socket;
  });
}
