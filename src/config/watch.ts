// Reloading the config file when it changes, and on demand (SIGHUP; the caller binds the signal).
// A valid file yields a new snapshot through onReload; an invalid one only reaches onError, so the caller keeps
// running on the last good config.
//
// The directory is watched, not the file: editors save by writing a temporary file and renaming it over the
// original, which would leave a watch on the old inode silent. Kubernetes ConfigMaps swap a symlinked
// directory instead, which shows up only as events for other names; a stat tells whether the file changed.

import { watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { WsgateError } from '../errors.ts';
import type { Env } from './env.ts';
import { loadConfigText, readConfigFile } from './load.ts';
import type { Config } from './schema.ts';

export type WatchConfigOptions = {
  env?: Env;
  onReload(config: Config): void;
  onError(err: WsgateError): void;
  /** Quiet time after the last file event before reading; editors emit several events per save. */
  debounceMs?: number;
  /**
   * The text the running config was loaded from. Events that leave the file at this text reload nothing (a log
   * file written beside the config fires them from the first second on). Without it, the first event reloads.
   */
  loadedText?: string | undefined;
};

export type ConfigWatcher = {
  /** Re-reads and validates the file now, even if it looks unchanged. */
  reload(): Promise<void>;
  close(): void;
};

function toWsgateError(err: unknown, file: string): WsgateError {
  if (err instanceof WsgateError) return err;
  return new WsgateError('WSG_CONFIG_READ', { file, detail: (err as Error).message }, { cause: err });
}

/**
 * Watches `file` and reports each changed, valid version through onReload and each failure (unreadable,
 * invalid, or an exception thrown by onReload, as WSG_INTERNAL) through onError. The watch keeps the process
 * alive until close().
 */
export function watchConfig(file: string, options: WatchConfigOptions): ConfigWatcher {
  const env = options.env ?? process.env;
  const debounceMs = options.debounceMs ?? 150;
  const name = basename(file);
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let ownEvent = false;
  // What the last read saw: unchanged content is not reloaded (editors and `touch` fire events without edits).
  // It starts as what the caller loaded, never as a read here: a read racing the caller's first edit could take
  // the edit for the baseline and swallow it.
  let lastText: string | undefined = options.loadedText;
  let lastStamp: string | undefined;
  let queue: Promise<void> = Promise.resolve();

  const stampOf = async (): Promise<string | undefined> => {
    try {
      const s = await stat(file);
      return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return undefined;
    }
  };

  const deliver = (config: Config) => {
    try {
      options.onReload(config);
    } catch (err) {
      options.onError(
        new WsgateError(
          'WSG_INTERNAL',
          { detail: `applying the reloaded config failed: ${String(err)}` },
          { cause: err },
        ),
      );
    }
  };

  const check = async (mode: 'event' | 'forced') => {
    if (closed) return;
    const ours = ownEvent;
    ownEvent = false;
    const stamp = await stampOf();
    if (mode === 'event' && !ours && stamp !== undefined && stamp === lastStamp) return;
    let text: string;
    try {
      text = await readConfigFile(file);
    } catch (err) {
      lastText = undefined;
      lastStamp = undefined;
      if (!closed) options.onError(toWsgateError(err, file));
      return;
    }
    lastStamp = stamp;
    if (mode === 'event' && text === lastText) return;
    lastText = text;
    let config: Config;
    try {
      config = loadConfigText(text, file, env);
    } catch (err) {
      if (!closed) options.onError(toWsgateError(err, file));
      return;
    }
    if (!closed) deliver(config);
  };

  // One check at a time, in order, so an older read can never overwrite a newer one.
  const enqueue = (mode: 'event' | 'forced'): Promise<void> => {
    const next = queue.then(() => check(mode));
    queue = next.catch(() => undefined);
    return next;
  };

  let watcher: ReturnType<typeof watch>;
  try {
    watcher = watch(dirname(file), (_event, changed) => {
      if (closed) return;
      if (changed === null || changed === name) ownEvent = true;
      clearTimeout(timer);
      timer = setTimeout(() => {
        timer = undefined;
        // An exception here comes from the caller's onError; rethrow it where it cannot be mistaken for ours.
        enqueue('event').catch((err: unknown) =>
          process.nextTick(() => {
            throw err;
          }),
        );
      }, debounceMs);
    });
  } catch (err) {
    throw new WsgateError(
      'WSG_CONFIG_READ',
      { file, detail: `cannot watch its directory: ${(err as Error).message}` },
      { cause: err },
    );
  }
  watcher.on('error', (err) => {
    if (!closed) {
      options.onError(
        new WsgateError('WSG_CONFIG_READ', { file, detail: `watching stopped: ${err.message}` }, { cause: err }),
      );
    }
  });

  return {
    reload: () => enqueue('forced'),
    close() {
      closed = true;
      clearTimeout(timer);
      watcher.close();
    },
  };
}
