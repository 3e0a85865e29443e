// The inspector of one running wsgate: the traffic store (fed by the instance's WebSocket events), the session
// file (created on the first message with a payload, so no worker thread and no file exist unless a route taps
// "payload"), and the admin listener with the API, the live feed and whatever else is mounted on it. app/
// starts it when the config has an `inspector:` section and hands every WsEvent to `ingest`.
import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.ts';
import type { WsEvent, WsFailedEvent, WsOpenEvent } from '../events.ts';
import type { Logger } from '../log/logger.ts';
import { createValueRedactor, type LineRedaction, type ValueRedactor } from '../log/redact.ts';
import { formatHostPort } from '../net/host-port.ts';
import { redactHandshake } from '../traffic/records.ts';
import { TrafficStore } from '../traffic/store.ts';
import { SessionFile } from '../traffic/store-disk.ts';
import { type AdminHandler, AdminServer } from './admin-server.ts';
import { type AdminContext, apiHandlers, type ControlTarget } from './api.ts';
import { heldHandlers } from './api-held.ts';
import { sseHandler, wsFeedHandler } from './feed.ts';
import { HeldList } from './held.ts';
import { messageHandler } from './message-api.ts';
import { probeHandler } from './probe-api.ts';

/** wsgate's version, from package.json beside src/ (the HAR creator); cli/version.ts reads it the same way. */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

/** The listener a route belongs to: events name the route only (forward listeners' are "<name>/forward|tunnel"). */
export function listenerOfRoute(config: Config, route: string): string | undefined {
  for (const l of config.listeners) {
    if (route === `${l.name}/forward` || route === `${l.name}/tunnel`) return l.name;
    if (l.routes.some((r) => r.name === route)) return l.name;
  }
  return undefined;
}

export type InspectorSettings = NonNullable<Config['inspector']>;

export type InspectorDeps = {
  log: Logger;
  /** The live session with this id on any listener of the instance (in the primary of --workers N: a worker's). */
  session(conn: string): ControlTarget | undefined;
  /** The running config, redacted for display. */
  config(): unknown;
  reload: (() => Promise<void>) | undefined;
  /** The listener a route belongs to. */
  listenerOf(route: string): string | undefined;
  /** The config's log.* of the moment: records are redacted as the logs are. */
  redaction?: (() => LineRedaction) | undefined;
  version: string;
  /** More endpoints on the same listener (metrics, health). */
  handlers?: readonly AdminHandler[] | undefined;
};

export type Inspector = {
  readonly admin: AdminServer;
  readonly store: TrafficStore;
  /** The session file, once a payload message created it. */
  readonly sessionFile: SessionFile | undefined;
  ingest(event: WsEvent): void;
  close(): Promise<void>;
};

export async function startInspector(settings: InspectorSettings, deps: InspectorDeps): Promise<Inspector> {
  const { log } = deps;
  let disk: SessionFile | undefined;
  const openDisk = (): SessionFile | undefined => {
    if (!settings.store.disk) return undefined;
    disk ??= new SessionFile({
      file: settings.store.file,
      maxBytes: settings.store.maxFileBytes,
      onError: (message) =>
        log.error({ event: 'inspector.session_file_failed', file: settings.store.file }, `session file: ${message}`),
    });
    return disk;
  };
  const store = new TrafficStore({
    maxBytes: settings.store.maxBytes,
    maxMessagesPerConnection: settings.store.maxMessagesPerConnection,
    listenerOf: deps.listenerOf,
    onPayload: settings.store.disk ? (m) => openDisk()?.append(m) : undefined,
  });
  const context: AdminContext = {
    store,
    get disk() {
      return disk;
    },
    session: deps.session,
    config: deps.config,
    reload: deps.reload,
    version: deps.version,
  };
  const redactor = redactorOf(deps.redaction);
  const feed = wsFeedHandler(store);
  const held = new HeldList();
  const admin = new AdminServer({
    bind: settings.bind,
    token: settings.token,
    handlers: [
      ...apiHandlers(context),
      messageHandler(context),
      ...heldHandlers({ held, session: deps.session }),
      sseHandler(store),
      probeHandler(),
      ...(deps.handlers ?? []),
    ],
    upgrades: [feed],
    log,
  });
  const address = await admin.listen();
  log.info(
    {
      event: 'inspector.start',
      address: formatHostPort(address.host, address.port),
      token: settings.token !== undefined,
    },
    `admin API on ${admin.url}/api/connections`,
  );
  return {
    admin,
    store,
    get sessionFile() {
      return disk;
    },
    ingest: (event) => {
      const redact = event.type === 'open' || event.type === 'failed' ? redactor() : undefined;
      store.ingest(redact === undefined ? event : redactHandshake(event as WsOpenEvent | WsFailedEvent, redact));
      held.ingest(event);
    },
    async close() {
      feed.close();
      await admin.close();
      await disk?.close();
    },
  };
}

/**
 * The redactor of the log settings of the moment (a reload may change them), compiled again only when they change.
 * Connections already recorded keep the redaction they got.
 */
function redactorOf(redaction: (() => LineRedaction) | undefined): () => ValueRedactor | undefined {
  let cached: { key: string; redact: ValueRedactor | undefined } | undefined;
  return () => {
    // Without settings, the defaults: an inspector started on its own hides what a default log hides.
    const now = redaction?.() ?? {};
    const { showSecrets, redactQueryParams, redactSubprotocols, tokenSubprotocolPrefixes } = now;
    const key = JSON.stringify([showSecrets, redactQueryParams, redactSubprotocols, tokenSubprotocolPrefixes]);
    if (cached?.key !== key) cached = { key, redact: createValueRedactor(now) };
    return cached.redact;
  };
}
