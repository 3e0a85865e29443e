// The resolved config as `wsgate check` prints it: secrets (passwords, credentials in proxy URLs) are replaced,
// because the output ends up in terminals, tickets and CI logs. Pure.
import { REDACTED, redactUrlPassword } from '../net/url-credentials.ts';

const SECRET_KEYS = new Set(['password', 'token', 'secret']);

/** A deep copy with secret values replaced, unless showSecrets. */
export function redactConfigForDisplay<T>(value: T, showSecrets = false): T {
  if (showSecrets) return value;
  const walk = (v: unknown, key: string | undefined): unknown => {
    if (typeof v === 'string') {
      if (key !== undefined && SECRET_KEYS.has(key.toLowerCase())) return REDACTED;
      return redactUrlPassword(v);
    }
    if (Array.isArray(v)) return v.map((item) => walk(item, undefined));
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, walk(item, k)]));
    }
    return v;
  };
  return walk(value, undefined) as T;
}
