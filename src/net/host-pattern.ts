// Host patterns as forward listeners write them (allowHosts, denyHosts, intercept), in nginx's server_name
// conventions, and matching a host against them. Config checks the patterns with the same parser the policy
// compiles them with, so a pattern that loads is one that works. Pure.
//
//   *                 any host
//   example.com       exactly that name
//   *.example.com     any subdomain, not example.com itself
//   .example.com      example.com and any subdomain
//   10.1.2.3, ::1     that address; 10.0.0.0/8, fd00::/8 a range (also matched against resolved addresses)

import { bracketedHostMessage } from './host-port.ts';
import { type Cidr, canonicalHost, inCidr, parseCidr, parseIp } from './ip.ts';

export type HostPattern =
  | { readonly kind: 'all' }
  | { readonly kind: 'exact'; readonly host: string }
  | { readonly kind: 'subdomains'; readonly suffix: string }
  | { readonly kind: 'domain'; readonly domain: string }
  | { readonly kind: 'cidr'; readonly range: Cidr };

export type HostPatternResult = { ok: true; value: HostPattern } | { ok: false; message: string };

const LABELS = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;

export function parseHostPattern(text: string): HostPatternResult {
  const t = text.trim().toLowerCase();
  if (t === '*') return { ok: true, value: { kind: 'all' } };
  if (t.includes('://'))
    return { ok: false, message: `invalid host pattern ${JSON.stringify(text)}: a host, not a URL` };
  const bracketed = t.startsWith('[') && t.endsWith(']');
  const bare = bracketed ? t.slice(1, -1) : t;
  // An IPv6 range in brackets reads as the range; anything else but an IPv6 address is refused as route hosts are.
  const ipv6Range = bare.includes('/') && parseCidr(bare)?.ip.family === 6;
  const misbracketed = bracketed && !ipv6Range ? bracketedHostMessage(text.trim()) : undefined;
  if (misbracketed !== undefined) return { ok: false, message: misbracketed };
  if (bare.includes('/') || parseIp(bare) !== undefined) {
    const range = parseCidr(bare);
    if (range !== undefined) return { ok: true, value: { kind: 'cidr', range } };
    return { ok: false, message: `invalid address or range ${JSON.stringify(text)}: expected e.g. "10.0.0.0/8"` };
  }
  const hint = `expected "example.com", "*.example.com", ".example.com", an IP address, a range such as "10.0.0.0/8", or "*"`;
  if (/:\d+$/.test(t))
    return { ok: false, message: `invalid host pattern ${JSON.stringify(text)}: ports go in allowPorts` };
  if (t.startsWith('*.')) {
    const suffix = t.slice(2);
    return LABELS.test(suffix)
      ? { ok: true, value: { kind: 'subdomains', suffix } }
      : { ok: false, message: `invalid host pattern ${JSON.stringify(text)}: ${hint}` };
  }
  if (t.startsWith('.')) {
    const domain = t.slice(1);
    return LABELS.test(domain)
      ? { ok: true, value: { kind: 'domain', domain } }
      : { ok: false, message: `invalid host pattern ${JSON.stringify(text)}: ${hint}` };
  }
  const host = t.endsWith('.') ? t.slice(0, -1) : t;
  return LABELS.test(host)
    ? { ok: true, value: { kind: 'exact', host } }
    : { ok: false, message: `invalid host pattern ${JSON.stringify(text)}: ${hint}` };
}

/** Whether `host` (already canonical: canonicalHost) matches; an address pattern matches IP literals only. */
export function hostPatternMatches(p: HostPattern, host: string): boolean {
  switch (p.kind) {
    case 'all':
      return true;
    case 'exact':
      return host === p.host;
    case 'subdomains':
      return host.endsWith(`.${p.suffix}`);
    case 'domain':
      return host === p.domain || host.endsWith(`.${p.domain}`);
    case 'cidr': {
      const ip = parseIp(host);
      return ip !== undefined && inCidr(ip, p.range);
    }
  }
}

export type CompiledHostPattern = { readonly text: string; readonly pattern: HostPattern };

/** Patterns the config schema has already checked; one that fails here is a bug, not a user error. */
export function compileHostPatterns(texts: readonly string[]): CompiledHostPattern[] {
  return texts.map((text) => {
    const parsed = parseHostPattern(text);
    if (!parsed.ok) throw new Error(`unreachable: ${parsed.message}`);
    return { text, pattern: parsed.value };
  });
}

/**
 * A predicate for a list of host patterns (forward.intercept), matched against a host as the client named it:
 * a name against the name patterns, an IP literal against addresses and ranges. An empty list matches nothing.
 */
export function compileHostMatcher(texts: readonly string[]): (host: string) => boolean {
  const list = compileHostPatterns(texts);
  if (list.length === 0) return () => false;
  return (host) => {
    const canonical = canonicalHost(host);
    return list.some((entry) => hostPatternMatches(entry.pattern, canonical));
  };
}
