// Secrets never reach a log line unless the user asked for them (log.showSecrets).
import { REDACTED } from '../net/url-credentials.ts';

// The header names whose values carry credentials.
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);

export type HeaderMap = Record<string, string | string[] | number | undefined>;

/** A copy of the headers with credential values replaced, for logging. */
export function redactHeaders(headers: HeaderMap, showSecrets = false): HeaderMap {
  if (showSecrets) return { ...headers };
  const out: HeaderMap = {};
  for (const [name, value] of Object.entries(headers)) {
    out[name] = SECRET_HEADERS.has(name.toLowerCase()) && value !== undefined ? REDACTED : value;
  }
  return out;
}

/** The same for [name, value] header lists, kept as pairs so order and case survive. */
export function redactPairs(pairs: readonly [string, string][], showSecrets = false): [string, string][] {
  if (showSecrets) return pairs.map(([n, v]) => [n, v]);
  return pairs.map(([name, value]) => [name, SECRET_HEADERS.has(name.toLowerCase()) ? REDACTED : value]);
}

/**
 * Builds the redactor for payload previews: values of the named JSON keys (at any depth, also in a preview cut
 * mid-document) and text matching the patterns become "[redacted]". Compiled once per config.
 */
export function createTextRedactor(
  jsonKeys: readonly string[],
  patterns: readonly string[],
): ((text: string) => string) | undefined {
  if (jsonKeys.length === 0 && patterns.length === 0) return undefined;
  const escaped = jsonKeys.map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const keyRe =
    escaped.length > 0
      ? new RegExp(`("(?:${escaped.join('|')})"\\s*:\\s*)("(?:[^"\\\\]|\\\\.)*"?|[^,}\\]\\s]+)`, 'g')
      : undefined;
  const patternRes = patterns.map((p) => new RegExp(p, 'g'));
  return (text) => {
    let out = keyRe ? text.replace(keyRe, `$1"${REDACTED}"`) : text;
    for (const re of patternRes) out = out.replace(re, REDACTED);
    return out;
  };
}
