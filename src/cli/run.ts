// `wsgate run`: starts wsgate from a config file (default config/wsgate.yaml), or from --listen/--upstream
// as a one-route reverse proxy and/or --forward as a forward proxy. Reloads on SIGHUP and on file change; stops gracefully on SIGINT/SIGTERM.
import { existsSync } from 'node:fs';
import { startWsgate } from '../app/app.ts';
import { startMemoryReclaimer } from '../app/memory-reclaimer.ts';
import { runPrimary } from '../app/primary.ts';
import { reopenLogsOnSignal, waitForStopSignal } from '../app/signals.ts';
import { isWorkerProcess, runWorker } from '../app/worker.ts';
import { resolveWorkers } from '../app/worker-pool.ts';
import { parseWorkers } from '../config/fields.ts';
import type { ConfigIssue } from '../config/issues.ts';
import { configFromObject, loadConfigFile, loadConfigText, readConfigFile } from '../config/load.ts';
import type { Config, TapLevel } from '../config/schema.ts';
import { watchConfig } from '../config/watch.ts';
import { WsgateError } from '../errors.ts';
import { createLogger, type LogFormat, type LogLevel } from '../log/logger.ts';
import { formatHostPort, parseHostPort } from '../net/host-port.ts';
import { isLoopbackHost } from '../net/ip.ts';
import { type Output, parseCommandArgs, reportError } from './args.ts';

export const DEFAULT_CONFIG = 'config/wsgate.yaml';

/**
 * The config of --listen/--upstream and --forward. A bad value is the flag's fault, so it is said as the flag
 * (`--upstream ftp://x: expected a ws://, … URL`), a usage error: the schema's paths (`listeners[0].routes[0]
 * .upstream`) and its hint to fix a config file name things the user never wrote.
 */
function configFromFlags(
  route: { listen?: string; upstream?: string } | undefined,
  forward: string | undefined,
): Config {
  const listeners = [
    ...(route ? [{ name: 'cli', bind: route.listen, routes: [{ name: 'cli', upstream: route.upstream }] }] : []),
    ...(forward !== undefined ? [{ name: 'proxy', bind: forward, forward: {} }] : []),
  ];
  try {
    return configFromObject({ listeners });
  } catch (err) {
    if (!(err instanceof WsgateError) || err.code !== 'WSG_CONFIG_INVALID') throw err;
    const flags = new Map<string, string>([
      ['listeners[0].routes[0].upstream', `--upstream ${route?.upstream}`],
      ['listeners[0].bind', route ? `--listen ${route.listen}` : `--forward ${forward}`],
      ['listeners[1].bind', `--forward ${forward}`],
    ]);
    const said = (err.details as ConfigIssue[]).map((i) => `${flags.get(i.path) ?? i.path}: ${i.message}`);
    throw new WsgateError('WSG_USAGE', { detail: `run: ${said.join('; ')}` }, { cause: err });
  }
}

export const RUN_HELP = `Usage: wsgate run [-c FILE] [options]
       wsgate run --listen HOST:PORT --upstream URL [options]
       wsgate run --forward HOST:PORT [options]

Starts wsgate. With a config file (default ${DEFAULT_CONFIG}) it runs the listeners and routes
the file describes, and reloads it on SIGHUP or when the file changes (an invalid file is
reported and the running config stays). Without one, --listen and --upstream run a single
reverse route: every request and WebSocket handshake on HOST:PORT goes to URL, and
--forward runs a forward proxy (use it as HTTP_PROXY / HTTPS_PROXY); both may be given.

Options:
  -c, --config FILE      YAML config file (default ${DEFAULT_CONFIG})
      --listen HOST:PORT  listen address for a one-route reverse proxy (no config file)
      --upstream URL      ws://, wss://, http:// or https:// upstream for --listen
      --forward HOST:PORT a forward proxy on HOST:PORT (no config file); a loopback
                          address only, as it has no authentication
      --log-level LEVEL   fatal, error, warn, info (default), debug, trace or silent
      --log-format FMT    auto (pretty on a TTY, default), json or pretty
      --tap LEVEL         tap level for every route: off, meta, frames or payload
                          (default: the config's tap.level, else meta)
      --workers N|auto    worker processes sharing the listeners (default: the
                          config's workers, else 1; auto = one per core)
      --admin HOST:PORT   serve the admin API there (overrides inspector.bind); a
                          loopback address, unless the config sets inspector.token
  -h, --help             show this help

Signals: SIGHUP reloads the config; SIGUSR1 reopens the log files (after logrotate moved
them); SIGINT/SIGTERM stop accepting, let connections in flight finish within
shutdown.grace, and exit 0. With more than one worker, SIGHUP replaces the workers one
at a time (each old one shuts down as on SIGTERM), a changed file is applied in place,
and a worker that crashes is restarted.

Examples:
  wsgate run                                   # config/wsgate.yaml: echo on ws://127.0.0.1:8080/echo
  wsgate run -c my.yaml
  wsgate run --listen 127.0.0.1:8080 --upstream ws://127.0.0.1:3000
  wsgate run --forward 127.0.0.1:8888             # then: HTTPS_PROXY=http://127.0.0.1:8888 curl …
`;

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
const FORMATS = new Set(['auto', 'json', 'pretty']);

