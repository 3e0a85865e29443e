// Loading a config: text or file → YAML → ${VAR} substitution → schema → one frozen Config snapshot.
// Every problem found on the way is collected and thrown together as one WSG_CONFIG_INVALID error, so a
// user fixes a file in one round. Reading the file is the only I/O here.

import { open } from 'node:fs/promises';
import { isPlainShellWord, WsgateError } from '../errors.ts';
import { type Env, substituteEnv } from './env.ts';
import type { PathSegment } from './issues.ts';
import { type ConfigIssue, formatConfigIssue, formatPath } from './issues.ts';
import { parseConfigText } from './parse.ts';
import type { Config } from './schema.ts';
import { type SchemaIssue, validateConfig } from './validate.ts';

export { type ConfigIssue, formatConfigIssue } from './issues.ts';

/** Larger files are refused before parsing: a config is hand-written, and YAML parsing is not free. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Where each loaded config's keys are in its file, for errors found after loading (a TLS file that is missing).
 * Keyed by the config's listeners list, which the copies `run` makes of it (`--log-level`, `--admin`) share.
 */
const PLACES = new WeakMap<object, (path: readonly PathSegment[]) => string>();

/**
 * "file:line:col key" of a key of a config loaded from text, for an error about a value it names (undefined for a
 * config built from flags). Positions are of the key as written: a path the schema filled in reads as its parent.
 */
export function placeInConfig(config: Pick<Config, 'listeners'>, path: readonly PathSegment[]): string | undefined {
  return PLACES.get(config.listeners)?.(path);
}

function invalid(issues: ConfigIssue[], file?: string): WsgateError {
  const sorted = issues
    .map((issue, i) => ({ issue, i }))
    .sort((a, b) => a.issue.line - b.issue.line || a.issue.col - b.issue.col || a.i - b.i)
    .map((x) => x.issue);
  const detail = sorted.map(formatConfigIssue).join('\n');
  // The hint names the file, a command to paste, where the name needs no quoting for a shell; else the table's FILE.
  const hint =
    file !== undefined && isPlainShellWord(file)
      ? `Fix the listed keys; \`wsgate check -c ${file}\` validates without starting.`
      : undefined;
  return new WsgateError('WSG_CONFIG_INVALID', { detail }, { details: sorted, hint });
}

/** Parses, substitutes `${VAR}`s from `env`, validates and freezes. Throws WSG_CONFIG_INVALID listing every issue. */
export function loadConfigText(text: string, file: string, env: Env = process.env): Config {
  const parsed = parseConfigText(text, file);
  const issues = [...parsed.issues];
  if (parsed.value === undefined) throw invalid(issues, file);

  const place = (path: SchemaIssue['path'], message: string, key = false): ConfigIssue => {
    const { line, col } = parsed.locate(path, { key });
    return { file, line, col, path: formatPath(path), message };
  };

  const substituted = substituteEnv(parsed.value, env);
  for (const issue of substituted.issues) issues.push(place(issue.path, issue.message));

  const result = validateConfig(substituted.value);
  if (!result.ok) {
    // A value with an unknown tag or an unexpanded ${VAR} was checked as written; a schema issue at the same
    // path would only be a confusing echo of the real problem.
    const reported = new Set(issues.map((i) => i.path));
    for (const issue of result.issues) {
      if (!reported.has(formatPath(issue.path))) issues.push(place(issue.path, issue.message, issue.key));
    }
  }
  if (issues.length > 0 || !result.ok) throw invalid(issues, file);
  const config = deepFreeze(result.config);
  PLACES.set(config.listeners, (path) => {
    const { line, col } = parsed.locate(path, { key: true });
    return `${file}:${line}:${col} ${formatPath(path)}`;
  });
  return config;
}

/** Reads a config file (at most MAX_CONFIG_BYTES) and loads it like loadConfigText. */
export async function loadConfigFile(file: string, env: Env = process.env): Promise<Config> {
  return loadConfigText(await readConfigFile(file), file, env);
}

/** The text of a config file; WSG_CONFIG_READ when it cannot be read, WSG_CONFIG_TOO_LARGE over the limit. */
export async function readConfigFile(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    const handle = await open(file, 'r');
    try {
      const stat = await handle.stat();
      if (stat.isDirectory()) throw new WsgateError('WSG_CONFIG_READ', { file, detail: 'it is a directory' });
      if (stat.size > MAX_CONFIG_BYTES) {
        throw new WsgateError('WSG_CONFIG_TOO_LARGE', { file, size: stat.size, limit: MAX_CONFIG_BYTES });
      }
      // A pipe or device reports size 0, so the read itself is bounded too.
      const buffer = Buffer.alloc(MAX_CONFIG_BYTES + 1);
      let length = 0;
      while (length < buffer.length) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
        if (bytesRead === 0) break;
        length += bytesRead;
      }
      if (length > MAX_CONFIG_BYTES) {
        throw new WsgateError('WSG_CONFIG_TOO_LARGE', {
          file,
          size: `more than ${MAX_CONFIG_BYTES}`,
          limit: MAX_CONFIG_BYTES,
        });
      }
      bytes = buffer.subarray(0, length);
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof WsgateError) throw err;
    throw new WsgateError('WSG_CONFIG_READ', { file, detail: describeFileError(err) }, { cause: err });
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new WsgateError('WSG_CONFIG_READ', { file, detail: 'it is not valid UTF-8' }, { cause: err });
  }
}

/**
 * Why a file the user named cannot be read or written, in words: a bare ENOENT tells a person less than "no such
 * file". Also the CLI's (tail, ca export).
 */
export function describeFileError(err: unknown): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Validates a config built in code (tests, `wsgate run --listen … --upstream …`): the same schema, defaults and
 * freezing, but no YAML and no `${VAR}`s; issues have no line:col and name `source` as their file.
 */
export function configFromObject(obj: unknown, source = '<command line>'): Config {
  const result = validateConfig(obj);
  if (!result.ok) {
    throw invalid(
      result.issues.map((i) => ({ file: source, line: 0, col: 0, path: formatPath(i.path), message: i.message })),
    );
  }
  return deepFreeze(result.config);
}
