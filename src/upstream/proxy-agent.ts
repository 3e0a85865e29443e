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

export type DialingAgentOptions = {
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

function dialedConnection(
  secure: boolean,
  options: DialingAgentOptions,
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

class DialingHttpAgent extends http.Agent {
  #options: DialingAgentOptions;
  constructor(options: DialingAgentOptions) {
    super(UPSTREAM_AGENT_OPTIONS);
    this.#options = options;
  }
  // Node's Agent accepts an asynchronous createConnection: return nothing and call back with the socket.
  override createConnection(options: http.ClientRequestArgs, cb?: ConnectCallback): undefined {
    dialedConnection(false, this.#options, String(options.host ?? 'localhost'), Number(options.port ?? 80), cb!);
    return undefined;
  }
}

class DialingHttpsAgent extends https.Agent {
  #options: DialingAgentOptions;
  constructor(options: DialingAgentOptions) {
    super(UPSTREAM_AGENT_OPTIONS);
    this.#options = options;
  }
  override createConnection(options: https.RequestOptions, cb?: ConnectCallback): undefined {
    dialedConnection(true, this.#options, String(options.host ?? 'localhost'), Number(options.port ?? 443), cb!);
    return undefined;
  }
}

/**
 * An agent whose connections connectUpstream opens (http or https, by the upstream's scheme): through the route's
 * proxy when it has one, and starting with the PROXY header when one is given.
 */
export function createDialingAgent(secure: boolean, options: DialingAgentOptions): http.Agent {
  return secure ? new DialingHttpsAgent(options) : new DialingHttpAgent(options);
}
