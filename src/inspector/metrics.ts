// wsgate's Prometheus metrics (`GET /metrics` on the admin listener), with prom-client: one registry per running
// instance (tests run several in one process), fed by the same WebSocket events as the traffic log (open, message,
// violation, end) and by the front's observer (request outcomes, handshake results). Nothing is built per frame:
// frame events are not used; a message event is two additions to plain numbers, which are handed to prom-client
// only when it is scraped. Messages and bytes move live from message events (tap frames and payload) and are made
// exact from the end event's totals, so they are right at every tap level once a connection ends. With
// `--workers N` every worker keeps its own registry and the primary merges them (metrics-cluster.ts).
// Size: over 400 lines because every metric is declared here with its help text, so the whole vocabulary of
// /metrics is read in one place (docs/admin-api.md lists the same).
import {
  AggregatorRegistry,
  type Counter,
  collectDefaultMetrics,
  Gauge,
  type MetricObjectWithValues,
  type MetricValue,
  Counter as PromCounter,
  Registry,
} from 'prom-client';
import type { Direction, WsEvent } from '../events.ts';
import type { FrontObserver } from '../front/observer.ts';
import type { LogQueue } from '../log/queue.ts';
import type { ServerSnapshot } from '../upstream/balancer.ts';
import type { SpareResult } from '../upstream/spares.ts';
import { SAFE_HEADERS } from './admin-http.ts';
import type { AdminHandler } from './admin-server.ts';
import { HandshakeTimings } from './handshake-timings.ts';

/** Every metric's name starts with this, the default process metrics (event-loop lag among them) too. */
export const METRIC_PREFIX = 'wsgate_';

/** What the traffic store tells the metrics: what its memory budget made it drop (cumulative). */
export type StoreStats = { evictedConnections: number; evictedMessages: number; bytes: number };

/** One connection between its open and end events: where it counts, and what was already counted live. */
type Conn = {
  listener: string;
  route: string;
  messages: Record<Direction, number>;
  bytes: Record<Direction, number>;
};

/** Handshake results a listener sent before the open event arrived (the front reports the 101 first). */
const MAX_PENDING = 10_000;

/** Error codes that say the upstream (or the way to it) failed, as opposed to the client or the config. */
export function isUpstreamError(code: string): boolean {
  return code.startsWith('WSG_UPSTREAM_') || code === 'WSG_HANDSHAKE_TIMEOUT';
}

type Source = { help: string; read: () => number };

export type MetricsOptions = {
  /** prom-client's process metrics (CPU, memory, event-loop lag, GC) under the wsgate_ prefix; default true. */
  processMetrics?: boolean;
};

export class WsgateMetrics implements FrontObserver {
  readonly registry: Registry;
  #conns = new Map<string, Conn>();
  #pending = new Map<string, string>();
  /** Live totals of every connection, open or ended: read at scrape time. */
  #messages: Record<Direction, number> = { toUpstream: 0, toClient: 0 };
  #bytes: Record<Direction, number> = { toUpstream: 0, toClient: 0 };
  #logQueues = new Map<string, () => LogQueue | undefined>();
  #store: (() => StoreStats) | undefined;
  #servers: (() => ServerSnapshot[]) | undefined;
  #open: Gauge<'listener' | 'route'>;
  #connections: Counter<'listener' | 'route'>;
  #requests: Counter<'listener' | 'route' | 'status'>;
  #handshakes: Counter<'listener' | 'result'>;
  #tunnels: Counter<'listener' | 'result'>;
  #upstreamErrors: Counter<'code'>;
  #retries: Counter<'listener'>;
  #closeCodes: Counter<'code'>;
  #terminations: Counter<'termination'>;
  #violations: Counter<'code'>;
  #refusedConnections: Counter<'listener' | 'code'>;
  #spares: Counter<'upstream' | 'result'>;
  #timings: HandshakeTimings;

