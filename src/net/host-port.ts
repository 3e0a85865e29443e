// `host:port` addresses: parsing the ones people write for listeners ("127.0.0.1:8080", "[::1]:8080",
// "localhost:0") and the one formatter every log line, message and CONNECT authority uses (IPv6 in brackets).
// What goes in brackets is checked here too (bracketedHostMessage). Pure: URL and ip.ts are the only helpers, so no
// node:net import is needed to recognise an IPv6 literal.

import { parseIp } from './ip.ts';

export type HostPort = { host: string; port: number };

export type HostPortResult = { ok: true; value: HostPort } | { ok: false; message: string };

const EXAMPLE = 'e.g. "127.0.0.1:8080", "0.0.0.0:8080" or "[::1]:8080"';

// DNS labels, plus "_" which some internal names use; an IPv4 literal also matches.
const HOSTNAME = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*$/;

function isIPv6(host: string): boolean {
  return /^[0-9A-Fa-f:.]+$/.test(host) && URL.canParse(`http://[${host}]/`);
}

function checkHost(host: string): string | undefined {
  if (host === '') return `the host is required, ${EXAMPLE}`;
  if (host.includes(':')) return isIPv6(host) ? undefined : `invalid IPv6 address ${JSON.stringify(host)}`;
  if (!HOSTNAME.test(host)) return `invalid host ${JSON.stringify(host)}: expected a host name or an IP address`;
  return undefined;
}

function checkPort(port: unknown): { ok: true; value: number } | { ok: false; message: string } {
  const n = typeof port === 'string' && /^\d{1,5}$/.test(port) ? Number(port) : port;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535) return { ok: true, value: n };
  return {
    ok: false,
    message: `invalid port ${JSON.stringify(port)}: expected a number from 0 to 65535 (0 picks a free port)`,
  };
}

/** Parses `"host:port"` (IPv6 in brackets), or checks a `{ host, port }` object built in code. */
export function parseHostPort(input: unknown): HostPortResult {
  if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
    const { host, port, ...rest } = input as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0)
      return { ok: false, message: `unknown key ${JSON.stringify(extra[0])} in an address: expected { host, port }` };
    if (typeof host !== 'string') return { ok: false, message: `the host is required, ${EXAMPLE}` };
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    const hostError = checkHost(bare);
    if (hostError !== undefined) return { ok: false, message: hostError };
    const p = checkPort(port);
    return p.ok ? { ok: true, value: { host: bare, port: p.value } } : p;
  }
  if (typeof input !== 'string') {
    return { ok: false, message: `expected "host:port", ${EXAMPLE}; got ${JSON.stringify(input) ?? 'nothing'}` };
  }
  let host: string;
  let portText: string;
  if (input.startsWith('[')) {
    const close = input.indexOf(']');
    if (close === -1 || input[close + 1] !== ':') {
      return {
        ok: false,
        message: `invalid address ${JSON.stringify(input)}: expected "[ipv6]:port", e.g. "[::1]:8080"`,
      };
    }
    host = input.slice(1, close);
    portText = input.slice(close + 2);
    if (host === '' || !isIPv6(host)) return { ok: false, message: `invalid IPv6 address ${JSON.stringify(host)}` };
  } else {
    const colon = input.lastIndexOf(':');
    if (colon === -1)
      return { ok: false, message: `invalid address ${JSON.stringify(input)}: the port is missing, ${EXAMPLE}` };
    host = input.slice(0, colon);
    portText = input.slice(colon + 1);
    if (host.includes(':')) {
      return {
        ok: false,
        message: `invalid address ${JSON.stringify(input)}: write an IPv6 address in brackets, e.g. "[::1]:8080"`,
      };
    }
    const hostError = checkHost(host);
    if (hostError !== undefined) return { ok: false, message: hostError };
  }
  const p = checkPort(portText);
  return p.ok ? { ok: true, value: { host, port: p.value } } : p;
}

/**
 * Why a URL with an unbracketed IPv6 host (`ws://::1:9000`) cannot be read, with the URL it was likely meant to be
 * (`ws://[::1]:9000`: the last group is taken for the port when the rest is an address); undefined for any other URL.
 * RFC 3986 §3.2.2: an IPv6 host is bracketed, or its colons cannot be told from the port's. The user, password and
 * path are left out of the example, so a secret in the URL is not repeated in the message.
 */
export function unbracketedIpv6Message(url: string): string | undefined {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)/i.exec(url.trim());
  if (m === null) return undefined;
  const scheme = m[1]!.toLowerCase();
  const authority = m[2]!;
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  // One colon is host:port; a bracketed host is already right (or wrong in another way).
  if (hostPort.startsWith('[') || hostPort.indexOf(':') === hostPort.lastIndexOf(':')) return undefined;
  const colon = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, colon);
  const port = hostPort.slice(colon + 1);
  const example =
    /^\d{1,5}$/.test(port) && isIPv6(host)
      ? `${scheme}[${host}]:${port}`
      : isIPv6(hostPort)
        ? `${scheme}[${hostPort}]`
        : `${scheme}[::1]:9000`;
  return `the host ${JSON.stringify(hostPort)} is not bracketed: IPv6 addresses go in brackets, e.g. ${example}`;
}

/**
 * `('::1', 80)` → `"[::1]:80"`: the authority form (RFC 3986 §3.2.2) for messages, logs, URLs and CONNECT
 * targets. The host is bare (no brackets), as sockets and URL.hostname-without-brackets give it.
 */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Why a bracketed host (`[…]`) in config is refused, or undefined when it holds an IPv6 address. RFC 3986 §3.2.2
 * brackets only an IPv6 literal: anything else in brackets (`[:::::]`, `[foo]`, `[1.2.3.4]`) no client sends, so a
 * route's `match.host` would silently match nothing and a forward host pattern would read as something else than
 * written. Route hosts and forward host patterns (allowHosts, denyHosts, intercept) both ask this.
 */
export function bracketedHostMessage(host: string): string | undefined {
  const inner = host.slice(1, -1);
  const ip = parseIp(inner);
  if (ip?.family === 6) return undefined;
  if (ip?.family === 4)
    return `invalid host ${JSON.stringify(host)}: an IPv4 address goes without brackets: write "${inner}"`;
  const zone = inner.includes('%') ? ' (a Host header carries no zone id)' : '';
  return `invalid host ${JSON.stringify(host)}: brackets hold an IPv6 address, and ${JSON.stringify(inner)} is not one; write e.g. "[::1]" or "[2001:db8::7]"${zone}`;
}
