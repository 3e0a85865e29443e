// The PROXY protocol header (HAProxy's spec, versions 1 and 2) that a layer-4 load balancer (HAProxy `send-proxy`,
// AWS NLB, Google's TCP proxy, nginx's stream `proxy_protocol on`) writes before the client's own bytes, so that the
// proxy behind it learns the client's address. Sans-I/O: give it the bytes received so far; it answers "more",
// the parsed header and its length, or why the bytes are not one. Nothing is read past the header: the rest belongs
// to the HTTP or TLS that follows. Pure.
import { formatIp, parseIp } from './ip.ts';
import { type ProxyTlvs, parseProxyTlvs } from './proxy-protocol-tlv.ts';

export type ProxiedAddress = { address: string; port: number; family: 'IPv4' | 'IPv6' };

export type ProxyHeader = {
  version: 1 | 2;
  /** The header's length in bytes: what to skip before the client's bytes. */
  length: number;
  /**
   * The client as the balancer saw it, and the address it connected to. Undefined for a header that names no
   * address: v1 UNKNOWN, v2 LOCAL (the balancer's own health check), v2 UNSPEC or UNIX; the peer's address stands.
   */
  source?: ProxiedAddress | undefined;
  destination?: ProxiedAddress | undefined;
} & ProxyTlvs;

export type ProxyHeaderParse =
  /** Not complete yet; `need` is the whole header's length once known (v2), so a reader can wait for that much. */
  { kind: 'more'; need?: number } | { kind: 'header'; header: ProxyHeader } | { kind: 'invalid'; reason: string };

/** v1's longest line (the spec's 107 bytes, "PROXY UNKNOWN" with both IPv6 addresses and ports, and CRLF). */
export const V1_MAX_BYTES = 107;
/**
 * The longest v2 header taken: the 16-byte preamble and an address block with TLVs. The spec allows 64 KiB of TLVs;
 * balancers send well under this (AWS NLB's VPC endpoint id, a few dozen bytes), and each waiting connection holds it.
 */
export const V2_MAX_BYTES = 4096;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_PREAMBLE = 16;

const MORE: ProxyHeaderParse = { kind: 'more' };

function invalid(reason: string): ProxyHeaderParse {
  return { kind: 'invalid', reason };
}

/** Whether `bytes` so far agree with the start of `expected`. */
function prefixOf(bytes: Buffer, expected: Buffer): boolean {
  const n = Math.min(bytes.length, expected.length);
  return bytes.subarray(0, n).equals(expected.subarray(0, n));
}

/** The first bytes of something that is not a PROXY header, as a log can show them: printable ASCII, at most 40. */
export function describeStart(bytes: Buffer): string {
  const shown = bytes.subarray(0, 40).toString('latin1');
  const text = shown.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return bytes.length > 40 ? `${text}…` : text;
}

/** Parses the header at the start of `bytes` (everything received so far on the connection). */
export function parseProxyHeader(bytes: Buffer): ProxyHeaderParse {
  if (bytes.length === 0) return MORE;
  if (prefixOf(bytes, V2_SIGNATURE)) return bytes.length < V2_SIGNATURE.length ? MORE : parseV2(bytes);
  if (prefixOf(bytes, V1_PREFIX)) return bytes.length < V1_PREFIX.length ? MORE : parseV1(bytes);
  return invalid(`the connection does not start with a PROXY protocol header: "${describeStart(bytes)}"`);
}

const V1_PORT = /^(0|[1-9]\d{0,4})$/;

function v1Address(text: string, family: 'IPv4' | 'IPv6', what: string): ProxiedAddress | string {
  const ip = parseIp(text);
  if (ip === undefined || (ip.family === 4) !== (family === 'IPv4')) {
    return `v1 ${what} address "${text}" is not an ${family} address`;
  }
  return { address: formatIp(ip), port: 0, family };
}

function v1Port(text: string, what: string): number | string {
  const port = V1_PORT.test(text) ? Number(text) : Number.NaN;
  return port <= 65535 ? port : `v1 ${what} port "${text}" is not a port (0 to 65535)`;
}

function parseV1(bytes: Buffer): ProxyHeaderParse {
  const window = bytes.subarray(0, V1_MAX_BYTES);
  const cr = window.indexOf(0x0d);
  if (cr === -1 || cr === window.length - 1) {
    if (window.length >= V1_MAX_BYTES) return invalid(`v1 header has no CRLF within ${V1_MAX_BYTES} bytes`);
    // A line feed alone, or anything outside printable ASCII, cannot become a valid line.
    if (window.indexOf(0x0a) !== -1 || !/^[\x20-\x7e\r]*$/.test(window.toString('latin1'))) {
      return invalid('v1 header is not a line of printable ASCII ending in CRLF');
    }
    return MORE;
  }
  if (window[cr + 1] !== 0x0a) return invalid('v1 header line ends in CR without LF');
  const line = window.subarray(0, cr).toString('latin1');
  if (!/^[\x20-\x7e]*$/.test(line)) return invalid('v1 header is not a line of printable ASCII ending in CRLF');
  const length = cr + 2;
  const parts = line.split(' ');
  const protocol = parts[1];
  if (protocol === 'UNKNOWN') return { kind: 'header', header: { version: 1, length } };
  if (protocol !== 'TCP4' && protocol !== 'TCP6') {
    return invalid(`v1 header names protocol "${protocol ?? ''}"; expected TCP4, TCP6 or UNKNOWN`);
  }
  if (parts.length !== 6) {
    return invalid(`v1 ${protocol} header needs "PROXY ${protocol} source destination sport dport", single spaces`);
  }
  const family = protocol === 'TCP4' ? 'IPv4' : 'IPv6';
  const source = v1Address(parts[2]!, family, 'source');
  const destination = v1Address(parts[3]!, family, 'destination');
  const sourcePort = v1Port(parts[4]!, 'source');
  const destinationPort = v1Port(parts[5]!, 'destination');
  for (const checked of [source, destination, sourcePort, destinationPort]) {
    if (typeof checked === 'string') return invalid(checked);
  }
  return {
    kind: 'header',
    header: {
      version: 1,
      length,
      source: { ...(source as ProxiedAddress), port: sourcePort as number },
      destination: { ...(destination as ProxiedAddress), port: destinationPort as number },
    },
  };
}

