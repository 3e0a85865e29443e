// What a request target is (RFC 9112 §3.2), decided once at the front before any handler sees it. Node's HTTP
// parser accepts targets that URL parsers then reject or read as something else (`//[`, `http://[::1`,
// `http:///x`, `GET *`, a fragment); code that passed them on to `new URL`, http-proxy-3 or undici threw in the
// middle of a request. This module classifies a target into its one form and checks that it parses as a URL the
// way the code after it reads it (a path under a fixed origin, or an absolute URL whose host is what was written),
// so handlers only ever see targets they can use. Pure.

export type TargetForm = 'origin' | 'absolute' | 'authority' | 'asterisk';

/** The schemes an absolute-form target may name: wsgate speaks HTTP and WebSocket, plain and over TLS. */
export type TargetScheme = 'http' | 'https' | 'ws' | 'wss';

export type RequestTarget =
  /** `/path?query`. `query` is "" or starts with "?"; both exactly as received. */
  | { form: 'origin'; path: string; query: string }
  /** `http://host:port/path?query`. `authority` as written; `path` as received ("/" when the URL has none). */
  | { form: 'absolute'; scheme: TargetScheme; authority: string; path: string; query: string }
  /** `host:port`, CONNECT only. */
  | { form: 'authority'; authority: string }
  /** `*`, OPTIONS only. */
  | { form: 'asterisk' };

export type TargetResult = { ok: true; target: RequestTarget } | { ok: false; detail: string };

/** The forms that name a path on a server: what requests and upgrades (not CONNECT, not OPTIONS *) are served with. */
export type PathTarget = Extract<RequestTarget, { path: string }>;

const FORM_NAMES: Record<TargetForm, string> = {
  origin: 'origin-form (/path)',
  absolute: 'absolute-form (http://host/path)',
  authority: 'authority-form (host:port)',
  asterisk: 'asterisk-form (*)',
};

/** "origin-form (/path)" and so on, for messages. */
export function formName(form: TargetForm): string {
  return FORM_NAMES[form];
}

// Anything outside visible ASCII: Node's parser refuses most of it, but a lenient parser setting must not be what
// keeps a raw space or a control byte away from the log and the upstream.
const NOT_VISIBLE_ASCII = /[^\x21-\x7e]/;
const ABSOLUTE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s;
const SCHEMES: ReadonlySet<string> = new Set(['http', 'https', 'ws', 'wss']);
const AUTHORITY = /^(\[[0-9A-Fa-f:.]+\]|[^:/?#@[\]]+):(\d{1,5})$/;
/** Origin-form targets are read as paths under this origin, the way http-proxy-3 and undici read them. */
const BASE = 'http://origin.invalid';

function bad(detail: string): TargetResult {
  return { ok: false, detail };
}

/** The target's form, or why it is not a usable one for this method. */
export function parseRequestTarget(method: string, text: string): TargetResult {
  if (text === '') return bad('the request target is empty');
  if (NOT_VISIBLE_ASCII.test(text)) return bad('the request target contains whitespace, control or non-ASCII bytes');
  // RFC 9112 §3.2: no form has a fragment; URL parsers cut it off, so the path matched and the path sent would differ.
  if (text.includes('#')) return bad('a fragment ("#") is never part of a request target');
  if (method === 'CONNECT') return parseAuthorityForm(text);
  if (text === '*') {
    return method === 'OPTIONS' ? { ok: true, target: { form: 'asterisk' } } : bad('"*" is a target for OPTIONS only');
  }
  if (text.startsWith('/')) return parseOriginForm(text);
  if (ABSOLUTE.test(text)) return parseAbsoluteForm(text);
  return bad('expected a path ("/…") or an absolute URL ("http://host/…")');
}

function splitQuery(text: string): { path: string; query: string } {
  const q = text.indexOf('?');
  return q === -1 ? { path: text, query: '' } : { path: text.slice(0, q), query: text.slice(q) };
}

function parseOriginForm(text: string): TargetResult {
  // A path that starts with "//" is a network-path reference to every URL parser: `//evil.test/x` resolves to
  // host evil.test, and `//[` does not resolve at all.
  if (text.startsWith('//')) return bad('a path must not start with "//" (URL parsers read what follows as a host)');
  const url = URL.parse(text, BASE);
  if (url === null || url.origin !== BASE) return bad('the path does not parse as a URL path');
  return { ok: true, target: { form: 'origin', ...splitQuery(text) } };
}

function parseAbsoluteForm(text: string): TargetResult {
  const m = ABSOLUTE.exec(text)!;
  const scheme = m[1]!.toLowerCase();
  const authority = m[2]!;
  const rest = m[3]!;
  if (!SCHEMES.has(scheme)) return bad(`the ${scheme}: scheme is not served (http, https, ws and wss are)`);
  // `http:///x` is host "x" to a WHATWG parser and no host at all to RFC 3986: never guess.
  if (authority === '') return bad('the URL has no host');
  // RFC 9110 §4.2.4: userinfo in an http(s) URL is an error to treat as such, and a credential in a log line.
  if (authority.includes('@')) return bad('user info ("user@") is not allowed in a request target');
  if (authority.includes('\\')) return bad('a backslash is not allowed in the host');
  const url = URL.parse(text);
  if (url === null || url.hostname === '') return bad('the URL does not parse (host or port invalid)');
  const { path, query } = splitQuery(rest);
  return {
    ok: true,
    target: { form: 'absolute', scheme: scheme as TargetScheme, authority, path: path === '' ? '/' : path, query },
  };
}

function parseAuthorityForm(text: string): TargetResult {
  const m = AUTHORITY.exec(text);
  if (m === null) return bad('CONNECT takes host:port');
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return bad(`the port ${m[2]} is not between 1 and 65535`);
  if (URL.parse(`http://${text}/`) === null) return bad('the host does not parse');
  return { ok: true, target: { form: 'authority', authority: text } };
}

/** A scheme and authority at the start of a target: what makes it absolute-form. */
const SCHEME_AND_AUTHORITY = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/** Whether a target (already checked by the front) is absolute-form: `scheme://authority…`. */
export function isAbsoluteForm(target: string): boolean {
  return SCHEME_AND_AUTHORITY.test(target);
}

/**
 * A target without its scheme and authority, path and query exactly as written (never re-parsed: a URL parser
 * would normalise the path again), starting with "/". An origin-form target is returned as it is.
 */
export function withoutAuthority(target: string): string {
  const rest = target.replace(SCHEME_AND_AUTHORITY, '');
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** The origin-form a target asks for upstream: its path and query as received. */
export function originFormOf(target: PathTarget): string {
  return target.path + target.query;
}
