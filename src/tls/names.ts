// Host names as TLS sees them: normalising a name from SNI, a CONNECT target or a URL, telling IP literals from
// DNS names (IPs go into iPAddress SANs, RFC 5280 §4.2.1.6), and matching a server name against a certificate's
// names (RFC 6125 §6.4.3: a "*" is a whole left-most label and covers exactly one label). Pure: strings in and out.

/** Lower case, no IPv6 brackets, no trailing dot. */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(host: string): boolean {
  return IPV4.test(host);
}

/** An IPv6 literal (without brackets): DNS names never contain ":". */
export function isIPv6(host: string): boolean {
  return host.includes(':') && /^[0-9a-f:.]+(%.+)?$/i.test(host);
}

export function isIpAddress(host: string): boolean {
  return isIPv4(host) || isIPv6(host);
}

/**
 * The SNI name for an upstream's host (RFC 6066 §3): none for an IP literal, and a DNS name without its trailing
 * dot, lower-cased. `wss://host.example./` is the same host as `host.example`, and servers (and certificates) know
 * it without the dot; curl and Go strip it too. The name checked against the certificate is this one as well.
 */
export function upstreamServerName(host: string): string | undefined {
  const name = normalizeHost(host);
  return isIpAddress(name) ? undefined : name;
}

/** Does `name` (a normalised server name) match `pattern` (an exact name or "*.example.com")? */
export function matchServerName(pattern: string, name: string): boolean {
  const p = normalizeHost(pattern);
  if (!p.startsWith('*.')) return p === name;
  const suffix = p.slice(1); // ".example.com"
  if (!name.endsWith(suffix)) return false;
  const label = name.slice(0, -suffix.length);
  return label.length > 0 && !label.includes('.');
}

/**
 * The DNS names and IP addresses of a certificate, from Node's X509Certificate#subjectAltName text
 * ("DNS:a.example, DNS:*.b.example, IP Address:127.0.0.1"). Node quotes entries that contain separators.
 */
export function namesFromSubjectAltName(san: string | undefined): { dns: string[]; ip: string[] } {
  const dns: string[] = [];
  const ip: string[] = [];
  if (san === undefined) return { dns, ip };
  for (const raw of san.split(/,\s*(?=[A-Za-z ]+:)/)) {
    const m = /^([A-Za-z ]+):(.*)$/.exec(raw.trim());
    if (m === null) continue;
    let value = m[2]!.trim();
    if (value.startsWith('"') && value.endsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue;
      }
    }
    if (m[1] === 'DNS') dns.push(value.toLowerCase());
    else if (m[1] === 'IP Address') ip.push(value.toLowerCase());
  }
  return { dns, ip };
}
