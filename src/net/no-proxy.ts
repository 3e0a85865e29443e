// NO_PROXY: which destinations skip the upstream proxy. One implementation for the environment variables and for
// a configured proxy's `noProxy`, with the semantics curl, Go and undici share:
//
//   *                     every destination
//   example.com           example.com and every subdomain (a leading "." or "*." means the same)
//   example.com:8080      only on that port
//   10.1.2.3, ::1         that address (IP literals compared in canonical form; [::1]:8080 with a port)
//   10.0.0.0/8, fd00::/8  addresses in that range (only IP-literal destinations: names are not resolved here)
//
// Entries are separated by commas or whitespace and compared case-insensitively. Loopback destinations (localhost,
// 127.0.0.0/8, ::1) always bypass a proxy, as in Chromium and Go — a remote proxy cannot reach this machine's
// loopback — unless the list contains Chromium's "<-loopback>". Pure.

import { type Cidr, canonicalHost, inCidr, isLoopbackHost, parseCidr, parseIp } from './ip.ts';

export type NoProxyRule =
  | { kind: 'all' }
  | { kind: 'domain'; domain: string; port: number | undefined }
  | { kind: 'ip'; host: string; port: number | undefined }
  | { kind: 'cidr'; range: Cidr };

export type NoProxyList = {
  /** Each rule with the entry it came from. */
  readonly rules: readonly { readonly text: string; readonly rule: NoProxyRule }[];
  /** False when "<-loopback>" asks for loopback destinations to go through the proxy too. */
  readonly bypassLoopback: boolean;
  /** The entries as written, for logs and `wsgate check`. */
  readonly source: readonly string[];
};

export type NoProxyParse = { ok: true; value: NoProxyList } | { ok: false; invalid: string[]; value: NoProxyList };

const DOMAIN = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** One entry; undefined when it is not a valid NO_PROXY entry. */
export function parseNoProxyEntry(entry: string): NoProxyRule | undefined {
  const text = entry.trim().toLowerCase();
  if (text === '*') return { kind: 'all' };
  if (text.includes('/')) {
    const range = parseCidr(text);
    return range === undefined ? undefined : { kind: 'cidr', range };
  }
  // "[::1]:8080" or "[::1]"
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    const ip = close === -1 ? undefined : parseIp(text.slice(1, close));
    if (ip === undefined) return undefined;
    const rest = text.slice(close + 1);
    if (rest === '') return { kind: 'ip', host: canonicalHost(text.slice(1, close)), port: undefined };
    const port = rest.startsWith(':') ? parsePort(rest.slice(1)) : undefined;
    return port === undefined ? undefined : { kind: 'ip', host: canonicalHost(text.slice(1, close)), port };
  }
  // A bare IPv6 address has several colons and no port.
  if ((text.match(/:/g) ?? []).length > 1) {
    return parseIp(text) === undefined ? undefined : { kind: 'ip', host: canonicalHost(text), port: undefined };
  }
  let host = text;
  let port: number | undefined;
  const colon = text.indexOf(':');
  if (colon !== -1) {
    port = parsePort(text.slice(colon + 1));
    if (port === undefined) return undefined;
    host = text.slice(0, colon);
  }
  if (parseIp(host) !== undefined) return { kind: 'ip', host: canonicalHost(host), port };
  host = host.replace(/^\*?\./, '').replace(/\.$/, '');
  return DOMAIN.test(host) ? { kind: 'domain', domain: host, port } : undefined;
}

/** Parses NO_PROXY text ("a.test, .b.test 10.0.0.0/8") or a list of entries. Invalid entries are listed, not fatal. */
export function parseNoProxy(input: string | readonly string[] | undefined): NoProxyParse {
  const entries = (typeof input === 'string' ? [input] : (input ?? []))
    .flatMap((part) => part.split(/[\s,]+/))
    .filter((e) => e !== '');
  const rules: { text: string; rule: NoProxyRule }[] = [];
  const invalid: string[] = [];
  let bypassLoopback = true;
  for (const entry of entries) {
    if (entry.toLowerCase() === '<-loopback>') {
      bypassLoopback = false;
      continue;
    }
    const rule = parseNoProxyEntry(entry);
    if (rule === undefined) invalid.push(entry);
    else rules.push({ text: entry, rule });
  }
  const value: NoProxyList = { rules, bypassLoopback, source: entries };
  return invalid.length === 0 ? { ok: true, value } : { ok: false, invalid, value };
}

export const EMPTY_NO_PROXY: NoProxyList = { rules: [], bypassLoopback: true, source: [] };

function ruleMatches(rule: NoProxyRule, host: string, port: number): boolean {
  switch (rule.kind) {
    case 'all':
      return true;
    case 'ip':
      return rule.host === host && (rule.port === undefined || rule.port === port);
    case 'cidr': {
      const ip = parseIp(host);
      return ip !== undefined && inCidr(ip, rule.range);
    }
    case 'domain':
      return (
        (host === rule.domain || host.endsWith(`.${rule.domain}`)) && (rule.port === undefined || rule.port === port)
      );
  }
}

/** Why a destination skips the proxy, or undefined when it goes through it. */
export function noProxyMatch(list: NoProxyList, host: string, port: number): string | undefined {
  const h = canonicalHost(host);
  if (list.bypassLoopback && isLoopbackHost(h)) return 'loopback destinations never go through a proxy';
  for (const { text, rule } of list.rules) {
    if (ruleMatches(rule, h, port)) return `matches no-proxy entry ${JSON.stringify(text)}`;
  }
  return undefined;
}
