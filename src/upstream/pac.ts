// Evaluating PAC scripts the way browsers do, in a sandbox: pac-resolver compiles the script and runs
// FindProxyForURL in QuickJS (quickjs-wasi), with the standard helpers (shExpMatch, isInNet, dnsResolve, …).
// Used by `wsgate probe --pac` (one answer) and by wsgate's own PAC proxies (proxies[].pac: compiled once at start
// and on reload, asked per destination). quickjs-wasi 3 needs its WebAssembly module handed in (the
// `QuickJS.create()` call in pac-resolver's README throws); it ships beside the package as
// quickjs-wasi/quickjs.wasm. A PAC URL is fetched directly, never through a proxy (it is what decides the proxy).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { WsgateError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';

/** PAC scripts are small; a larger answer is not a PAC file. */
const MAX_PAC_BYTES = 1024 * 1024;
/** A script runs on the event loop: one stretch of it longer than this is interrupted (a loop that never ends). */
const MAX_RUN_MS = 250;
const MEMORY_LIMIT = 16 * 1024 * 1024;
/** How long the trial run at load may wait (on DNS helpers) before the script is taken as it is. */
const TRIAL_MS = 2000;

let wasm: Promise<Buffer> | undefined;

// Imported on first use: the parser stack and QuickJS are ~4 MiB of heap that a wsgate without PAC proxies (most)
// would otherwise carry from start, and collect over and over.
const pacLibraries = () => Promise.all([import('pac-resolver'), import('quickjs-wasi')]);

function quickjsWasm(): Promise<Buffer> {
  wasm ??= readFile(createRequire(import.meta.url).resolve('quickjs-wasi/quickjs.wasm'));
  return wasm;
}

/** The PAC script's text, from a file path or an http(s):// URL. */
export async function loadPacSource(where: string, timeoutMs: number): Promise<string> {
  if (/^https?:\/\//i.test(where)) {
    const res = await fetch(where, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
    if (!res.ok) throw new Error(`GET ${where} answered ${res.status}`);
    const text = await res.text();
    if (text.length > MAX_PAC_BYTES) throw new Error(`${where} is larger than ${MAX_PAC_BYTES} bytes`);
    return text;
  }
  const path = where.startsWith('file://') ? new URL(where) : where;
  const text = await readFile(path, 'utf8');
  if (text.length > MAX_PAC_BYTES) throw new Error(`${where} is larger than ${MAX_PAC_BYTES} bytes`);
  return text;
}

/** Runs FindProxyForURL(url, host) from the script once; rejects with the script's own error (syntax, throw). */
export async function findProxyForUrl(source: string, url: string, host: string): Promise<string> {
  const script = await compilePac(source);
  try {
    return await script.find(url, host);
  } finally {
    script.dispose();
  }
}

/** A compiled PAC script: one QuickJS VM, asked any number of times. */
export type PacScript = {
  /** FindProxyForURL(url, host): the script's answer, or its error. */
  find(url: string, host: string): Promise<string>;
  dispose(): void;
};

/**
 * Compiles a PAC script once. Rejects when it does not parse or defines no FindProxyForURL. `alert()` in the
 * script goes to `onAlert` (default: nowhere). Any stretch of the script that runs longer than MAX_RUN_MS without
 * waiting (for dnsResolve) is interrupted, so a script with an endless loop fails instead of stopping wsgate.
 */
export async function compilePac(source: string, onAlert?: (message: string) => void): Promise<PacScript> {
  // The interrupt handler is called while QuickJS runs; a gap of more than a few ms since its last call means the
  // VM waited (on the event loop), so a new stretch begins.
  let last = 0;
  let stretch = 0;
  const [{ createPacResolver }, { QuickJS }] = await pacLibraries();
  const vm = await QuickJS.create({
    wasm: await quickjsWasm(),
    memoryLimit: MEMORY_LIMIT,
    interruptHandler: () => {
      const now = performance.now();
      if (now - last > 5) stretch = now;
      last = now;
      return now - stretch > MAX_RUN_MS;
    },
  });
  try {
    const alert = (message = '') => onAlert?.(String(message));
    const resolver = createPacResolver(vm, source, { sandbox: { alert } });
    let disposed = false;
    return {
      find: async (url, host) => {
        if (disposed) throw new Error('the PAC script was replaced');
        const result: unknown = await resolver(url, host);
        return typeof result === 'string' ? result : String(result);
      },
      dispose: () => {
        if (disposed) return;
        disposed = true;
        vm.dispose();
      },
    };
  } catch (err) {
    vm.dispose();
    throw err;
  }
}

/** Where a PAC proxy's script comes from, for messages: the config name and the file or URL. */
export type PacOrigin = { readonly proxy: string; readonly source: string };

/**
 * Reads (or fetches) and compiles one PAC proxy's script, checking it answers at all (a script that throws for a
 * plain URL would fail every connection). Errors are WSG_PAC_READ or WSG_PAC_INVALID, exit code 2.
 */
export async function loadPacScript(
  origin: PacOrigin,
  timeoutMs: number,
  onAlert?: (message: string) => void,
): Promise<PacScript> {
  let text: string;
  try {
    text = await loadPacSource(origin.source, timeoutMs);
  } catch (err) {
    throw new WsgateError(
      'WSG_PAC_READ',
      { proxy: origin.proxy, source: origin.source, detail: (err as Error).message },
      { cause: err },
    );
  }
  let script: PacScript | undefined;
  try {
    script = await compilePac(text, onAlert);
    // A trial run catches what only running shows (a ReferenceError, a throw); one that waits long (DNS helpers
    // without a resolver) is given up on, not held against the script.
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.min(timeoutMs, TRIAL_MS));
    });
    try {
      await Promise.race([script.find('http://wsgate-pac-check.invalid/', 'wsgate-pac-check.invalid'), waited]);
    } finally {
      clearTimeout(timer);
    }
    return script;
  } catch (err) {
    script?.dispose();
    throw new WsgateError(
      'WSG_PAC_INVALID',
      { proxy: origin.proxy, source: origin.source, detail: (err as Error).message ?? String(err) },
      { cause: err },
    );
  }
}

