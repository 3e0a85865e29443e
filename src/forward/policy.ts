// What a forward listener lets clients reach: host patterns (allowHosts / denyHosts), ports (allowPorts), and
// which kinds of address (destinations: any, or public only). A target is checked twice: as the client named it,
// before anything is dialed, and each address its name resolved to, before that address is dialed — the same
// addresses, with no second lookup, so DNS cannot answer differently in between. Pure.
//
// Host patterns (nginx's server_name conventions):
//   *                 any host
//   example.com       exactly that name
//   *.example.com     any subdomain, not example.com itself
//   .example.com      example.com and any subdomain
//   10.1.2.3, ::1     that address; 10.0.0.0/8, fd00::/8 a range (also matched against resolved addresses)

import { type AddressClass, type Cidr, canonicalHost, classifyIp, inCidr, parseCidr, parseIp } from '../upstream/ip.ts';

export type PortRange = { from: number; to: number };

export type HostPattern =
  | { readonly kind: 'all' }
  | { readonly kind: 'exact'; readonly host: string }
  | { readonly kind: 'subdomains'; readonly suffix: string }
  | { readonly kind: 'domain'; readonly domain: string }
  | { readonly kind: 'cidr'; readonly range: Cidr };

const LABELS = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

export function parseHostPattern(text: string): Parsed<HostPattern> {
  const t = text.trim().toLowerCase();
  if (t === '*') return { ok: true, value: { kind: 'all' } };
  if (t.includes('://'))
    return { ok: false, message: `invalid host pattern ${JSON.stringify(text)}: a host, not a URL` };
  const bare = t.startsWith('[') && t.endsWith(']') ? t.slice(1, -1) : t;
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

/** A port (443) or a range ("8000-8999"). */
export function parsePortRule(input: unknown): Parsed<PortRange> {
  const valid = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
  if (typeof input === 'number') {
    return valid(input)
      ? { ok: true, value: { from: input, to: input } }
      : { ok: false, message: `invalid port ${input}: expected 1 to 65535` };
  }
  if (typeof input === 'string') {
    const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(input);
    if (m !== null) {
      const from = Number(m[1]);
      const to = m[2] === undefined ? from : Number(m[2]);
      if (valid(from) && valid(to) && from <= to) return { ok: true, value: { from, to } };
    }
  }
  return {
    ok: false,
    message: `invalid port ${JSON.stringify(input)}: expected a port (443) or a range ("8000-8999") within 1-65535`,
  };
}

/**
 * The Fetch standard's "bad ports" (https://fetch.spec.whatwg.org/#port-blocking): services such as SSH (22) and
 * SMTP (25) that browsers never let a page talk to. Without allowPorts a forward listener allows every other port.
 */
export const BAD_PORTS: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110,
  111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532,
  540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061,
  6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

export type PolicySpec = {
  allowHosts?: readonly string[] | undefined;
  denyHosts?: readonly string[] | undefined;
  /** Resolved port ranges; undefined: every port except BAD_PORTS. */
  allowPorts?: readonly PortRange[] | undefined;
  /** 'public': only public addresses may be dialed (the default of a listener reachable beyond loopback). */
  destinations: 'any' | 'public';
};

export type DenyReason = 'port' | 'host' | 'destination';

export type Verdict = { ok: true } | { ok: false; reason: DenyReason; detail: string };

const OK: Verdict = { ok: true };

function patternMatchesName(p: HostPattern, host: string): boolean {
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

function compileList(texts: readonly string[] | undefined): { text: string; pattern: HostPattern }[] | undefined {
  if (texts === undefined) return undefined;
  return texts.map((text) => {
    const parsed = parseHostPattern(text);
    // The schema has checked every pattern; one that fails here is a bug.
    if (!parsed.ok) throw new Error(`unreachable: ${parsed.message}`);
    return { text, pattern: parsed.value };
  });
}

/**
 * A predicate for a list of host patterns (forward.intercept), matched against a host as the client named it:
 * a name against the name patterns, an IP literal against addresses and ranges. An empty list matches nothing.
 */
export function compileHostMatcher(texts: readonly string[]): (host: string) => boolean {
  const list = compileList(texts) ?? [];
  if (list.length === 0) return () => false;
  return (host) => {
    const canonical = canonicalHost(host);
    return list.some((entry) => patternMatchesName(entry.pattern, canonical));
  };
}

const CLASS_WORDS: Record<AddressClass, string> = {
  public: 'a public address',
  loopback: 'a loopback address',
  private: 'a private (RFC 1918) address',
  'link-local': 'a link-local address',
  cgnat: 'a carrier-grade NAT (100.64.0.0/10) address',
  ula: 'a unique local (fc00::/7) address',
  unspecified: 'an unspecified (0.0.0.0/8 or ::) address',
  metadata: 'a cloud metadata address',
  multicast: 'a multicast address',
  reserved: 'a reserved address',
};

export type ForwardPolicy = {
  /** Checks the target as the client named it: port, host patterns, and the address if it is an IP literal. */
  checkTarget(host: string, port: number): Verdict;
  /** Checks one address a name resolved to (deny ranges and destinations) before it is dialed. */
  checkAddress(host: string, address: string): Verdict;
  /** True when resolved addresses need checking at all (a lookup result can then be used as it is otherwise). */
  readonly checksAddresses: boolean;
};

export function compilePolicy(spec: PolicySpec): ForwardPolicy {
  const allow = compileList(spec.allowHosts);
  const deny = compileList(spec.denyHosts) ?? [];
  const denyRanges = deny.filter((d) => d.pattern.kind === 'cidr');
  const ports = spec.allowPorts;

  const checkAddress = (host: string, address: string): Verdict => {
    const ip = parseIp(address);
    if (ip === undefined) return { ok: false, reason: 'destination', detail: `${address} is not an IP address` };
    for (const d of denyRanges) {
      if (patternMatchesName(d.pattern, canonicalHost(address))) {
        return {
          ok: false,
          reason: 'host',
          detail: `${host} resolves to ${address}, in denyHosts ${JSON.stringify(d.text)}`,
        };
      }
    }
    if (spec.destinations === 'public') {
      const cls = classifyIp(ip);
      if (cls !== 'public') {
        const what = canonicalHost(host) === canonicalHost(address) ? address : `${host} (${address})`;
        return {
          ok: false,
          reason: 'destination',
          detail: `${what} is ${CLASS_WORDS[cls]}, and this listener only reaches public addresses (forward.destinations: public)`,
        };
      }
    }
    return OK;
  };

  return {
    checksAddresses: spec.destinations === 'public' || denyRanges.length > 0,
    checkTarget(hostText, port) {
      const host = canonicalHost(hostText);
      if (ports === undefined ? BAD_PORTS.has(port) : !ports.some((r) => port >= r.from && port <= r.to)) {
        return {
          ok: false,
          reason: 'port',
          detail:
            ports === undefined
              ? `port ${port} is a non-web service port that browsers block too; list it in forward.allowPorts to allow it`
              : `port ${port} is not in forward.allowPorts`,
        };
      }
      for (const d of deny) {
        if (patternMatchesName(d.pattern, host)) {
          return { ok: false, reason: 'host', detail: `${host} matches denyHosts ${JSON.stringify(d.text)}` };
        }
      }
      if (allow !== undefined && !allow.some((a) => patternMatchesName(a.pattern, host))) {
        return { ok: false, reason: 'host', detail: `${host} is not in forward.allowHosts` };
      }
      if (parseIp(host) !== undefined) return checkAddress(host, host);
      return OK;
    },
    checkAddress,
  };
}
