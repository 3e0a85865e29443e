// IP literals as bytes: parsing (strict dotted-quad IPv4, RFC 4291 §2.2 IPv6 text forms), canonical text, CIDR
// ranges, and the class of an address (loopback, private, link-local, …) that destination rules and NO_PROXY
// matching need. Pure: strings and bytes in, values out; no lookups.

export type IpAddress = { family: 4 | 6; bytes: Uint8Array };

export type Cidr = { ip: IpAddress; prefix: number };

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function parseIPv4(text: string): IpAddress | undefined {
  if (!IPV4.test(text)) return undefined;
  return { family: 4, bytes: Uint8Array.from(text.split('.').map(Number)) };
}

function parseIPv6(text: string): IpAddress | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(':')) return undefined;
  let words: number[] = [];
  let tail = text;
  // An embedded IPv4 address ("::ffff:127.0.0.1") fills the last two 16-bit words.
  const lastColon = text.lastIndexOf(':');
  const v4Text = text.slice(lastColon + 1);
  let v4: Uint8Array | undefined;
  if (v4Text.includes('.')) {
    const parsed = parseIPv4(v4Text);
    if (parsed === undefined) return undefined;
    v4 = parsed.bytes;
    tail = text.slice(0, lastColon + 1);
    // "::1.2.3.4" leaves "::"; "1::1.2.3.4" leaves "1::"; "1:2:3:4:5:6:1.2.3.4" leaves "1:2:3:4:5:6:".
    if (tail.endsWith(':') && !tail.endsWith('::')) tail = tail.slice(0, -1);
  }
  const wanted = v4 === undefined ? 8 : 6;
  const halves = tail.split('::');
  if (halves.length > 2) return undefined;
  const parseWords = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const group of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
      out.push(Number.parseInt(group, 16));
    }
    return out;
  };
  const head = parseWords(halves[0]!);
  if (head === undefined) return undefined;
  if (halves.length === 2) {
    const rest = parseWords(halves[1]!);
    if (rest === undefined || head.length + rest.length >= wanted) return undefined;
    words = [...head, ...new Array<number>(wanted - head.length - rest.length).fill(0), ...rest];
  } else {
    if (head.length !== wanted) return undefined;
    words = head;
  }
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[i * 2] = w >> 8;
    bytes[i * 2 + 1] = w & 0xff;
  });
  if (v4 !== undefined) bytes.set(v4, 12);
  return { family: 6, bytes };
}

/** An IPv4 dotted quad or an IPv6 literal (with or without brackets); undefined for anything else, names included. */
export function parseIp(text: string): IpAddress | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  return parseIPv4(bare) ?? parseIPv6(bare);
}

