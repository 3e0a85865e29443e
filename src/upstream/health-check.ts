// Active checks of the servers of an upstream with several (upstreams[].healthCheck), as HAProxy's `check` and
// Envoy's health checks: every interval each server gets a connection (through the same proxy and TLS settings as
// traffic) and, with a path, a GET that must answer 2xx or 3xx. A failed check takes the server out of the
// balancer's picks until a check succeeds; each change is one log line. Checks of one process run one at a time per
// server; a reload replaces them all. With --workers one worker checks (`running`) and reports each change
// (`onChange`), which the others follow (UpstreamBalancer.setCheckedDown): one check per interval, one view.
import type net from 'node:net';
import type { ServerPool } from '../config/resolve.ts';
import type { Logger } from '../log/logger.ts';
import type { ProxyProtocolVersion } from '../net/proxy-protocol-send.ts';
import type { UpstreamBalancer } from './balancer.ts';
import type { UpstreamTarget } from './connect.ts';

export type CheckedUpstream = { name: string; pool: ServerPool; proxyProtocol?: ProxyProtocolVersion };

/**
 * Opens a connection to one server as traffic would (proxy, TLS, the PROXY header of a connection of wsgate's own
 * where the upstream takes one), within `timeout` milliseconds.
 */
export type CheckDial = (
  target: UpstreamTarget,
  timeout: number,
  proxyProtocol: ProxyProtocolVersion | undefined,
) => Promise<net.Socket>;

/** The status of `GET path` on an open connection, or why there is none; the socket is closed either way. */
function httpStatus(socket: net.Socket, host: string, path: string, timeout: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let head = '';
    const done = (err: Error | undefined, status?: number) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(status!);
    };
    const timer = setTimeout(() => done(new Error(`no answer within ${timeout} ms`)), timeout);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      head += chunk;
      const line = head.indexOf('\r\n');
      if (line < 0) {
        if (head.length > 8192) done(new Error('no status line'));
        return;
      }
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head.slice(0, line));
      if (m) done(undefined, Number(m[1]));
      else done(new Error('not an HTTP answer'));
    });
    socket.on('error', (err) => done(err));
    socket.on('close', () => done(new Error('closed before answering')));
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: wsgate-health-check\r\nConnection: close\r\n\r\n`,
    );
  });
}

/** A server's state changed by checks: what the checking worker tells the others. */
export type CheckChange = (upstream: string, server: string, down: boolean) => void;

export class HealthChecks {
  #balancer: UpstreamBalancer;
  #log: Logger;
  #dial: CheckDial;
  #onChange: CheckChange | undefined;
  #timers: NodeJS.Timeout[] = [];
  #generation = 0;
  #upstreams: readonly CheckedUpstream[] = [];
  #running: boolean;

  constructor(
    balancer: UpstreamBalancer,
    log: Logger,
    dial: CheckDial,
    role: { run?: boolean; onChange?: CheckChange } = {},
  ) {
    this.#balancer = balancer;
    this.#log = log;
    this.#dial = dial;
    this.#running = role.run ?? true;
    this.#onChange = role.onChange;
  }

  /**
   * Checks these upstreams' servers from now on (those with a healthCheck), in place of what ran before; every
   * server starts in. A process that does not run the checks only forgets their results (it follows the checker's).
   */
  update(upstreams: readonly CheckedUpstream[]): void {
    this.#upstreams = upstreams;
    this.#balancer.clearChecks();
    this.#start();
  }

  /** Starts or stops running the checks (the checking worker's role moved); the servers keep their states. */
  setRunning(running: boolean): void {
    if (running === this.#running) return;
    this.#running = running;
    this.#start();
  }

  #start(): void {
    this.close();
    if (!this.#running) return;
    const generation = this.#generation;
    const upstreams = this.#upstreams;
    for (const { name, pool, proxyProtocol } of upstreams) {
      const settings = pool.healthCheck;
      if (settings === undefined) continue;
      for (const server of pool.servers) {
        let running = false;
        const run = () => {
          if (running || generation !== this.#generation) return;
          running = true;
          void this.#check(name, server, settings, proxyProtocol).finally(() => {
            running = false;
          });
        };
        run();
        const timer = setInterval(run, settings.interval);
        timer.unref();
        this.#timers.push(timer);
      }
    }
  }

  async #check(
    name: string,
    server: string,
    settings: NonNullable<ServerPool['healthCheck']>,
    proxyProtocol: ProxyProtocolVersion | undefined,
  ): Promise<void> {
    const generation = this.#generation;
    const url = new URL(server);
    let failure: string | undefined;
    try {
      const socket = await this.#dial({ name, url }, settings.timeout, proxyProtocol);
      if (settings.path === undefined) socket.destroy();
      else {
        const status = await httpStatus(socket, url.host, settings.path, settings.timeout);
        if (status < 200 || status >= 400) failure = `GET ${settings.path} answered ${status}`;
      }
    } catch (err) {
      failure = (err as { code?: string }).code ?? (err as Error).message;
    }
    // A reload in the meantime: this result is about a config that no longer runs.
    if (generation !== this.#generation) return;
    const change = this.#balancer.checked(name, server, failure === undefined, settings);
    if (change !== undefined) this.#onChange?.(name, server, change === 'down');
    if (change === 'down') {
      const checks = settings.fails === 1 ? 'its health check' : `${settings.fails} health checks in a row`;
      const until = settings.passes === 1 ? 'a check succeeds' : `${settings.passes} checks in a row succeed`;
      this.#log.warn(
        { event: 'upstream.server_down', upstream: name, server, why: failure },
        `server ${server} of upstream ${name} failed ${checks} (${failure}): out until ${until}`,
      );
    } else if (change === 'up') {
      this.#log.info(
        { event: 'upstream.server_up', upstream: name, server },
        `server ${server} of upstream ${name} passed its health check: back in`,
      );
    }
  }

  close(): void {
    this.#generation++;
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
  }
}
