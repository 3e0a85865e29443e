// Which header fields end at a proxy (RFC 9110 §7.6.1): the fixed hop-by-hop set and the fields a request's
// Connection header names. Every way wsgate forwards a request (reverse HTTP, Upgrade, forward absolute-form)
// strips the same set, so the rule lives here once. Pure.
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
 * wsgate adds itself (X-Forwarded-*) are added after this, so a client cannot remove those by naming them.
 */
export function stripHopByHop(pairs: HeaderPairs): HeaderPairs {
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
    if (!HOP_BY_HOP.has(lower[i]!) && !named.has(lower[i]!)) kept.push(pairs[i]!);
  }
  return kept;
}