const V2_FAMILIES: Record<number, { name: string; size: number }> = {
  0: { name: 'UNSPEC', size: 0 },
  1: { name: 'INET', size: 12 },
  2: { name: 'INET6', size: 36 },
  3: { name: 'UNIX', size: 216 },
};

function v2Address(block: Buffer, family: 4 | 6, offset: number, portOffset: number): ProxiedAddress {
  const size = family === 4 ? 4 : 16;
  const ip = { family, bytes: Uint8Array.from(block.subarray(offset, offset + size)) } as const;
  return { address: formatIp(ip), port: block.readUInt16BE(portOffset), family: family === 4 ? 'IPv4' : 'IPv6' };
}

function parseV2(bytes: Buffer): ProxyHeaderParse {
  if (bytes.length < V2_PREAMBLE) return MORE;
  const versionCommand = bytes[12]!;
  const version = versionCommand >> 4;
  const command = versionCommand & 0x0f;
  if (version !== 2) return invalid(`v2 signature with version ${version}; expected 2`);
  if (command > 1) return invalid(`v2 command ${command}; expected 0 (LOCAL) or 1 (PROXY)`);
  const familyByte = bytes[13]!;
  const family = V2_FAMILIES[familyByte >> 4];
  const transport = familyByte & 0x0f;
  if (family === undefined) return invalid(`v2 address family ${familyByte >> 4} is unknown`);
  if (transport > 2) return invalid(`v2 transport protocol ${transport} is unknown`);
  const blockLength = bytes.readUInt16BE(14);
  const length = V2_PREAMBLE + blockLength;
  if (length > V2_MAX_BYTES) return invalid(`v2 header of ${length} bytes is longer than ${V2_MAX_BYTES}`);
  if (blockLength < family.size) {
    return invalid(`v2 ${family.name} header has ${blockLength} address bytes; it needs ${family.size}`);
  }
  if (bytes.length < length) return { kind: 'more', need: length };
  // LOCAL: the balancer speaking for itself (a health check); the peer's address is the right one.
  if (command === 0) return { kind: 'header', header: { version: 2, length } };
  if (transport === 2) return invalid('v2 header describes a datagram (UDP) connection; this is a TCP listener');
  if (family.name !== 'INET' && family.name !== 'INET6') return { kind: 'header', header: { version: 2, length } };
  const block = bytes.subarray(V2_PREAMBLE, length);
  const tlvs = parseProxyTlvs(block.subarray(family.size));
  if (typeof tlvs === 'string') return invalid(tlvs);
  const ipFamily = family.name === 'INET' ? 4 : 6;
  const ipSize = ipFamily === 4 ? 4 : 16;
  return {
    kind: 'header',
    header: {
      version: 2,
      length,
      source: v2Address(block, ipFamily, 0, 2 * ipSize),
      destination: v2Address(block, ipFamily, ipSize, 2 * ipSize + 2),
      ...tlvs,
    },
  };
}

/** A v1 header line, for tests and for sending one upstream. */
export function formatProxyV1(source: ProxiedAddress, destination: ProxiedAddress): string {
  const protocol = source.family === 'IPv4' ? 'TCP4' : 'TCP6';
  return `PROXY ${protocol} ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`;
}

/** A v2 PROXY header (TCP over IPv4 or IPv6, and the TLVs given), for tests and for sending one upstream. */
export function formatProxyV2(source: ProxiedAddress, destination: ProxiedAddress, tlvs?: Buffer): Buffer {
  const v4 = source.family === 'IPv4';
  const ipSize = v4 ? 4 : 16;
  const block = Buffer.alloc(2 * ipSize + 4);
  block.set(parseIp(source.address)?.bytes ?? new Uint8Array(ipSize), 0);
  block.set(parseIp(destination.address)?.bytes ?? new Uint8Array(ipSize), ipSize);
  block.writeUInt16BE(source.port, 2 * ipSize);
  block.writeUInt16BE(destination.port, 2 * ipSize + 2);
  const extra = tlvs ?? Buffer.alloc(0);
  const preamble = Buffer.alloc(V2_PREAMBLE);
  V2_SIGNATURE.copy(preamble);
  preamble[12] = 0x21;
  preamble[13] = v4 ? 0x11 : 0x21;
  preamble.writeUInt16BE(block.length + extra.length, 14);
  return Buffer.concat([preamble, block, extra]);
}
