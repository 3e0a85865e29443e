// Route matching for reverse listeners: {host, path, headers} of one request → the first route whose match list
// accepts it, the target to forward, and a sentence saying why. Paths are compared in their canonical form
// (http/path.ts), the same form that is forwarded, so a route means what it says: `/public/../admin` is `/admin`
// to the matcher and to the upstream alike. A path without one canonical form (an encoded slash, a backslash…) is
// refused unless the route that takes it has `rawPath`, which matches and forwards the path exactly as received.
// Pure (no sockets, timers or file system): regexes and host patterns are compiled once per config snapshot by
// `compileRoutes`, then `matchRoute` runs per request.

import { WsgateError } from '../errors.ts';
import { canonicalPath } from '../http/path.ts';
import { formatIp, parseIp } from '../net/ip.ts';

/** One match object: its keys are ANDed. Produced already validated (and lower-cased) by the config module. */
export type RouteMatch = {
  /** Lower-case; exact, or `*.example.com` for any subdomain (not the apex). */
  host?: string;
  /** Exact path, compared without the query string. */
  path?: string;
  /** Prefix on a segment boundary: `/api` matches `/api` and `/api/x`, not `/apix`. */
  pathPrefix?: string;
  /** Lower-case header name → exact value, or `/regex/flags`. */
  headers?: Record<string, string>;
};

/** The slice of a route that matching needs; the config module's route objects have (at least) this shape. */
export type RouteLike = {
  name: string;
  /** ORed: the route matches when any object matches. `[{}]` matches every request. */
  match: readonly RouteMatch[];
  /** Match and forward the path exactly as received, not its canonical form. */
  rawPath?: boolean | undefined;
};

export type RouteRequest = {
  /** The Host header as received: may carry `:port`, may be a bracketed IPv6 literal, may be missing or empty. */
  host: string | undefined;
  /** The origin-form target as received (a path, possibly with `?query`). */
  path: string;
  /** Node-style headers: lower-case names, repeated values as arrays. */
  headers: Record<string, string | string[] | undefined>;
};

export type RouteResult<R> =
  /** `target`: the origin-form to send upstream (the canonical path, or the raw one on a rawPath route; the query as received). */
  | { route: R; why: string; target: string }
  /** `ambiguous`: set when the path has no canonical form and no rawPath route took it (answer 400, not 404). */
  | { route: undefined; why: string; ambiguous?: string | undefined };

type HostTest = { kind: 'exact'; value: string } | { kind: 'wildcard'; suffix: string };
type HeaderTest = { name: string; kind: 'equals'; value: string } | { name: string; kind: 'regex'; regex: RegExp };

type CompiledMatch = {
  readonly host: HostTest | undefined;
  /** Canonical, unless the route has rawPath (then as configured). */
  readonly path: string | undefined;
  readonly pathPrefix: string | undefined;
  readonly headers: readonly HeaderTest[];
  readonly explanation: string;
};

type CompiledRoute<R> = { readonly route: R; readonly matches: readonly CompiledMatch[] };

export type CompiledRoutes<R extends RouteLike> = { readonly routes: readonly CompiledRoute<R>[] };

// Request-controlled values go into `why`, which lands in logs and `check --explain`; a long Host header must not
// turn one log line into kilobytes.
const MAX_QUOTED = 200;

/** Compile a listener's routes once; the result is frozen and safe to share across requests. */
export function compileRoutes<R extends RouteLike>(routes: readonly R[]): CompiledRoutes<R> {
  const compiled = routes.map((route) =>
    Object.freeze({
      route,
      matches: Object.freeze(route.match.map((m, i) => compileMatch(route.name, i, m, route.rawPath === true))),
    }),
  );
  return Object.freeze({ routes: Object.freeze(compiled) });
}

/**
 * The first route (in order) whose match list accepts the request, and why; or why none did. A rawPath route is
 * tried with the raw path, any other with the canonical one. An ambiguous path (no canonical form) goes only to a
 * rawPath route: a route without it that would take the path (read without resolving the ambiguity) refuses it,
 * and so does the end of the table, so a later catch-all can never serve what an earlier route was written for.
 */
export function matchRoute<R extends RouteLike>(compiled: CompiledRoutes<R>, req: RouteRequest): RouteResult<R> {
  const host = normalizeHost(req.host);
  const { path: raw, query } = splitQuery(req.path);
  const canonical = canonicalPath(raw);
  for (const { route, matches } of compiled.routes) {
    const rawPath = route.rawPath === true;
    const path = rawPath ? raw : canonical.path;
    for (let i = 0; i < matches.length; i++) {
      const m = matches[i]!;
      if (!matchesOne(m, host, path, req.headers)) continue;
      const which = matches.length > 1 ? ` (match ${i + 1} of ${matches.length})` : '';
      const why = `route ${quote(route.name)}: ${m.explanation}${which}`;
      if (rawPath || canonical.ok) return { route, why, target: path + query };
      return { route: undefined, why: `${why}, but it has no rawPath`, ambiguous: canonical.detail };
    }
  }
  const n = compiled.routes.length;
  const shownHost = host === undefined ? '(none)' : quote(host);
  const why = `no route matched: host ${shownHost} path ${quote(canonical.path)} (tried ${n} route${n === 1 ? '' : 's'})`;
  return canonical.ok ? { route: undefined, why } : { route: undefined, why, ambiguous: canonical.detail };
}

