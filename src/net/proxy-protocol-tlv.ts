// The TLVs (type-length-value fields) after a v2 PROXY header's addresses, of which wsgate reads two: PP2_TYPE_SSL,
// which says the client's connection to the balancer was TLS (HAProxy `send-proxy-v2-ssl`; the balancer terminated
// it, so wsgate sees plain bytes but the client used https), and PP2_TYPE_AUTHORITY, the host name the client asked
// for (its SNI). Others (AWS's VPC endpoint id, ALPN, CRC32C, unique ids) are skipped. Pure.

/** What wsgate takes from a v2 header's TLVs. */
export type ProxyTlvs = {
  /** PP2_TYPE_SSL with PP2_CLIENT_SSL: the client spoke TLS to the balancer. */
  tls?: boolean;
  /** PP2_TYPE_AUTHORITY: the name the client asked the balancer for (SNI). */
  authority?: string;
};

const PP2_TYPE_AUTHORITY = 0x02;
const PP2_TYPE_SSL = 0x20;
const PP2_SUBTYPE_SSL_VERSION = 0x21;
const PP2_CLIENT_SSL = 0x01;

/** Reads the TLVs in `bytes` (the header's block after its addresses); a TLV that runs past the end is refused. */
export function parseProxyTlvs(bytes: Buffer): ProxyTlvs | string {
  const tlvs: ProxyTlvs = {};
  let offset = 0;
  while (offset < bytes.length) {
    if (bytes.length - offset < 3)
      return `v2 header ends inside a TLV's type and length (${bytes.length - offset} bytes left)`;
    const type = bytes[offset]!;
    const length = bytes.readUInt16BE(offset + 1);
    const start = offset + 3;
    if (start + length > bytes.length) {
      return `v2 TLV of type 0x${type.toString(16).padStart(2, '0')} says ${length} bytes; only ${bytes.length - start} are left`;
    }
    const value = bytes.subarray(start, start + length);
    if (type === PP2_TYPE_SSL && length >= 5) tlvs.tls = (value[0]! & PP2_CLIENT_SSL) !== 0;
    else if (type === PP2_TYPE_AUTHORITY && length > 0) tlvs.authority = value.toString('utf8');
    offset = start + length;
  }
  return tlvs;
}

function tlv(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(value.length, 1);
  return Buffer.concat([head, value]);
}

/**
 * PP2_TYPE_SSL for a client that spoke TLS (to wsgate, or to a balancer that said so): PP2_CLIENT_SSL, no client
 * certificate (verify 0), and the protocol version when known (e.g. "TLSv1.3"), as HAProxy's send-proxy-v2-ssl.
 */
export function sslTlv(version?: string): Buffer {
  const fixed = Buffer.alloc(5);
  fixed[0] = PP2_CLIENT_SSL;
  const sub = version === undefined ? Buffer.alloc(0) : tlv(PP2_SUBTYPE_SSL_VERSION, Buffer.from(version, 'latin1'));
  return tlv(PP2_TYPE_SSL, Buffer.concat([fixed, sub]));
}
