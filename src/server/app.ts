// One running wsgate: the listeners and the built-in echo server a Config asks for, reload that swaps in a new
// config for new connections, and graceful shutdown. The CLI and the integration tests both start wsgate here.
import type { Config } from '../config/schema.ts';
import { type EchoServer, startEchoServer } from '../echo/server.ts';
import type { Logger } from '../log/logger.ts';
import { createTextRedactor } from '../log/redact.ts';
import { createHttpForwarder } from '../reverse/http.ts';
import { createTrafficLog, type TrafficLog } from '../traffic/traffic-log.ts';
import { formatAddress, type ListenerSettings, ReverseListener } from './listener.ts';

export type RunningWsgate = {
  /** Bound addresses by listener name (the real port when the config asked for port 0). */
  readonly listeners: ReadonlyMap<string, { host: string; port: number }>;
  readonly echo: EchoServer | undefined;
  /** Applies a validated config to new connections; listeners added or removed by name are started or closed. */
  reload(config: Config): Promise<void>;
  /** Stops accepting, waits up to the configured grace period for what is in flight, closes the rest. */
  shutdown(): Promise<void>;
};

function settingsOf(config: Config, traffic: TrafficLog): ListenerSettings {
  return {
    limits: config.limits,
    showSecrets: config.log.showSecrets,
    tap: {
      previewBytes: config.tap.previewBytes,
      maxDecodedBytes: config.tap.maxDecodedBytes,
      redactText: createTextRedactor(config.tap.redactJsonKeys, config.tap.redactPatterns),
    },
    emit: (event) => traffic.emit(event),
  };
}

function sameBind(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  return a.host === b.host && a.port === b.port;
}

/** Starts everything the config names. Nothing is left half-started: on a failure, what did start is closed. */
export async function startWsgate(initial: Config, log: Logger): Promise<RunningWsgate> {
  let config = initial;
  const forwarder = createHttpForwarder();
  const listeners = new Map<string, ReverseListener>();
  const addresses = new Map<string, { host: string; port: number }>();
  let echo: EchoServer | undefined;
  let traffic = createTrafficLog({ file: config.log.traffic, main: log });

  const startListener = async (spec: Config['listeners'][number]) => {
    const listener = new ReverseListener(spec, settingsOf(config, traffic), log, forwarder);
    const address = await listener.listen();
    listeners.set(spec.name, listener);
    addresses.set(spec.name, address);
    log.info(
      { event: 'listener.start', listener: spec.name, address: formatAddress(address), routes: spec.routes.length },
      `listening on http://${formatAddress(address)} (${spec.name})`,
    );
  };

  try {
    if (config.echo) {
      echo = await startEchoServer(config.echo.bind);
      log.info({ event: 'echo.start', url: echo.url }, `echo server on ${echo.url}`);
    }
    for (const spec of config.listeners) await startListener(spec);
  } catch (err) {
    await Promise.all([...listeners.values()].map((l) => l.close(0)));
    await echo?.close();
    forwarder.close();
    await traffic.close();
    throw err;
  }

  return {
    listeners: addresses,
    get echo() {
      return echo;
    },
    async reload(next) {
      const previous = config;
      config = next;
      if (next.log.traffic !== previous.log.traffic) {
        const old = traffic;
        traffic = createTrafficLog({ file: next.log.traffic, main: log });
        void old.close();
      }
      const settings = settingsOf(next, traffic);
      for (const spec of next.listeners) {
        const existing = listeners.get(spec.name);
        if (existing && sameBind(existing.bind, spec.bind)) {
          existing.update(spec, settings);
          continue;
        }
        if (existing) {
          listeners.delete(spec.name);
          addresses.delete(spec.name);
          await existing.close(previous.shutdown.grace);
        }
        try {
          await startListener(spec);
        } catch (err) {
          log.error({ event: 'listener.start_failed', listener: spec.name, err }, (err as Error).message);
        }
      }
      for (const [name, listener] of listeners) {
        if (!next.listeners.some((l) => l.name === name)) {
          listeners.delete(name);
          addresses.delete(name);
          log.info({ event: 'listener.stop', listener: name }, `listener ${name} removed by reload`);
          void listener.close(previous.shutdown.grace);
        }
      }
      log.info({ event: 'config.reloaded', listeners: next.listeners.length }, 'configuration reloaded');
    },
    async shutdown() {
      const grace = config.shutdown.grace;
      log.info({ event: 'shutdown.start', graceMs: grace }, `shutting down (grace ${grace} ms)`);
      await Promise.all([...listeners.values()].map((l) => l.close(grace)));
      await echo?.close();
      forwarder.close();
      await traffic.close();
      log.info({ event: 'shutdown.done' }, 'stopped');
    },
  };
}
