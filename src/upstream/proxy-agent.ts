// Node http(s) agents whose connections connectUpstream opens, for the reverse proxy's plain HTTP (http-proxy-3 takes
// an agent): CONNECT tunnels through an upstream proxy, and connections that start with a PROXY protocol header.
// Keep-alive pooling works as usual: each pooled socket is one tunnel or one headed connection, with TLS inside for
// https upstreams, verified with the upstream's own settings.
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { UPSTREAM_AGENT_OPTIONS } from '../http/keep-alive.ts';
import { formatHostPort } from '../net/host-port.ts';
import type { KeyLog } from '../tls/keylog.ts';
import { type UpstreamTls, upstreamTlsOptions } from '../tls/upstream.ts';
import { connectUpstream } from './connect.ts';
import type { UpstreamRoute } from './network.ts';

export type TunnelAgentOptions = {
  /** Through the route's proxy; undefined or a route without one: direct. */
  route: UpstreamRoute | undefined;
  /** The upstream's name, for error messages. */
  upstream: string;
  connectTimeout: number;
  /** For https upstreams: how the upstream's certificate is verified. */
  tls?: UpstreamTls | undefined;
  keyLog?: KeyLog | undefined;
  /** The PROXY protocol header every connection starts with (one client's: the agent serves that client only). */
  proxyHeader?: Buffer | undefined;
};

type ConnectCallback = (err: Error | null, stream: Duplex) => void;

function tunnelConnection(
  secure: boolean,
  options: TunnelAgentOptions,
  host: string,
  port: number,
  cb: ConnectCallback,
) {
  const authority = formatHostPort(host, port);
  connectUpstream(
    { name: options.upstream, url: new URL(`${secure ? 'https' : 'http'}://${authority}`) },
    {
      connectTimeout: options.connectTimeout,
      route: options.route,
      keyLog: options.keyLog,
      proxyHeader: options.proxyHeader,
      ...(secure && options.tls !== undefined ? upstreamTlsOptions(options.tls) : {}),
    },
  ).then(
    (socket) => cb(null, socket),
    (err: Error) => cb(err, undefined as unknown as Duplex),
  );
}

class TunnelHttpAgent extends http.Agent {
  #options: TunnelAgentOptions;
  constructor(options: TunnelAgentOptions) {
    super(UPSTREAM_AGENT_OPTIONS);
    this.#options = options;
  }
  // Node's Agent accepts an asynchronous createConnection: return nothing and call back with the socket.
  override createConnection(options: http.ClientRequestArgs, cb?: ConnectCallback): undefined {
    tunnelConnection(false, this.#options, String(options.host ?? 'localhost'), Number(options.port ?? 80), cb!);
    return undefined;
  }
}

class TunnelHttpsAgent extends https.Agent {
  #options: TunnelAgentOptions;
  constructor(options: TunnelAgentOptions) {
    super(UPSTREAM_AGENT_OPTIONS);
    this.#options = options;
  }
  override createConnection(options: https.RequestOptions, cb?: ConnectCallback): undefined {
    tunnelConnection(true, this.#options, String(options.host ?? 'localhost'), Number(options.port ?? 443), cb!);
    return undefined;
  }
}

/** An agent that reaches `upstream` through the route's proxy (http or https, by the upstream's scheme). */
export function createTunnelAgent(secure: boolean, options: TunnelAgentOptions): http.Agent {
  return secure ? new TunnelHttpsAgent(options) : new TunnelHttpAgent(options);
}
