// Secrets never reach a log line unless the user asked for them (log.showSecrets).
// These are the header names whose values carry credentials.
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);

export const REDACTED = '[redacted]';

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

/** The same for raw [name, value, name, value, …] header lists, kept as pairs so order and case survive. */
export function redactRawHeaders(raw: readonly string[], showSecrets = false): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    pairs.push([name, !showSecrets && SECRET_HEADERS.has(name.toLowerCase()) ? REDACTED : raw[i + 1]!]);
  }
  return pairs;
}