/**
 * Routes tried before `until` (every route when it is undefined) that the request missed only because a header it
 * has holds another value: for `check --explain -H`, which would otherwise name only the route that matched. Each
 * entry says which header was given what, and what the route wants; routes missed on host or path are left out.
 */
export function headerMisses<R extends RouteLike>(
  compiled: CompiledRoutes<R>,
  req: RouteRequest,
  until: R | undefined,
): string[] {
  const host = normalizeHost(req.host);
  const raw = splitQuery(req.path).path;
  const canonical = canonicalPath(raw).path;
  const misses: string[] = [];
  for (const { route, matches } of compiled.routes) {
    if (route === until) break;
    const path = route.rawPath === true ? raw : canonical;
    for (const m of matches) {
      if (!matchesOne({ ...m, headers: [] }, host, path, req.headers)) continue;
      const wrong = m.headers.flatMap((test) => {
        const values = headerValues(req.headers, test.name);
        if (values.length === 0 || matchesHeader(test, values)) return [];
        const wanted = test.kind === 'equals' ? quote(test.value) : `a match for ${String(test.regex)}`;
        return [`header ${test.name} is ${quote(values.join(', '))}, not ${wanted}`];
      });
      if (wrong.length === 0) continue;
      misses.push(`route ${quote(route.name)}: ${wrong.join(' and ')}`);
      break;
    }
  }
  return misses;
}

/**
 * The routes before `until` that a header not given might have chosen: a match object whose other keys (host, path)
 * fit the request and that names headers the request lacks. `check --explain` names them with those headers; a route
 * whose path or host does not fit is left out, as no header could make it match.
 */
export function headersNotGiven<R extends RouteLike>(
  compiled: CompiledRoutes<R>,
  req: RouteRequest,
  until: R | undefined,
): { route: R; headers: string[] }[] {
  const host = normalizeHost(req.host);
  const raw = splitQuery(req.path).path;
  const canonical = canonicalPath(raw).path;
  const found: { route: R; headers: string[] }[] = [];
  for (const { route, matches } of compiled.routes) {
    if (route === until) break;
    const path = route.rawPath === true ? raw : canonical;
    const missing = matches.flatMap((m) => {
      if (!matchesOne({ ...m, headers: [] }, host, path, req.headers)) return [];
      return m.headers.filter((test) => headerValues(req.headers, test.name).length === 0).map((test) => test.name);
    });
    if (missing.length > 0) found.push({ route, headers: [...new Set(missing)] });
  }
  return found;
}

/** A route's match list in words, e.g. `host is "*.example.com" and path starts with "/api"; or header x-canary is "1"`. */
export function explainRoute(route: RouteLike): string {
  if (route.match.length === 0) return 'matches no request (empty match list)';
  return route.match.map(explainMatch).join('; or ');
}

function explainMatch(m: RouteMatch): string {
  const parts: string[] = [];
  if (m.host !== undefined) parts.push(`host is ${quote(m.host)}`);
  if (m.path !== undefined) parts.push(`path is ${quote(m.path)}`);
  if (m.pathPrefix !== undefined) parts.push(`path starts with ${quote(m.pathPrefix)}`);
  for (const [name, value] of Object.entries(m.headers ?? {})) {
    parts.push(parseRegexLiteral(value) ? `header ${name} matches ${value}` : `header ${name} is ${quote(value)}`);
  }
  return parts.length === 0 ? 'any request' : parts.join(' and ');
}

function compileMatch(routeName: string, index: number, m: RouteMatch, rawPath: boolean): CompiledMatch {
  const headers: HeaderTest[] = [];
  for (const [rawName, value] of Object.entries(m.headers ?? {})) {
    const name = rawName.toLowerCase();
    const literal = parseRegexLiteral(value);
    if (!literal) {
      headers.push({ name, kind: 'equals', value });
      continue;
    }
    // `g` and `y` make RegExp#test stateful through lastIndex, so one request would change the next one's result.
    const flags = literal.flags.replace(/[gy]/g, '');
    try {
      headers.push({ name, kind: 'regex', regex: new RegExp(literal.source, flags) });
    } catch (err) {
      throw new WsgateError(
        'WSG_CONFIG_INVALID',
        { detail: `route ${quote(routeName)} match ${index + 1}: header ${name}: ${(err as Error).message}` },
        { cause: err },
      );
    }
  }
  return Object.freeze({
    host: m.host === undefined ? undefined : compileHost(m.host),
    // A pattern is compared in the same form as the request's path: `/%7Euser` and `/~user` are one route.
    path: m.path === undefined || rawPath ? m.path : canonicalPath(m.path).path,
    pathPrefix: m.pathPrefix === undefined || rawPath ? m.pathPrefix : canonicalPath(m.pathPrefix).path,
    headers: Object.freeze(headers),
    explanation: explainMatch(m),
  });
}