/** How long fetching a PAC URL may take at start or reload. */
export const PAC_FETCH_TIMEOUT_MS = 10_000;

/**
 * The scripts of every proxy with `pac:`, by proxy name, read and compiled before anything listens (and on reload,
 * where a bad one keeps the running config). Rejects with the first WSG_PAC_* error, freeing what it had compiled.
 *
 * `running` (a reload): the scripts in use now, with their sources. A script whose source the new config names
 * unchanged is read again, but when it cannot be read (the PAC server is down) the running one stays, with a warn
 * line: a reload about something else must not fail on a fetch of what did not change. A script that reads but
 * does not compile or run still fails the reload: that is a new script, and it is broken.
 */
export async function loadPacScripts(
  proxies: readonly { name: string; pac?: string | undefined }[],
  log?: Logger,
  timeoutMs = PAC_FETCH_TIMEOUT_MS,
  running?: ReadonlyMap<string, { readonly source: string; readonly script: PacScript }>,
): Promise<Map<string, PacScript>> {
  const scripts = new Map<string, PacScript>();
  /** Running scripts kept: the caller still owns them, so a failure here must not free them. */
  const kept = new Set<PacScript>();
  try {
    for (const p of proxies) {
      if (p.pac === undefined) continue;
      // alert() in a script is its author's debugging aid: an info line, as browsers put it in their net log.
      const alert = (message: string) =>
        log?.info({ event: 'proxy.pac_alert', proxy: p.name }, `PAC ${p.name}: ${message}`);
      const current = running?.get(p.name);
      try {
        scripts.set(p.name, await loadPacScript({ proxy: p.name, source: p.pac }, timeoutMs, alert));
      } catch (err) {
        const unreadable = err instanceof WsgateError && err.code === 'WSG_PAC_READ';
        if (!unreadable || current === undefined || current.source !== p.pac) throw err;
        scripts.set(p.name, current.script);
        kept.add(current.script);
        log?.warn(
          { event: 'proxy.pac_kept', proxy: p.name, pac: p.pac, code: err.code },
          `upstream proxy ${p.name}: PAC ${p.pac} could not be read again (${err.message}); the running script stays`,
        );
        continue;
      }
      log?.info({ event: 'proxy.pac', proxy: p.name, pac: p.pac }, `upstream proxy ${p.name}: PAC ${p.pac}`);
    }
  } catch (err) {
    for (const script of scripts.values()) if (!kept.has(script)) script.dispose();
    throw err;
  }
  return scripts;
}
