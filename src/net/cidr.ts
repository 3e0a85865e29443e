// CIDR ranges as an operator writes them in config ("10.0.0.0/8", "2001:db8::/32", "::ffff:192.0.2.0/120", or one
// address) and whether a peer's address, as a socket reports it, falls in one: what `trustForwarded` needs to decide
// whether a direct peer is a proxy whose forwarding headers wsgate may keep. A dual-stack listener reports IPv4
// peers as IPv4-mapped IPv6 ("::ffff:203.0.113.9"); they match IPv4 ranges, and mapped ranges match IPv4 peers.
// Address parsing and the bit comparison are ip.ts's (shared with destination classes and NO_PROXY); this module
// adds range syntax with the messages a config error needs, and the list check. Pure.
import { type Cidr, formatIp, inCidr, parseIp } from './ip.ts';

export type { Cidr } from './ip.ts';

export type CidrParse = { ok: true; value: Cidr } | { ok: false; message: string };

const EXAMPLES = 'e.g. "10.0.0.0/8", "192.0.2.7" or "2001:db8::/32"';

/**
 * One range: an IPv4 or IPv6 address, optionally with "/prefix". Host bits under the prefix are refused
 * ("10.0.0.1/8" names no range an operator meant, and trusting more than meant is the costly mistake).
 */
export function parseCidrRange(text: string): CidrParse {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  if (addressText.includes('%')) {
    return { ok: false, message: `${JSON.stringify(text)}: IPv6 zone ids ("%eth0") are not supported in a range` };
  }
  const ip = parseIp(addressText);
  if (ip === undefined || addressText.startsWith('[')) {
    return { ok: false, message: `${JSON.stringify(text)} is not an IP address or CIDR range (${EXAMPLES})` };
  }
  const max = ip.family === 4 ? 32 : 128;
  const prefixText = slash === -1 ? String(max) : text.slice(slash + 1);
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (!(prefix <= max)) {
    return {
      ok: false,
      message: `${JSON.stringify(text)}: the prefix length of an IPv${ip.family} range is 0 to ${max}`,
    };
  }
  const range: Cidr = { ip, prefix };
  const network = networkOf(range);
  if (!network.bytes.every((b, i) => b === range.ip.bytes[i])) {
    const suggestion = `${formatIp(network)}/${range.prefix}`;
    return {
      ok: false,
      message: `${JSON.stringify(text)} has bits set below its /${range.prefix} prefix; did you mean "${suggestion}"?`,
    };
  }
  return { ok: true, value: range };
}

/** The range's first address: the host bits cleared. */
function networkOf(range: Cidr): Cidr['ip'] {
  const bytes = Uint8Array.from(range.ip.bytes);
  for (let i = 0; i < bytes.length; i += 1) {
    const bitsHere = Math.max(0, Math.min(8, range.prefix - i * 8));
    bytes[i] = bytes[i]! & ((0xff << (8 - bitsHere)) & 0xff);
  }
  return { family: range.ip.family, bytes };
}

/** Canonical text of a range: "10.0.0.0/8", "2001:db8::/32". */
export function formatCidr(range: Cidr): string {
  return `${formatIp(range.ip)}/${range.prefix}`;
}

/** Ranges from already validated config text; throws on one that is not (a bug upstream of the caller). */
export function compileCidrs(texts: readonly string[]): readonly Cidr[] {
  return texts.map((text) => {
    const parsed = parseCidrRange(text);
    if (!parsed.ok) throw new Error(parsed.message);
    return parsed.value;
  });
}

/**
 * Whether a socket's remote address falls in one of the ranges. An address that is not an IP literal (undefined
 * after the socket closed, a Unix socket path) is in none.
 */
export function cidrsContain(ranges: readonly Cidr[], address: string | undefined): boolean {
  if (address === undefined || ranges.length === 0) return false;
  // Link-local peers carry their interface ("fe80::1%eth0"); the range is about the address.
  const zone = address.indexOf('%');
  const ip = parseIp(zone === -1 ? address : address.slice(0, zone));
  if (ip === undefined) return false;
  return ranges.some((range) => inCidr(ip, range));
}