const TAP_LEVELS = new Set(['off', 'meta', 'frames', 'payload']);

type Overrides = { logLevel?: string | undefined; logFormat?: string | undefined; tap?: string | undefined };

/** Command-line options win over the file, on start and on every reload. */
function applyOverrides(config: Config, o: Overrides): Config {
  if (o.logLevel !== undefined && !LEVELS.has(o.logLevel)) {
    throw new WsgateError('WSG_USAGE', { detail: `run: --log-level must be one of ${[...LEVELS].join(', ')}` });
  }
  if (o.logFormat !== undefined && !FORMATS.has(o.logFormat)) {
    throw new WsgateError('WSG_USAGE', { detail: `run: --log-format must be one of ${[...FORMATS].join(', ')}` });
  }
  if (o.tap !== undefined && !TAP_LEVELS.has(o.tap)) {
    throw new WsgateError('WSG_USAGE', { detail: `run: --tap must be one of ${[...TAP_LEVELS].join(', ')}` });
  }
  const tap = o.tap as TapLevel | undefined;
  return {
    ...config,
    log: {
      ...config.log,
      level: (o.logLevel ?? config.log.level) as LogLevel,
      format: (o.logFormat ?? config.log.format) as LogFormat,
    },
    tap: { ...config.tap, level: tap ?? config.tap.level },
    listeners: tap
      ? config.listeners.map((l) => ({
          ...l,
          routes: l.routes.map((r) => ({ ...r, tap })),
          forward: l.forward === undefined ? undefined : { ...l.forward, tap },
        }))
      : config.listeners,
  };
}

/** --admin HOST:PORT: the admin API there, with the store's defaults when the config has no inspector section. */
function withAdmin(config: Config, admin: string | undefined): Config {
  if (admin === undefined) return config;
  const bind = parseHostPort(admin);
  if (!bind.ok) throw new WsgateError('WSG_USAGE', { detail: `run: --admin: ${bind.message}` });
  if (!isLoopbackHost(bind.value.host) && config.inspector?.token === undefined) {
    throw new WsgateError('WSG_USAGE', {
      detail: `run: --admin ${admin} is beyond loopback: the admin API there needs inspector.token in a config file (or bind 127.0.0.1)`,
    });
  }
  const inspector =
    config.inspector ??
    configFromObject({ listeners: [{ bind: '127.0.0.1:0', forward: {} }], inspector: { bind: admin } }).inspector!;
  return { ...config, inspector: { ...inspector, bind: bind.value } };
}

