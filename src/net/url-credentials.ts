// Credentials in URLs kept out of what people see: a URL's user:password@ (absolute-form requests, upstream and
// proxy URLs), tokens in its query string (?access_token=…), and token-shaped values in general. Error messages
// about a bad URL drop the whole userinfo; everything else (log lines, `wsgate check`) goes through
// createUrlRedactor, which keeps the user and hides the password and the named query values wherever a URL
// appears in a text, also inside a JSON line. REDACTED is the one marker for a hidden secret, in printed config and
// in logs alike. Pure.

export const REDACTED = '[redacted]';

/** Query parameters whose values are hidden unless configured otherwise (log.redactQueryParams). */
export const DEFAULT_REDACTED_QUERY_PARAMS: readonly string[] = [
  'access_token',
  'token',
  'auth',
  'key',
  'apikey',
  'password',
  'secret',
  'sig',
  'signature',
];

/** Subprotocol prefixes after which the rest of the value is a credential (Kubernetes' bearer token form). */
export const DEFAULT_TOKEN_SUBPROTOCOL_PREFIXES: readonly string[] = ['base64url.bearer.authorization.k8s.io.'];

/**
 * scheme://userinfo@ anywhere in a text. The userinfo runs to the last "@" before the path (as URL parsers read
 * it, so "a:p@ss@host" hides all of "p@ss"); a backslash escape (JSON's \" or \\) does not end it, a raw quote does.
 */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)((?:[^\s/?#"\\]|\\.)*)@/gi;

/**
 * user:password@ at the start of a word with no scheme: the authority form of a CONNECT target
 * ("CONNECT user:pw@host:443", refused, but logged as it came). Only with a password, so "alice@example.test" stays.
 */
const AUTHORITY_USERINFO = /(^|[\s"'(])([^\s"'/?#@:\\]+):((?:[^\s/?#"\\]|\\.)*)@/g;

const TOKEN_PART = /^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_~+/=-]{20,}$/;

/**
 * A value made to be secret rather than a name: token characters only, with one dot-separated part of 20 or more
 * that mixes letters and digits (a JWT's parts, a base64 or hex key, ghp_…). Names such as
 * "base64.binary.k8s.io" or "graphql-transport-ws" are not.
 */
export function looksLikeToken(text: string): boolean {
  return /^[A-Za-z0-9._~+/=-]+$/.test(text) && text.split('.').some((part) => TOKEN_PART.test(part));
}

function hideUserinfo(_all: string, scheme: string, userinfo: string): string {
  const colon = userinfo.indexOf(':');
  if (colon !== -1) return `${scheme}${userinfo.slice(0, colon)}:${REDACTED}@`;
  // A user without a password is usually a name ("alice@") but is a token in the https://TOKEN@host form.
  return looksLikeToken(userinfo) ? `${scheme}${REDACTED}@` : `${scheme}${userinfo}@`;
}

/** "http://alice:s3cret@proxy:3128" → "http://alice:[redacted]@proxy:3128": who, but not the secret. */
export function redactUrlPassword(text: string): string {
  return text.includes('@') ? text.replace(USERINFO, hideUserinfo) : text;
}

/**
 * The one redaction of URLs in logged and printed text: userinfo as redactUrlPassword does (and user:password@ of
 * a scheme-less authority), and the values of the named query parameters (case-insensitive; `?token=abc&x=1` → `?token=[redacted]&x=1`). The text may be a URL, a
 * message quoting URLs, or a whole JSON log line: a value ends at &, #, whitespace or an unescaped quote.
 */
export function createUrlRedactor(
  queryParams: readonly string[] = DEFAULT_REDACTED_QUERY_PARAMS,
): (text: string) => string {
  const names = queryParams.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const query =
    names.length === 0 ? undefined : new RegExp(`([?&](?:${names.join('|')})=)(?:[^&#\\s"\\\\]|\\\\.)*`, 'gi');
  return (text) => {
    let out = text;
    if (out.includes('@')) out = out.replace(USERINFO, hideUserinfo).replace(AUTHORITY_USERINFO, `$1$2:${REDACTED}@`);
    if (query !== undefined && out.includes('=')) out = out.replace(query, `$1${REDACTED}`);
    return out;
  };
}

/** A URL (scheme optional) as text with any user:password replaced by "***", for messages about a bad URL. */
export function redactUserinfo(text: string): string {
  return text.replace(
    /^([a-z][a-z0-9+.-]*:\/\/)?[^@/?#]*@/i,
    (_all, scheme: string | undefined) => `${scheme ?? ''}***@`,
  );
}
