// The resolved config as `wsgate check` prints it: secrets (passwords, credentials and token query parameters in
// URLs) are replaced, because the output ends up in terminals, tickets and CI logs. URLs go through the same
// redaction as log lines (net/url-credentials.ts). Pure.
import { createUrlRedactor, DEFAULT_REDACTED_QUERY_PARAMS, REDACTED } from '../net/url-credentials.ts';

const SECRET_KEYS = new Set(['password', 'token', 'secret']);

/** A deep copy with secret values replaced, unless showSecrets; `queryParams` is log.redactQueryParams. */
export function redactConfigForDisplay<T>(
  value: T,
  showSecrets = false,
  queryParams: readonly string[] = DEFAULT_REDACTED_QUERY_PARAMS,
): T {
  if (showSecrets) return value;
  const redactUrls = createUrlRedactor(queryParams);
  const walk = (v: unknown, key: string | undefined): unknown => {
    if (typeof v === 'string') {
      if (key !== undefined && SECRET_KEYS.has(key.toLowerCase())) return REDACTED;
      return redactUrls(v);
    }
    if (Array.isArray(v)) return v.map((item) => walk(item, undefined));
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, walk(item, k)]));
    }
    return v;
  };
  return walk(value, undefined) as T;
}
