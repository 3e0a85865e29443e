// What startWsgate takes and gives back: the options a caller (the CLI, a worker, a test) passes, and the running
// instance it controls afterwards. Apart from app.ts so that file stays about starting and reloading.
import type net from 'node:net';
import type { Config } from '../config/schema.ts';
import type { EchoServer } from '../echo/server.ts';
import type { WsEvent } from '../events.ts';
import type { AdminHandler } from '../inspector/admin-server.ts';
import type { Readiness } from '../inspector/health.ts';
import type { Inspector } from '../inspector/inspector.ts';
import type { WsgateMetrics } from '../inspector/metrics.ts';
import type { PoolServerRef } from '../inspector/upstreams-api.ts';
import type { ServerSnapshot } from '../upstream/balancer.ts';
import type { CheckChange } from '../upstream/health-check.ts';
import type { Env } from '../upstream/proxy-config.ts';
import type { LiveSession } from '../websocket/session.ts';

export type StartOptions = {
  /** Where HTTP_PROXY, HTTPS_PROXY and NO_PROXY are read (default process.env); tests pass their own. */
  env?: Env | undefined;
  /** Name resolution for forward-mode dials (default dns.lookup); tests map names to 127.0.0.1 with it. */
  lookup?: net.LookupFunction | undefined;
  /** What POST /api/reload does: re-read the config file as SIGHUP does (cli/run passes it; none without a file). */
  reloadFromFile?: (() => Promise<void>) | undefined;
  /** Serve the admin API when the config has `inspector` (default true; workers of `--workers N` pass false). */
  admin?: boolean | undefined;
  /** The version the admin API reports (HAR creator). */
  version?: string | undefined;
  /**
   * Where every WebSocket event also goes when this instance has no admin API of its own: a worker's bridge to the
   * primary's traffic store (app/worker-bridge.ts).
   */
  events?: { ingest(event: WsEvent): void } | undefined;
  /** Servers drained through the primary's admin API before this worker started, as [upstream, server]. */
  drained?: readonly PoolServerRef[] | undefined;
  /**
   * With --workers: whether this process runs the active health checks (one worker does), what it tells the others
   * when a server's state changes, and the servers the checker has out now (for a worker that follows).
   */
  healthChecks?: { run?: boolean; onChange?: CheckChange; down?: readonly PoolServerRef[] } | undefined;
};

export type RunningWsgate = {
  /** Bound addresses by listener name (the real port when the config asked for port 0). */
  readonly listeners: ReadonlyMap<string, { host: string; port: number }>;
  readonly echo: EchoServer | undefined;
  /**
   * Applies a validated config to new connections; listeners added or removed are started or closed, all or none:
   * a listener that cannot bind leaves the running config in place (config.reload_failed, app/listener-swap.ts).
   * True once the config runs, false when it was refused (and why logged): a primary adopts it only if all took it.
   */
  reload(config: Config): Promise<boolean>;
  /** Stops accepting, waits up to the configured grace period for what is in flight, closes the rest. */
  shutdown(): Promise<void>;
  /** The instance's Prometheus metrics (a worker's too: its primary merges them); undefined without `inspector`. */
  readonly metrics: WsgateMetrics | undefined;
  /** What /readyz judges: listeners bound, config loaded, not draining. */
  readiness(): Readiness;
  /** /metrics (when metrics are on), /healthz and /readyz, for the admin listener. */
  healthAndMetricsHandlers(): AdminHandler[];
  /** The admin API and traffic store; undefined without `inspector` in the config. */
  readonly inspector: Inspector | undefined;
  /** The live connection with this id on any listener (a worker's bridge runs the primary's send and close on it). */
  session(conn: string): LiveSession | undefined;
  /** The pools' servers as this process sees them (open, failed, skipped, drained). */
  servers(): ServerSnapshot[];
  /** Drains exactly these servers (a worker taking its primary's list). */
  setDrained(servers: readonly PoolServerRef[]): void;
  /** Closes the open WebSockets to one server of a pool; returns how many. */
  closeServer(upstream: string, server: string, code: number, reason: string): number;
  /** Starts or stops running the health checks (the checking worker's role moved here or away). */
  setHealthChecks(run: boolean): void;
  /** The checking worker's word on a server's state. */
  setCheckedDown(upstream: string, server: string, down: boolean): void;
};