export async function runCommand(argv: string[], io: Output): Promise<number> {
  // A worker of `--workers N`: its config comes from the primary, which checked the arguments.
  if (isWorkerProcess()) return runWorker({ reportError });
  const { values } = parseCommandArgs('run', argv, {
    config: { type: 'string', short: 'c' },
    listen: { type: 'string' },
    upstream: { type: 'string' },
    forward: { type: 'string' },
    'log-level': { type: 'string' },
    'log-format': { type: 'string' },
    tap: { type: 'string' },
    workers: { type: 'string' },
    admin: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.out(RUN_HELP);
    return 0;
  }
  const oneRoute = values.listen !== undefined || values.upstream !== undefined;
  const forward = values.forward;
  if ((oneRoute || forward !== undefined) && values.config !== undefined) {
    throw new WsgateError('WSG_USAGE', {
      detail: 'run: use either --config or --listen/--upstream/--forward, not both',
    });
  }
  if (oneRoute && (values.listen === undefined || values.upstream === undefined)) {
    throw new WsgateError('WSG_USAGE', { detail: 'run: --listen and --upstream go together' });
  }
  if (forward !== undefined) {
    const bind = parseHostPort(forward);
    if (bind.ok && !isLoopbackHost(bind.value.host)) {
      throw new WsgateError('WSG_USAGE', {
        detail: `run: --forward ${forward} would be an open proxy for every machine that can reach it; --forward takes a loopback address such as 127.0.0.1:8888 (for another address use a config file with forward.auth or forward.allowHosts)`,
      });
    }
  }
  const file = oneRoute || forward !== undefined ? undefined : (values.config ?? DEFAULT_CONFIG);
  if (file !== undefined && values.config === undefined && !existsSync(file)) {
    throw new WsgateError('WSG_USAGE', {
      detail: `run: no config file given and ${DEFAULT_CONFIG} does not exist here; use -c FILE or --listen/--upstream`,
    });
  }
  let workersFlag: number | undefined;
  if (values.workers !== undefined) {
    const parsed = parseWorkers(values.workers);
    if (!parsed.ok) throw new WsgateError('WSG_USAGE', { detail: `run: --workers: ${parsed.message}` });
    workersFlag = resolveWorkers(parsed.value);
  }
  const overrides: Overrides = { logLevel: values['log-level'], logFormat: values['log-format'], tap: values.tap };
  // The text is kept for the watcher: what it was loaded from is no change to reload.
  const loadedText = file === undefined ? undefined : await readConfigFile(file);
  const loaded =
    file !== undefined && loadedText !== undefined
      ? loadConfigText(loadedText, file)
      : configFromFlags(oneRoute ? { listen: values.listen, upstream: values.upstream } : undefined, forward);
  const config = withAdmin(applyOverrides(loaded, overrides), values.admin);
  const workers = workersFlag ?? resolveWorkers(config.workers);
  if (workers > 1) {
    const prepare = (next: Config) => withAdmin(applyOverrides(next, overrides), values.admin);
    return runPrimary({ config, workers: workersFlag, file, loadedText, prepare, io });
  }
  const log = createLogger(config.log);
  // Listen for SIGTERM/SIGINT before anything starts: a signal that arrives while the listeners are starting (a
  // supervisor that saw the first "listening" line) must shut down gracefully, not kill the process unlogged.
  const stopSignal = waitForStopSignal();
  const stopReopening = reopenLogsOnSignal(log);
  const running = await startWsgate(config, log, {
    // POST /api/reload: the file is validated first so that a bad one answers with its errors, then applied as
    // SIGHUP applies it.
    reloadFromFile: file
      ? async () => {
          await loadConfigFile(file);
          await watcher?.reload();
        }
      : undefined,
  });
  // After a burst of traffic, garbage would otherwise stay resident until the next burst (app/memory-reclaimer.ts).
  startMemoryReclaimer({ onReclaim: (r) => log.debug({ event: 'memory.reclaimed', ...r }, 'memory reclaimed') });
  let watcher: { reload(): Promise<void>; close(): void } | undefined;
  // Without a file there is nothing to re-read, but SIGHUP must not end the process (Node's default): a
  // `kill -HUP` or a service manager's reload meant as a reload would stop the proxy, unlogged.
  const onHangup = file
    ? () => void watcher?.reload()
    : () =>
        log.warn(
          { event: 'config.reload_skipped', signal: 'SIGHUP' },
          'SIGHUP: no config file to reload (started with --listen/--upstream or --forward); nothing changes',
        );
  process.on('SIGHUP', onHangup);
  if (file) {
    watcher = watchConfig(file, {
      loadedText,
      onReload: (next) => {
        if (workersFlag === undefined && resolveWorkers(next.workers) !== 1) {
          log.warn({ event: 'workers.unchanged' }, 'a changed workers count applies after a restart');
        }
        void running.reload(withAdmin(applyOverrides(next, overrides), values.admin));
      },
      onError: (err) =>
        log.error(
          { event: 'config.reload_failed', code: err.code, file, issues: err.details },
          `config reload failed; keeping the running config:\n${err.message}`,
        ),
    });
  }

  // Announce only once the watcher is up, so an edit made right after this line is never missed.
  io.err(
    [...running.listeners]
      .map(([name, a]) => `wsgate: ${name} listening on ${formatHostPort(a.host, a.port)}`)
      .join('\n') +
      (running.echo ? `\nwsgate: echo server on ${running.echo.url}` : '') +
      (running.inspector ? `\nwsgate: inspector on ${running.inspector.admin.url}/` : ''),
  );

  const signal = await stopSignal;
  log.info({ event: 'signal', signal }, `received ${signal}`);
  watcher?.close();
  process.off('SIGHUP', onHangup);
  await running.shutdown();
  stopReopening();
  log.flush();
  return 0;
}
