// The http.Agents the reverse proxy's plain requests go through, one pool per way of reaching an upstream: plain
// http, https per host and TLS setting (connections verified one way are never reused for an upstream that asks for
// another), CONNECT tunnels per upstream proxy, and for an upstream that takes a PROXY header
// (upstreams[].proxyProtocol) per client connection: such a connection names one client, so it is kept alive for
// that client's connection only (as Caddy keys them by client) and closed with it.
import http from 'node:http';
import type https from 'node:https';
import type net from 'node:net';
import type { RouteUpstream } from '../config/resolve.ts';
import { clientEnds } from '../front/proxy-header.ts';
import { UPSTREAM_AGENT_OPTIONS } from '../http/keep-alive.ts';
import { proxyHeaderFor } from '../net/proxy-protocol-send.ts';
import type { KeyLog } from '../tls/keylog.ts';
import { createUpstreamAgent, type UpstreamTls } from '../tls/upstream.ts';
import type { UpstreamNetwork, UpstreamRoute } from '../upstream/network.ts';
import { createDialingAgent } from '../upstream/proxy-agent.ts';

export type AgentRequest = {
  /** The client's connection: a PROXY header names it. */
  client: net.Socket;
  upstream: RouteUpstream;
  /** The server as configured (ws:// or http://): the network knows each upstream's route by it. */
  server: string;
  /** The server's http(s) URL. */
  url: URL;
  tls: UpstreamTls;
  connectTimeout: number;
};

export class UpstreamAgents {
  #keyLog: KeyLog | undefined;
  #network: UpstreamNetwork | undefined;
  #http = new http.Agent(UPSTREAM_AGENT_OPTIONS);
  #https = new Map<string, https.Agent>();
  #tunnels = new Map<string, http.Agent>();
  #headed = new WeakMap<net.Socket, Map<string, http.Agent>>();
  #liveHeaded = new Set<http.Agent>();

  constructor(settings: { keyLog?: KeyLog | undefined; network?: UpstreamNetwork | undefined }) {
    this.#keyLog = settings.keyLog;
    this.#network = settings.network;
  }

  agentFor(request: AgentRequest): http.Agent {
    const { upstream, url, tls } = request;
    const secure = url.protocol === 'https:';
    const route = this.#network?.routeFor({ name: upstream.name, url: new URL(request.server) });
    if (upstream.proxyProtocol !== undefined) return this.#headedAgent(request, route);
    if (route?.proxy === undefined) return secure ? this.#httpsAgent(tls, url.hostname) : this.#http;
    const key = `${route.proxy.url.href}|${route.proxy.authorization ?? ''}|${upstream.name}|${url.host}|${secure ? tls.key : ''}`;
    return this.#dialingAgent(this.#tunnels, key, request, route);
  }

  /** The agent under `key` in `agents`, made on first use: its connections are connectUpstream's (tunnel, header). */
  #dialingAgent(
    agents: Map<string, http.Agent>,
    key: string,
    request: AgentRequest,
    route: UpstreamRoute | undefined,
    proxyHeader?: () => Buffer,
  ): http.Agent {
    let agent = agents.get(key);
    if (agent === undefined) {
      agent = createDialingAgent(request.url.protocol === 'https:', {
        route,
        upstream: request.upstream.name,
        connectTimeout: request.connectTimeout,
        tls: request.tls,
        keyLog: this.#keyLog,
        proxyHeader: proxyHeader?.(),
      });
      agents.set(key, agent);
    }
    return agent;
  }

  #httpsAgent(tls: UpstreamTls, host: string): https.Agent {
    const key = `${tls.key}|${host}`;
    let agent = this.#https.get(key);
    if (agent === undefined) {
      agent = createUpstreamAgent(tls, host, this.#keyLog);
      this.#https.set(key, agent);
    }
    return agent;
  }

  #headedAgent(request: AgentRequest, route: UpstreamRoute | undefined): http.Agent {
    const { client, upstream, url, tls } = request;
    const version = upstream.proxyProtocol!;
    const secure = url.protocol === 'https:';
    // The route too: a reload may send this upstream through another proxy, or none.
    const key = `${route?.proxy?.url.href ?? 'direct'}|${upstream.name}|${version}|${url.host}|${secure ? tls.key : ''}`;
    const header = () => proxyHeaderFor(version, clientEnds(client));
    // A client already gone would never say 'close': an agent for this request only, kept by nothing.
    if (client.destroyed) return this.#dialingAgent(new Map(), key, request, route, header);
    let own = this.#headed.get(client);
    if (own === undefined) {
      const agentsOfClient = new Map<string, http.Agent>();
      this.#headed.set(client, agentsOfClient);
      client.once('close', () => {
        for (const agent of agentsOfClient.values()) {
          agent.destroy();
          this.#liveHeaded.delete(agent);
        }
      });
      own = agentsOfClient;
    }
    const agent = this.#dialingAgent(own, key, request, route, header);
    this.#liveHeaded.add(agent);
    return agent;
  }

  close(): void {
    this.#http.destroy();
    for (const agent of this.#https.values()) agent.destroy();
    for (const agent of this.#tunnels.values()) agent.destroy();
    for (const agent of this.#liveHeaded) agent.destroy();
  }
}
