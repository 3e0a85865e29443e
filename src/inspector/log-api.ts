// The admin API's log endpoints, as Envoy's /logging and HAProxy's `set log-level`: what the running log is, and its
// level changed without a config edit, for instance to see traffic lines (info) for a moment and hide them again
// (warn) while a WebSocket misbehaves. The change holds until the next reload or restart, which apply the file's.
import type { LogLevel } from '../log/logger.ts';
import { badRequest, readJson, sendJson } from './admin-http.ts';
import type { AdminHandler } from './admin-server.ts';

const LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The running log, as GET /api/log shows it. */
export type LogView = {
  level: string;
  format: string;
  /** The main log's file; stdout when absent. */
  file?: string | undefined;
  /** The traffic log's file; the main log when absent. */
  traffic?: string | undefined;
};

export type LogControl = {
  view(): LogView;
  /** Sets the level of every process this admin API speaks for (the primary and its workers with --workers). */
  setLevel(level: LogLevel): void | Promise<void>;
};

export function logHandlers(control: LogControl): AdminHandler[] {
  return [
    {
      method: 'GET',
      path: '/api/log',
      handle(req, res) {
        req.resume();
        sendJson(res, 200, { log: control.view() });
      },
    },
    {
      method: 'PUT',
      path: '/api/log',
      async handle(req, res) {
        const body = await readJson(req);
        // Fields other than level first: a body with only {"format": …} is told that format is not set here, not
        // that its level is missing.
        const unknown = Object.keys(body).filter((key) => key !== 'level');
        if (unknown.length > 0) {
          throw badRequest(
            `only "level" can be changed here, not ${unknown.map((k) => `"${k}"`).join(', ')}: format, file and traffic come from the config's log section (edit it and reload)`,
          );
        }
        const level = body['level'];
        if (level === undefined) throw badRequest(`"level" is missing: one of ${LEVELS.join(', ')}`);
        if (typeof level !== 'string' || !(LEVELS as readonly string[]).includes(level)) {
          const given = typeof level === 'string' ? JSON.stringify(level.slice(0, 40)) : `a ${typeof level}`;
          throw badRequest(`"level" must be one of ${LEVELS.join(', ')}, not ${given}`);
        }
        await control.setLevel(level as LogLevel);
        sendJson(res, 200, { log: control.view() });
      },
    },
  ];
}
