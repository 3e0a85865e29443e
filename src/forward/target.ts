// The target of `CONNECT host:port` (RFC 9110 §9.3.6: authority-form, a host and a port, nothing else) and the
// authority of an absolute-form request, parsed strictly and normalised the way a browser would: lower case, IPv6
// without brackets, numeric IPv4 spellings (2130706433, 0x7f.1, 127.1) in dotted-quad form — so every policy check
// sees the address that will really be dialed. Pure.

import { formatHostPort } from '../net/host-port.ts';
import { canonicalHost, parseIp } from '../net/ip.ts';

export type HostKind = 'name' | 'ipv4' | 'ipv6';

export type ProxyTarget = {
  /** For dialing and matching: lower case, no brackets, no trailing dot, IPv4 in dotted-quad form. */
  host: string;
  port: number;
  kind: HostKind;
  /** "host:port" with IPv6 in brackets, for logs and for CONNECT to an upstream proxy. */
  authority: string;
};

export type TargetResult = { ok: true; target: ProxyTarget } | { ok: false; detail: string };

// DNS labels (and "_", which some internal names use) or a numeric IPv4 spelling; at most 253 characters.
const NAME = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;
const NUMERIC_V4 = /^(0x[0-9a-f]+|\d+)(\.(0x[0-9a-f]+|\d+)){0,3}\.?$/i;

function bad(detail: string): TargetResult {
  return { ok: false, detail };
}

/** Host part of an authority (brackets kept for IPv6), checked and normalised. */
export function parseTargetHost(
  text: string,
): { ok: true; host: string; kind: HostKind } | { ok: false; detail: string } {
  if (text === '') return { ok: false, detail: 'the host is missing' };
  if (text.startsWith('[')) {
    if (!text.endsWith(']')) return { ok: false, detail: 'an IPv6 address needs its closing "]"' };
    const inner = text.slice(1, -1);
    // Zone ids ("fe80::1%eth0") name an interface of this machine; they have no place in a proxy request.
    const ip = /^[0-9a-f:.]+$/i.test(inner) ? parseIp(inner) : undefined;
    if (ip === undefined || ip.family !== 6) return { ok: false, detail: `"${inner}" is not an IPv6 address` };
    return { ok: true, host: canonicalHost(inner), kind: 'ipv6' };
  }
  if (text.length > 254 || !NAME.test(text)) {
    return { ok: false, detail: 'the host must be a DNS name, an IPv4 address or an [IPv6] address' };
  }
  if (NUMERIC_V4.test(text)) {
    // WHATWG URL reads numeric hosts as IPv4 in the same way getaddrinfo does (inet_aton): 2130706433 is
    // 127.0.0.1. Resolving them here means a deny rule for 127.0.0.0/8 cannot be dodged by a spelling.
    const url = URL.parse(`http://${text}/`);
    if (url === null) return { ok: false, detail: 'the host is not a valid IPv4 address' };
    return { ok: true, host: url.hostname, kind: 'ipv4' };
  }
  const host = canonicalHost(text);
  return { ok: true, host, kind: parseIp(host) === undefined ? 'name' : 'ipv4' };
}

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** The request target of a CONNECT: `host:port`, `[v6]:port`. No scheme, userinfo, path, spaces or control bytes. */
export function parseConnectTarget(text: string): TargetResult {
  if (text === '') return bad('it is empty');
  if (/[\s\0-\x1f\x7f]/.test(text)) return bad('it contains whitespace or control characters');
  if (text.includes('://')) return bad('CONNECT takes host:port, not a URL');
  if (text.includes('@')) return bad('user info is not allowed in a CONNECT target');
  if (/[/?#]/.test(text)) return bad('CONNECT takes host:port, without a path');
  let hostText: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1) return bad('an IPv6 address needs its closing "]"');
    hostText = text.slice(0, close + 1);
    const rest = text.slice(close + 1);
    if (rest === '') return bad('the port is missing');
    if (!rest.startsWith(':')) return bad('expected ":port" after the IPv6 address');
    portText = rest.slice(1);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon === -1) return bad('the port is missing');
    hostText = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (hostText.includes(':')) return bad('write an IPv6 address in brackets, e.g. [::1]:443');
  }
  const port = parsePort(portText);
  if (port === undefined) return bad(`invalid port ${JSON.stringify(portText)}: expected 1 to 65535`);
  const host = parseTargetHost(hostText);
  if (!host.ok) return bad(host.detail);
  return {
    ok: true,
    target: { host: host.host, port, kind: host.kind, authority: formatHostPort(host.host, port) },
  };
}

export type AbsoluteTarget = ProxyTarget & { url: URL; scheme: 'http' | 'https' | 'ws' | 'wss' };

/** An absolute-form request target (`GET http://host:port/path`): scheme and host checked like a CONNECT target. */
export function parseAbsoluteTarget(
  text: string,
): { ok: true; target: AbsoluteTarget } | { ok: false; detail: string } {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i.exec(text);
  if (m === null) return { ok: false, detail: 'not an absolute URL' };
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https' && scheme !== 'ws' && scheme !== 'wss') {
    return { ok: false, detail: `the ${scheme}: scheme is not proxied (http, https, ws and wss are)` };
  }
  const authority = m[2]!;
  if (authority.includes('@')) return { ok: false, detail: 'user info is not allowed in a proxied URL' };
  const url = URL.parse(text);
  if (url === null) return { ok: false, detail: 'not a valid URL' };
  let hostText = authority;
  const portMatch = /:(\d*)$/.exec(authority.startsWith('[') ? authority.slice(authority.indexOf(']')) : authority);
  if (portMatch !== null) hostText = authority.slice(0, authority.length - portMatch[0].length);
  const host = parseTargetHost(hostText);
  if (!host.ok) return { ok: false, detail: host.detail };
  const secure = scheme === 'https' || scheme === 'wss';
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  return {
    ok: true,
    target: {
      host: host.host,
      port,
      kind: host.kind,
      authority: formatHostPort(host.host, port),
      url,
      scheme,
    },
  };
}