  constructor(options: MetricsOptions = {}) {
    this.registry = new Registry();
    const registers = [this.registry];
    const self = this;
    this.#open = new Gauge({
      name: `${METRIC_PREFIX}ws_connections_open`,
      help: 'WebSocket connections open now, by listener and route.',
      labelNames: ['listener', 'route'],
      registers,
    });
    this.#connections = new PromCounter({
      name: `${METRIC_PREFIX}ws_connections_total`,
      help: 'WebSocket connections joined after a 101, by listener and route.',
      labelNames: ['listener', 'route'],
      registers,
    });
    this.#requests = new PromCounter({
      name: `${METRIC_PREFIX}http_requests_total`,
      help: 'Plain HTTP requests (one per access line), by listener, route and status (0: nobody was answered).',
      labelNames: ['listener', 'route', 'status'],
      registers,
    });
    this.#handshakes = new PromCounter({
      name: `${METRIC_PREFIX}ws_handshakes_total`,
      help: 'WebSocket handshakes by result: 101, the upstream refusal status, a WSG_* error code, or client_closed.',
      labelNames: ['listener', 'result'],
      registers,
    });
    this.#tunnels = new PromCounter({
      name: `${METRIC_PREFIX}connect_tunnels_total`,
      help: 'CONNECT requests to forward listeners by result: 200 (tunnel opened), a WSG_* error code, or client_closed.',
      labelNames: ['listener', 'result'],
      registers,
    });
    this.#upstreamErrors = new PromCounter({
      name: `${METRIC_PREFIX}upstream_errors_total`,
      help: 'Requests, handshakes and CONNECTs that failed on the upstream side (WSG_UPSTREAM_*, WSG_HANDSHAKE_TIMEOUT), by code.',
      labelNames: ['code'],
      registers,
    });
    this.#retries = new PromCounter({
      name: `${METRIC_PREFIX}http_retries_total`,
      help: 'Plain HTTP requests sent again to an upstream (a refused server of a pool, a kept-alive connection closed under it), by listener.',
      labelNames: ['listener'],
      registers,
    });
    this.#closeCodes = new PromCounter({
      name: `${METRIC_PREFIX}ws_close_codes_total`,
      help: 'Ended WebSocket connections by the close code a client would report (1006 when no close frame was seen).',
      labelNames: ['code'],
      registers,
    });
    this.#terminations = new PromCounter({
      name: `${METRIC_PREFIX}ws_terminations_total`,
      help: 'Ended WebSocket connections by termination code (who, then how: CC client close frame, UR upstream reset, …).',
      labelNames: ['termination'],
      registers,
    });
    this.#refusedConnections = new PromCounter({
      name: `${METRIC_PREFIX}connections_refused_total`,
      help: 'Connections closed before a request was read: over maxConnections or maxConnectionsPerClient (WSG_TOO_MANY_CONNECTIONS), or without a valid PROXY protocol header (WSG_PROXY_HEADER_INVALID, WSG_PROXY_HEADER_TIMEOUT).',
      labelNames: ['listener', 'code'],
      registers,
    });
    this.#spares = new PromCounter({
      name: `${METRIC_PREFIX}upstream_spares_total`,
      help: 'Spare upstream connections (upstreams[].preconnect) by what became of them: taken by a handshake, expired unused, closed by the server while held, failed to connect, or lost (closed by the server as a handshake was written on it, which was sent again).',
      labelNames: ['upstream', 'result'],
      registers,
    });
    this.#timings = new HandshakeTimings(METRIC_PREFIX, registers);
    this.#violations = new PromCounter({
      name: `${METRIC_PREFIX}ws_violations_total`,
      help: 'WebSocket protocol violations and broken limits the tap saw, by WSG_WS_* code.',
      labelNames: ['code'],
      registers,
    });
    new PromCounter({
      name: `${METRIC_PREFIX}ws_messages_total`,
      help: 'WebSocket messages the peers sent (control messages included) by direction: live with tap frames or payload, exact when a connection ends.',
      labelNames: ['direction'],
      registers,
      collect() {
        this.reset();
        for (const dir of ['toUpstream', 'toClient'] as const) this.inc({ direction: dir }, self.#messages[dir]);
      },
    });
    new PromCounter({
      name: `${METRIC_PREFIX}ws_bytes_total`,
      help: 'WebSocket bytes the peers sent on the wire by direction (frame headers included once a connection ends).',
      labelNames: ['direction'],
      registers,
      collect() {
        this.reset();
        for (const dir of ['toUpstream', 'toClient'] as const) this.inc({ direction: dir }, self.#bytes[dir]);
      },
    });
    new PromCounter({
      name: `${METRIC_PREFIX}log_dropped_lines_total`,
      help: 'Log lines dropped because a destination fell behind log.maxQueueBytes: traffic lines shed, other lines past the hard ceiling.',
      labelNames: ['destination', 'kind'],
      registers,
      collect() {
        this.reset();
        for (const [destination, queueOf] of self.#logQueues) {
          const totals = queueOf()?.droppedTotals() ?? { traffic: 0, other: 0 };
          this.inc({ destination, kind: 'traffic' }, totals.traffic);
          this.inc({ destination, kind: 'other' }, totals.other);
        }
      },
    });
    new PromCounter({
      name: `${METRIC_PREFIX}store_evictions_total`,
      help: 'What the admin API’s traffic store evicted from memory to stay within inspector.store.maxBytes.',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        const stats = self.#store?.();
        this.inc({ kind: 'connections' }, stats?.evictedConnections ?? 0);
        this.inc({ kind: 'messages' }, stats?.evictedMessages ?? 0);
      },
    });
    new Gauge({
      name: `${METRIC_PREFIX}store_bytes`,
      help: 'Memory the admin API’s traffic store holds now (its own estimate).',
      registers,
      collect() {
        this.set(self.#store?.().bytes ?? 0);
      },
    });
    // Per server of an upstream with several (upstream/balancer.ts), read at every scrape.
    const perServer = (
      Kind: typeof Gauge | typeof PromCounter,
      name: string,
      help: string,
      value: (s: ServerSnapshot) => number,
      aggregator?: 'max',
    ) =>
      new Kind({
        name: `${METRIC_PREFIX}${name}`,
        help,
        labelNames: ['upstream', 'server'],
        registers,
        ...(aggregator === undefined ? {} : { aggregator }),
        collect(this: Gauge<'upstream' | 'server'> | PromCounter<'upstream' | 'server'>) {
          this.reset();
          for (const s of self.#servers?.() ?? []) {
            const labels = { upstream: s.upstream, server: s.server };
            if (this instanceof Gauge) this.set(labels, value(s));
            else this.inc(labels, value(s));
          }
        },
      });
    perServer(
      Gauge,
      'upstream_server_connections',
      'Connections open now to each server of an upstream with several (upstreams[].servers).',
      (s) => s.open,
    );
    perServer(
      PromCounter,
      'upstream_server_failures_total',
      'Failed connections (refused, timed out, unreachable) to each server of an upstream with several.',
      (s) => s.failures,
    );
    // With --workers, skipped where any worker skips it.
    perServer(
      Gauge,
      'upstream_server_skipped',
      'Whether a server of an upstream with several is skipped now, after a failed connection or health check (1), or not (0).',
      (s) => (s.skipped ? 1 : 0),
      'max',
    );
    perServer(
      Gauge,
      'upstream_server_drained',
      'Whether a server of an upstream with several is drained through the admin API (1: no new connections), or not (0).',
      (s) => (s.drained ? 1 : 0),
      'max',
    );
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
  }

  /** A counter read from elsewhere at scrape time (e.g. the worker event forwarder's drops). */
  addCounter(name: string, source: Source): void {
    new PromCounter({
      name: `${METRIC_PREFIX}${name}`,
      help: source.help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(source.read());
      },
    });
  }

  /** Counts the dropped lines of a log destination; `queue` is asked at every scrape (the traffic file changes on reload). */
  watchLogQueue(destination: string, queue: () => LogQueue | undefined): void {
    this.#logQueues.set(destination, queue);
  }

  /** The servers of upstreams with several (upstream/balancer.ts), read at every scrape. */
  watchServers(servers: () => ServerSnapshot[]): void {
    this.#servers = servers;
  }

  /** The traffic store's eviction counters, read at every scrape. */
  watchStore(stats: () => StoreStats): void {
    this.#store = stats;
  }

  /** A WebSocket event, as the traffic log gets it. Frame and rule events are ignored. */
  observe(event: WsEvent): void {
    switch (event.type) {
      case 'message': {
        // The peers' messages, as the connection's own counters (its end line, the API) count them: one wsgate sent
        // itself (admin send, inject, keepalive) is listed with origin: wsgate but counted by neither.
        if (event.origin === 'wsgate') return;
        const conn = this.#conns.get(event.conn);
        this.#messages[event.dir] += 1;
        this.#bytes[event.dir] += event.size;
        if (conn !== undefined) {
          conn.messages[event.dir] += 1;
          conn.bytes[event.dir] += event.size;
        }
        return;
      }
      case 'open': {
        const listener = this.#pending.get(event.conn) ?? 'unknown';
        this.#pending.delete(event.conn);
        this.#conns.set(event.conn, {
          listener,
          route: event.route,
          messages: { toUpstream: 0, toClient: 0 },
          bytes: { toUpstream: 0, toClient: 0 },
        });
        this.#open.inc({ listener, route: event.route });
        this.#connections.inc({ listener, route: event.route });
        this.#timings.observe(event, listener);
        return;
      }
      case 'violation':
        this.#violations.inc({ code: event.code });
        return;
      case 'end': {
        const conn = this.#conns.get(event.conn);
        this.#conns.delete(event.conn);
        if (conn !== undefined) this.#open.dec({ listener: conn.listener, route: conn.route });
        for (const dir of ['toUpstream', 'toClient'] as const) {
          // What the live message events did not count (tap off or meta, shed lines, frame headers).
          this.#messages[dir] += Math.max(0, event[dir].messages - (conn?.messages[dir] ?? 0));
          this.#bytes[dir] += Math.max(0, event[dir].bytes - (conn?.bytes[dir] ?? 0));
        }
        this.#closeCodes.inc({ code: String(event.closeCode) });
        this.#terminations.inc({ termination: event.termination });
        return;
      }
    }
  }

  request(listener: string, route: string | undefined, status: number, code: string | undefined, retries = 0): void {
    this.#requests.inc({ listener, route: route ?? '', status: String(status) });
    if (retries > 0) this.#retries.inc({ listener }, retries);
    if (code !== undefined && isUpstreamError(code)) this.#upstreamErrors.inc({ code });
  }

  handshake(listener: string, conn: string, result: string): void {
    this.#handshakes.inc({ listener, result });
    if (result === '101') {
      if (this.#pending.size >= MAX_PENDING) this.#pending.clear();
      this.#pending.set(conn, listener);
    } else if (isUpstreamError(result)) {
      this.#upstreamErrors.inc({ code: result });
    }
  }

  tunnel(listener: string, result: string): void {
    this.#tunnels.inc({ listener, result });
    if (isUpstreamError(result)) this.#upstreamErrors.inc({ code: result });
  }

  connectionRefused(listener: string, code: string): void {
    this.#refusedConnections.inc({ listener, code });
  }

  spare(upstream: string, result: SpareResult): void {
    this.#spares.inc({ upstream, result });
  }

  /** The registry as JSON, as a worker sends it to the primary (prom-client's aggregation input). */
  json(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    return this.registry.getMetricsAsJSON();
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** Merges registries as JSON (the primary's own and every worker's) into one exposition, summing by default. */
export function aggregateMetrics(parts: MetricObjectWithValues<MetricValue<string>>[][]): Promise<string> {
  return AggregatorRegistry.aggregate(parts).metrics();
}

/** What /metrics serves: one instance's registry, or (primary of `--workers N`) every worker's merged. */
export type MetricsSource = { text(): Promise<string>; readonly contentType: string };

/**
 * `GET /metrics`. It needs the admin token when one is configured (route names and traffic volumes are not for
 * everyone who can reach the port); Prometheus sends it with `authorization: { credentials: … }`.
 */
export function metricsHandler(source: MetricsSource): AdminHandler {
  return {
    method: 'GET',
    path: '/metrics',
    async handle(_req, res) {
      const body = await source.text();
      res.writeHead(200, {
        ...SAFE_HEADERS,
        'content-type': source.contentType,
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    },
  };
}
