// Which header fields end at a proxy (RFC 9110 §7.6.1): the fixed hop-by-hop set and the fields a message's
// Connection header names. Every way wsgate forwards a request (reverse HTTP, Upgrade, forward absolute-form)
// strips the same set, so the rule lives here once, with its variant for a response relayed byte for byte. Pure.
import { type HeaderPairs, headerTokens } from './head.ts';

/**
 * RFC 9110 §7.6.1: hop-by-hop fields end at each proxy. Proxy-Authorization is ours (it authenticates the client
 * to wsgate) and Proxy-Connection is a legacy alias of Connection that some clients still send.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * What goes on of a request's TE header (hop-by-hop, RFC 9110 §10.1.4): only its `trailers` member, which says the
 * client accepts trailer fields and is end-to-end in effect (gRPC servers refuse a request without it; nginx's
 * grpc_pass and Envoy pass it on). The transfer codings it lists are for this hop only: wsgate decodes and
 * re-frames each body, so they end here. Every way a plain request is forwarded (reverse, forward) asks this.
 */
export function forwardedTe(te: string | string[] | undefined): 'trailers' | undefined {
  return headerTokens(te).some((member) => member === 'trailers') ? 'trailers' : undefined;
}

/**
 * Fields that never go on in a trailer section: the hop-by-hop ones, and those RFC 9110 §6.5.1 says must be known
 * before the content (framing, routing, the content's format); a recipient would act on them too late, or not at all.
 */
const NOT_TRAILERS: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  'content-length',
  'content-encoding',
  'content-type',
  'content-range',
  'host',
]);

/**
 * The trailer fields of a response passed on (RFC 9110 §6.5: end-to-end like the header section; gRPC's status
 * travels there), lower-cased as Node and undici give them; undefined when none is left. Both ways a plain response
 * is relayed (reverse, forward) ask this.
 */
export function relayedTrailers(
  trailers: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> | undefined {
  let out: Record<string, string | string[]> | undefined;
  for (const [name, value] of Object.entries(trailers)) {
    const lower = name.toLowerCase();
    if (value === undefined || NOT_TRAILERS.has(lower)) continue;
    out ??= {};
    out[lower] = value;
  }
  return out;
}

/**
 * Header names a Connection header may not remove. RFC 9110 §7.6.1 lets a sender name any field as a connection
 * option, but wsgate matched the route on Host: were Host dropped, the upstream would pick a (default) virtual host
 * other than the one wsgate routed for.
 */
const NOT_CONNECTION_OPTIONS = new Set(['host']);

/** The header names a request's Connection (and legacy Proxy-Connection) header lists, lower-cased. */
export function connectionOptions(connection: string | string[] | undefined, proxyConnection?: string | string[]) {
  return new Set(
    [...headerTokens(connection), ...headerTokens(proxyConnection)].filter((t) => !NOT_CONNECTION_OPTIONS.has(t)),
  );
}

/**
 * Drops hop-by-hop headers and every header the Connection header names (RFC 9110 §7.6.1: a proxy MUST remove
 * them, Authorization included: the client asked for it, and it only affects the client's own request). Headers
 * wsgate adds itself (X-Forwarded-*) are added after this, so a client cannot remove those by naming them. `keep`:
 * names that stay even so (a relayed response's framing, stripRelayedResponse).
 */
export function stripHopByHop(pairs: HeaderPairs, keep?: ReadonlySet<string>): HeaderPairs {
  // Names lower-cased once, and plain loops: this runs on every handshake and every forwarded request.
  const lower = new Array<string>(pairs.length);
  const connection: string[] = [];
  const proxyConnection: string[] = [];
  for (let i = 0; i < pairs.length; i++) {
    const name = pairs[i]![0].toLowerCase();
    lower[i] = name;
    if (name === 'connection') connection.push(pairs[i]![1]);
    else if (name === 'proxy-connection') proxyConnection.push(pairs[i]![1]);
  }
  const named = connectionOptions(connection, proxyConnection);
  const kept: HeaderPairs = [];
  for (let i = 0; i < pairs.length; i++) {
    const name = lower[i]!;
    if (keep?.has(name) === true || (!HOP_BY_HOP.has(name) && !named.has(name))) kept.push(pairs[i]!);
  }
  return kept;
}

/**
 * What a response relayed with its body unchanged keeps, whatever HOP_BY_HOP says or its Connection names: the
 * fields that frame the body (RFC 9112 §6: Content-Length, Transfer-Encoding, and Trailer, which announces a
 * chunked body's trailer fields) must describe the bytes as they go on; and Upgrade, which a 426 must carry (RFC
 * 9110 §15.5.22) and which stays true through wsgate, since the client's next handshake is forwarded the same way.
 */
const RELAYED_FRAMING = new Set(['content-length', 'transfer-encoding', 'trailer', 'upgrade']);

/**
 * A response head relayed with its body byte for byte (an upstream's refusal of an upgrade): RFC 9110 §7.6.1, the
 * hop-by-hop fields and every field Connection (or Proxy-Connection) names end here, but for RELAYED_FRAMING. The
 * rest keep their order, case and values; the caller adds its own Connection.
 */
export function stripRelayedResponse(pairs: HeaderPairs): HeaderPairs {
  return stripHopByHop(pairs, RELAYED_FRAMING);
}
