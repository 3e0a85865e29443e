// What a reload cannot move: the admin API and the echo server keep the address (and for the admin API the store
// settings) they started with. The admin token is the exception: a leaked one is rotated by editing the file. The
// config a reload leaves running says so, so that GET /api/config shows what runs, not what was asked for.
import { isDeepStrictEqual } from 'node:util';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';

/** `next` with the inspector and echo blocks as they run: `running`'s, and `next`'s admin token. */
export function serversAsRunning(running: Config, next: Config): Config {
  const inspector =
    running.inspector === undefined || next.inspector === undefined
      ? running.inspector
      : { ...running.inspector, token: next.inspector.token };
  return { ...next, inspector, echo: running.echo };
}

/**
 * One warning per block whose change waits for a restart. Under --workers a rolling restart moves the echo server
 * (new workers start it) but not the primary's admin API: the primary warns about that one alone (`blocks`).
 */
export function warnRestartOnly(
  running: Config,
  next: Config,
  log: Logger,
  blocks: { inspector: boolean; echo: boolean } = { inspector: true, echo: true },
): void {
  const { token: _runningToken, ...runningAdmin } = running.inspector ?? {};
  const { token: _nextToken, ...nextAdmin } = next.inspector ?? {};
  const adminChanged =
    !isDeepStrictEqual(runningAdmin, nextAdmin) || (running.inspector === undefined) !== (next.inspector === undefined);
  if (blocks.inspector && adminChanged) {
    log.warn(
      { event: 'inspector.unchanged' },
      'a changed inspector block (bind, store, or the inspector added or removed) applies after a restart; only inspector.token is applied now',
    );
  }
  if (blocks.echo && !isDeepStrictEqual(running.echo, next.echo)) {
    log.warn(
      { event: 'echo.unchanged' },
      'a changed echo block applies after a restart; the echo server stays as it is',
    );
  }
}
