// Secrets never reach a log line unless the user asked for them (log.showSecrets): credential headers where
// headers are logged, and, over every finished line, URL credentials (userinfo, named query parameters) and bearer
// tokens passed as WebSocket subprotocols. The line pass is the catch-all: a URL reaches logs in access lines,
// traffic lines, error messages and startup lines, and one pass over the JSON text covers all of them, also the
// ones added later.
import { readableHeaderValue } from '../http/head.ts';
import {
  createUrlRedactor,
  DEFAULT_REDACTED_QUERY_PARAMS,
  DEFAULT_TOKEN_SUBPROTOCOL_PREFIXES,
  looksLikeToken,
  REDACTED,
} from '../net/url-credentials.ts';

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
  // Values are also shown as the UTF-8 text their bytes spell (readableHeaderValue). The pairs themselves are shared
  // when there is nothing to change (the common case: every handshake's open line has three lists); nobody changes
  // a pair in place, only replaces it.
  const secret = !showSecrets && pairs.some(([name]) => isSecretHeader(name));
  if (!secret && !pairs.some(([, value]) => readableHeaderValue(value) !== value)) return pairs.slice();
  return pairs.map(([name, value]) => [name, secret && isSecretHeader(name) ? REDACTED : readableHeaderValue(value)]);
}

const SECRET_LENGTHS = new Set([...SECRET_HEADERS].map((name) => name.length));
function isSecretHeader(name: string): boolean {
  return SECRET_LENGTHS.has(name.length) && SECRET_HEADERS.has(name.toLowerCase());
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

export type LineRedaction = {
  showSecrets?: boolean | undefined;
  /** Query parameters whose values are hidden in every URL (log.redactQueryParams). */
  redactQueryParams?: readonly string[] | undefined;
  /** Hide token-shaped Sec-WebSocket-Protocol values (log.redactSubprotocols). */
  redactSubprotocols?: boolean | undefined;
  /** Subprotocols starting with one of these carry a credential after it (log.tokenSubprotocolPrefixes). */
  tokenSubprotocolPrefixes?: readonly string[] | undefined;
};

/**
 * A Sec-WebSocket-Protocol value (or a protocol field) in a JSON line: in header pairs, header objects, the
 * ws.open/ws.close `protocol` field and ws.handshake.unoffered_protocol's `offeredProtocol`. The value is a JSON
 * string body, so it ends at an unescaped quote.
 */
const PROTOCOL_VALUE = /("(?:sec-websocket-|offered)?protocol"\s*[:,]\s*")((?:[^"\\]|\\.)*)"/gi;
const MAY_HAVE_PROTOCOL = /rotocol"/i;

/** Each offered or chosen subprotocol that is a credential replaced, the others kept. */
export function redactSubprotocolList(value: string, prefixes: readonly string[]): string {
  return value
    .split(',')
    .map((item) => {
      const name = item.trim();
      const lower = name.toLowerCase();
      const prefix = prefixes.find((p) => lower.startsWith(p.toLowerCase()) && name.length > p.length);
      if (prefix !== undefined) return item.replace(name, `${name.slice(0, prefix.length)}${REDACTED}`);
      return looksLikeToken(name) ? item.replace(name, REDACTED) : item;
    })
    .join(',');
}

/**
 * The pass over each finished log line (pino's streamWrite hook): undefined when there is nothing to hide
 * (showSecrets). Lines without "@", "=" or a protocol field, such as per-frame traffic lines, cost three scans.
 */
export function createLineRedactor(options: LineRedaction = {}): ((line: string) => string) | undefined {
  if (options.showSecrets === true) return undefined;
  const urls = createUrlRedactor(options.redactQueryParams ?? DEFAULT_REDACTED_QUERY_PARAMS);
  const prefixes = options.tokenSubprotocolPrefixes ?? DEFAULT_TOKEN_SUBPROTOCOL_PREFIXES;
  const subprotocols = options.redactSubprotocols ?? true;
  return (line) => {
    const out = urls(line);
    if (!subprotocols || !MAY_HAVE_PROTOCOL.test(out)) return out;
    return out.replace(
      PROTOCOL_VALUE,
      (_all, key: string, value: string) => `${key}${redactSubprotocolList(value, prefixes)}"`,
    );
  };
}

/** The line rule for values kept outside log lines (the inspector's records): one text, or one subprotocol list. */
export type ValueRedactor = { text: (value: string) => string; subprotocols: (value: string) => string };

/**
 * What createLineRedactor hides in a line, for single values: URL credentials and the named query values in any
 * text, and token subprotocols in a Sec-WebSocket-Protocol list. Undefined with showSecrets, as for lines.
 */
export function createValueRedactor(options: LineRedaction = {}): ValueRedactor | undefined {
  if (options.showSecrets === true) return undefined;
  const urls = createUrlRedactor(options.redactQueryParams ?? DEFAULT_REDACTED_QUERY_PARAMS);
  const prefixes = options.tokenSubprotocolPrefixes ?? DEFAULT_TOKEN_SUBPROTOCOL_PREFIXES;
  if (options.redactSubprotocols === false) return { text: urls, subprotocols: urls };
  return { text: urls, subprotocols: (value) => redactSubprotocolList(urls(value), prefixes) };
}
