// The PROXY protocol header wsgate writes at the start of a connection to an upstream that asks for one
// (upstreams[].proxyProtocol, as HAProxy's send-proxy / send-proxy-v2 and Caddy's proxy_protocol): the client's
// address and port and the address and port it connected to on wsgate, so that a server behind wsgate learns the
// client at the TCP level (another wsgate, HAProxy, nginx `listen … proxy_protocol`, Envoy's proxy_protocol filter).
// v2 also says whether the client spoke TLS (PP2_TYPE_SSL, as HAProxy's send-proxy-v2-ssl), so a server behind
// wsgate's TLS termination knows its client used https.
// A connection wsgate makes for itself (a health check) says so: v1 UNKNOWN, v2 LOCAL. Pure.
import { formatIp, type IpAddress, parseIp, unmapIp } from './ip.ts';
import { formatProxyV1, formatProxyV2, type ProxiedAddress } from './proxy-protocol.ts';
import { sslTlv } from './proxy-protocol-tlv.ts';

export type ProxyProtocolVersion = 'v1' | 'v2';

/** The two ends of the client's connection as wsgate saw them (a socket's remote* and local* fields). */
export type ConnectionEnds = {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
  localAddress?: string | undefined;
  localPort?: number | undefined;
  /** The client spoke TLS (to wsgate, or to a balancer whose header said so): v2 carries PP2_TYPE_SSL. */
  tls?: boolean | undefined;
  /** Its TLS version when wsgate terminated it ("TLSv1.3"). */
  tlsVersion?: string | undefined;
};

const V1_UNKNOWN = Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
// The v2 signature, version 2 with command LOCAL (0x20), family UNSPEC (0x00), no address block.
const V2_LOCAL = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0, 0,
]);

/** The header of a connection wsgate opens on its own behalf (a health check): no client to name. */
export function localProxyHeader(version: ProxyProtocolVersion): Buffer {
  return version === 'v1' ? V1_UNKNOWN : V2_LOCAL;
}

function validPort(port: number | undefined): port is number {
  return port !== undefined && Number.isInteger(port) && port >= 0 && port <= 65535;
}

/** IPv6 form of an IPv4 address (::ffff:a.b.c.d), for a header whose other address is IPv6. */
function mapped(ip: IpAddress): IpAddress {
  if (ip.family === 6) return ip;
  const bytes = new Uint8Array(16);
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  bytes.set(ip.bytes, 12);
  return { family: 6, bytes };
}

function proxied(ip: IpAddress, port: number): ProxiedAddress {
  return { address: formatIp(ip), port, family: ip.family === 4 ? 'IPv4' : 'IPv6' };
}

/**
 * The header for a connection relayed for the client at `ends`. Both addresses travel in one family: IPv4 when both
 * are IPv4 (or IPv4-mapped, as a dual-stack listener reports them), else both as IPv6 (an IPv4 one mapped), as
 * HAProxy does. Ends wsgate cannot name (a socket already closed) give the header of a connection of its own.
 */
export function proxyHeaderFor(version: ProxyProtocolVersion, ends: ConnectionEnds): Buffer {
  const source = ends.remoteAddress === undefined ? undefined : parseIp(ends.remoteAddress);
  const destination = ends.localAddress === undefined ? undefined : parseIp(ends.localAddress);
  if (source === undefined || destination === undefined || !validPort(ends.remotePort) || !validPort(ends.localPort))
    return localProxyHeader(version);
  let from = unmapIp(source);
  let to = unmapIp(destination);
  if (from.family !== to.family) {
    from = mapped(from);
    to = mapped(to);
  }
  const src = proxied(from, ends.remotePort);
  const dst = proxied(to, ends.localPort);
  if (version === 'v1') return Buffer.from(formatProxyV1(src, dst), 'latin1');
  return formatProxyV2(src, dst, ends.tls === true ? sslTlv(ends.tlsVersion) : undefined);
}