export function isIpLiteral(text: string): boolean {
  return parseIp(text) !== undefined;
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run as "::"), without brackets. */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) return [...ip.bytes].join('.');
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((ip.bytes[i]! << 8) | ip.bytes[i + 1]!);
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j += 1;
    if (j - i > bestLength && j - i > 1) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (bestStart === -1) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`;
}

/** "10.0.0.0/8", "fd00::/8", or a single address (a /32 or /128). */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const ip = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (ip === undefined) return undefined;
  const max = ip.family === 4 ? 32 : 128;
  if (slash === -1) return { ip, prefix: max };
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  return prefix <= max ? { ip, prefix } : undefined;
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), else the address itself. */
export function unmapIp(ip: IpAddress): IpAddress {
  if (
    ip.family === 6 &&
    ip.bytes.subarray(0, 10).every((b) => b === 0) &&
    ip.bytes[10] === 0xff &&
    ip.bytes[11] === 0xff
  ) {
    return { family: 4, bytes: ip.bytes.slice(12) };
  }
  return ip;
}

/**
 * An address for people and for the headers wsgate writes: an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, as a
 * dual-stack socket reports an IPv4 client, or `::ffff:7f00:1`, as a PROXY header's TCP6 source reads) is the IPv4
 * dotted quad it maps, as nginx's $remote_addr writes it; anything else is returned unchanged.
 */
export function plainAddress(address: string): string {
  // Most addresses are IPv4 or carry no "ffff" word: they are returned without being parsed.
  if (!address.includes(':') || !/ffff:/i.test(address)) return address;
  const ip = parseIp(address);
  if (ip === undefined || ip.family === 4) return address;
  const unmapped = unmapIp(ip);
  return unmapped.family === 4 ? formatIp(unmapped) : address;
}

/**
 * What a per-client limit counts an address as: an IPv4 address (an IPv4-mapped one included) is itself; an IPv6
 * address is its network of `ipv6Prefix` bits ("2001:db8:1:2::/64"), since a host or a household is handed a whole
 * /64 and may send from any address in it (RFC 8981 temporary addresses rotate by design). 128 counts each IPv6
 * address on its own. Text that is no address is returned as it is.
 */
export function clientKey(address: string, ipv6Prefix: number): string {
  const parsed = parseIp(address);
  if (parsed === undefined) return address;
  const ip = unmapIp(parsed);
  if (ip.family === 4 || ipv6Prefix >= 128) return formatIp(ip);
  const network = new Uint8Array(16);
  const full = Math.floor(ipv6Prefix / 8);
  network.set(ip.bytes.subarray(0, full));
  const bits = ipv6Prefix % 8;
  if (bits > 0) network[full] = ip.bytes[full]! & ((0xff << (8 - bits)) & 0xff);
  return `${formatIp({ family: 6, bytes: network })}/${ipv6Prefix}`;
}

export function inCidr(address: IpAddress, range: Cidr): boolean {
  const ip = unmapIp(address);
  const base = unmapIp(range.ip);
  // A mapped range (::ffff:10.0.0.0/104) is the IPv4 range it maps.
  const prefix = base.family === 4 && range.ip.family === 6 ? range.prefix - 96 : range.prefix;
  if (ip.family !== base.family || prefix < 0) return false;
  const full = Math.floor(prefix / 8);
  for (let i = 0; i < full; i += 1) if (ip.bytes[i] !== base.bytes[i]) return false;
  const bits = prefix % 8;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (ip.bytes[full]! & mask) === (base.bytes[full]! & mask);
}

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'cgnat'
  | 'ula'
  | 'unspecified'
  | 'metadata'
  | 'multicast'
  | 'reserved';

const RANGES: readonly [string, AddressClass][] = [
  // Cloud metadata endpoints first: they sit inside link-local and ULA space but deserve their own name.
  ['169.254.169.254/32', 'metadata'],
  ['fd00:ec2::254/128', 'metadata'],
  ['0.0.0.0/8', 'unspecified'], // RFC 791 "this network"; Linux connects 0.0.0.0 to the local host
  ['10.0.0.0/8', 'private'], // RFC 1918
  ['100.64.0.0/10', 'cgnat'], // RFC 6598 shared address space
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'], // RFC 3927
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'], // RFC 6890 IETF protocol assignments
  ['192.0.2.0/24', 'reserved'], // RFC 5737 documentation
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved'], // RFC 2544 benchmarking
  ['198.51.100.0/24', 'reserved'],
  ['203.0.113.0/24', 'reserved'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'], // includes 255.255.255.255
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::/96', 'reserved'], // deprecated IPv4-compatible addresses
  ['100::/64', 'reserved'], // RFC 6666 discard
  ['2001:db8::/32', 'reserved'], // RFC 3849 documentation
  ['fc00::/7', 'ula'], // RFC 4193
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'reserved'], // deprecated site-local
  ['ff00::/8', 'multicast'],
];

const COMPILED = RANGES.map(([text, cls]) => [parseCidr(text)!, cls] as const);

// RFC 6052 NAT64 (64:ff9b::/96) and RFC 3056 6to4 (2002::/16) carry an IPv4 address that decides where it goes.
const NAT64 = parseCidr('64:ff9b::/96')!;
const SIX_TO_FOUR = parseCidr('2002::/16')!;

/** What kind of address this is; only 'public' ones are reachable destinations for an exposed forward proxy. */
export function classifyIp(address: IpAddress): AddressClass {
  const ip = unmapIp(address);
  if (ip.family === 6 && inCidr(ip, NAT64)) return classifyIp({ family: 4, bytes: ip.bytes.slice(12) });
  if (ip.family === 6 && inCidr(ip, SIX_TO_FOUR)) return classifyIp({ family: 4, bytes: ip.bytes.slice(2, 6) });
  for (const [range, cls] of COMPILED) if (inCidr(ip, range)) return cls;
  return 'public';
}

/** Lower case, no IPv6 brackets, no trailing dot; IP literals in canonical form. For comparisons, not for display. */
export function canonicalHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  const ip = parseIp(h);
  return ip === undefined ? h : formatIp(ip);
}

/** localhost names (RFC 6761 §6.3) and loopback addresses: places only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = canonicalHost(host);
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const ip = parseIp(h);
  return ip !== undefined && classifyIp(ip) === 'loopback';
}
