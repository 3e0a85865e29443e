// Basic proxy authentication (RFC 9110 §11.7, RFC 7617): checks a Proxy-Authorization header against the users of
// a forward listener and builds the Proxy-Authenticate challenge of a 407. Passwords are compared in constant time
// (over their SHA-256, so lengths leak nothing either). Pure: values in, a verdict out.
import { createHash, timingSafeEqual } from 'node:crypto';

export type ProxyUser = { readonly name: string; readonly password: string };

export type ProxyAuthSpec = { readonly realm: string; readonly users: readonly ProxyUser[] };

export type AuthVerdict =
  | { ok: true; user: string }
  | { ok: false; reason: 'missing' | 'scheme' | 'malformed' | 'invalid' };

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** The credentials of a Basic header; undefined when the header is not Basic or not decodable. */
export function parseBasicCredentials(header: string): { user: string; password: string } | undefined {
  const m = /^\s*basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  if (m === null) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function checkProxyAuthorization(spec: ProxyAuthSpec, header: string | string[] | undefined): AuthVerdict {
  if (header === undefined || header === '') return { ok: false, reason: 'missing' };
  if (Array.isArray(header)) return { ok: false, reason: 'malformed' };
  if (!/^\s*basic\s/i.test(header)) return { ok: false, reason: 'scheme' };
  const credentials = parseBasicCredentials(header);
  if (credentials === undefined) return { ok: false, reason: 'malformed' };
  const given = digest(credentials.password);
  let match: string | undefined;
  // Every user is compared, so the time taken does not tell which names exist.
  for (const user of spec.users) {
    const same = timingSafeEqual(digest(user.password), given);
    if (same && user.name === credentials.user && match === undefined) match = user.name;
  }
  return match === undefined ? { ok: false, reason: 'invalid' } : { ok: true, user: match };
}

/** RFC 7617 §2.1: the challenge, with the charset the credentials are decoded in. */
export function proxyAuthenticate(realm: string): string {
  return `Basic realm="${realm.replace(/["\\]/g, '\\$&')}", charset="UTF-8"`;
}

export const AUTH_REASONS: Record<Exclude<AuthVerdict, { ok: true }>['reason'], string> = {
  missing: 'no Proxy-Authorization header was sent',
  scheme: 'only Basic proxy authentication is supported',
  malformed: 'the Proxy-Authorization header is not valid Basic credentials',
  invalid: 'unknown user or wrong password',
};
