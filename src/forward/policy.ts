// What a forward listener lets clients reach: host patterns (allowHosts / denyHosts), ports (allowPorts), and
// which kinds of address (destinations: any, or public only). A target is checked twice: as the client named it,
// before anything is dialed, and each address its name resolved to, before that address is dialed — the same
// addresses, with no second lookup, so DNS cannot answer differently in between. Pure.
// Host patterns and port rules (their grammar) are net/'s; this module is the policy built from them.

import { type CompiledHostPattern, compileHostPatterns, hostPatternMatches } from '../net/host-pattern.ts';
import { type AddressClass, canonicalHost, classifyIp, parseIp } from '../net/ip.ts';
import { BAD_PORTS, inPortRanges, type PortRange } from '../net/ports.ts';

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
  const allow: CompiledHostPattern[] | undefined =
    spec.allowHosts === undefined ? undefined : compileHostPatterns(spec.allowHosts);
  const deny = compileHostPatterns(spec.denyHosts ?? []);
  const denyRanges = deny.filter((d) => d.pattern.kind === 'cidr');
  const ports = spec.allowPorts;

  const checkAddress = (host: string, address: string): Verdict => {
    const ip = parseIp(address);
    if (ip === undefined) return { ok: false, reason: 'destination', detail: `${address} is not an IP address` };
    for (const d of denyRanges) {
      if (hostPatternMatches(d.pattern, canonicalHost(address))) {
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
      if (ports === undefined ? BAD_PORTS.has(port) : !inPortRanges(port, ports)) {
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
        if (hostPatternMatches(d.pattern, host)) {
          return { ok: false, reason: 'host', detail: `${host} matches denyHosts ${JSON.stringify(d.text)}` };
        }
      }
      if (allow !== undefined && !allow.some((a) => hostPatternMatches(a.pattern, host))) {
        return { ok: false, reason: 'host', detail: `${host} is not in forward.allowHosts` };
      }
      if (parseIp(host) !== undefined) return checkAddress(host, host);
      return OK;
    },
    checkAddress,
  };
}