function compileHost(pattern: string): HostTest {
  // A RouteMatch built in code may name an IPv6 host without brackets; it is canonicalised all the same.
  const unbracketedIpv6 = !pattern.startsWith('[') && pattern.indexOf(':') !== pattern.lastIndexOf(':');
  const p = normalizeHost(unbracketedIpv6 ? `[${pattern}]` : pattern) ?? '';
  // Keep the leading dot in the suffix so `*.example.com` cannot match `badexample.com` or the apex itself.
  if (p.startsWith('*.')) return { kind: 'wildcard', suffix: p.slice(1) };
  return { kind: 'exact', value: p };
}

function matchesOne(
  m: CompiledMatch,
  host: string | undefined,
  path: string,
  headers: Record<string, string | string[] | undefined>,
): boolean {
  if (m.host !== undefined) {
    if (host === undefined) return false;
    if (m.host.kind === 'exact' ? host !== m.host.value : !isSubdomain(host, m.host.suffix)) return false;
  }
  // Only unreserved characters are ever decoded (canonical form): `/api%2Fadmin` and `/api/admin` stay different
  // here, as they may be different resources upstream.
  if (m.path !== undefined && path !== m.path) return false;
  if (m.pathPrefix !== undefined && !hasPathPrefix(path, m.pathPrefix)) return false;
  for (const test of m.headers) {
    if (!matchesHeader(test, headerValues(headers, test.name))) return false;
  }
  return true;
}

function isSubdomain(host: string, suffix: string): boolean {
  return host.length > suffix.length && host.endsWith(suffix);
}

function hasPathPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  // A prefix that already ends in `/` marks its own boundary; otherwise the next character must start a new segment
  // (as nginx-style proxies do), so `/api` does not capture `/apix`.
  if (prefix.endsWith('/') || path.length === prefix.length) return true;
  return path[prefix.length] === '/';
}

function matchesHeader(test: HeaderTest, values: readonly string[]): boolean {
  if (values.length === 0) return false;
  // Repeated headers are tried one by one and also joined as a comma list (RFC 9110 §5.3), because Node joins most
  // repeats itself and a config author cannot tell which form will arrive.
  const candidates = values.length > 1 ? [...values, values.join(', ')] : values;
  if (test.kind === 'equals') return candidates.includes(test.value);
  return candidates.some((v) => test.regex.test(v));
}

function headerValues(headers: Record<string, string | string[] | undefined>, name: string): readonly string[] {
  let value = headers[name];
  if (value === undefined) {
    // Node gives lower-case names; callers building headers by hand may not, so fall back to a scan.
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() === name) {
        value = headers[key];
        break;
      }
    }
  }
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : value;
}

/**
 * Host header → lower-case host without port, brackets or trailing dot, an IPv6 literal in its canonical form;
 * undefined when missing or empty. Config hosts go through it once, in compileRoutes.
 */
/** A Host header's host: lower case, without its port and a final dot; an IPv6 literal canonical. */
export function normalizeHost(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let host = raw.trim().toLowerCase();
  if (host.startsWith('[')) {
    // RFC 3986 §3.2.2: an IPv6 literal is bracketed, so its colons are not a port separator.
    const end = host.indexOf(']');
    host = end === -1 ? host : canonicalIpv6(host.slice(1, end));
  } else {
    const colon = host.indexOf(':');
    // More than one colon without brackets is not a host:port at all; leave it whole so it matches nothing by accident.
    if (colon !== -1 && colon === host.lastIndexOf(':')) host = host.slice(0, colon);
  }
  // `example.com.` is the same fully qualified name as `example.com`.
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host === '' ? undefined : host;
}

/**
 * One text per IPv6 address (RFC 5952), so `[0:0::1]`, `[::1]` and `[::ffff:127.0.0.1]` / `[::ffff:7f00:1]` each
 * meet their route whichever way a client spells them. Only bracketed hosts come here: names cost nothing more.
 * Anything that is not an IPv6 address (a zone id, garbage) stays as written and matches only itself.
 */
function canonicalIpv6(literal: string): string {
  const ip = parseIp(literal);
  return ip?.family === 6 ? formatIp(ip) : literal;
}

function splitQuery(target: string): { path: string; query: string } {
  const q = target.indexOf('?');
  return q === -1 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q) };
}

function parseRegexLiteral(value: string): { source: string; flags: string } | undefined {
  const m = /^\/(.+)\/([a-z]*)$/s.exec(value);
  return m ? { source: m[1]!, flags: m[2]! } : undefined;
}

function quote(value: string): string {
  const shown = value.length > MAX_QUOTED ? value.slice(0, MAX_QUOTED) + '…' : value;
  // JSON quoting escapes control characters, so request data cannot forge extra log lines.
  return JSON.stringify(shown);
}
