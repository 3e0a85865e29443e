// The handshake request as it leaves wsgate for the upstream: its target (the upstream's base path joined with the
// client's) and its headers (hop-by-hop replaced, Host per route, the forwarding fields). Pure: values in, values out.
import type http from 'node:http';
import { FORWARDING_FIELDS, forwardingFields } from '../http/forwarded.ts';
import { type HeaderPairs, rawToPairs } from '../http/head.ts';
import { stripHopByHop } from '../http/hop-by-hop.ts';
import { withoutAuthority } from '../http/request-target.ts';

/** What of an upgrade's context the request depends on (UpgradeContext's fields of the same names). */
export type HandshakeSettings = {
  route: { changeOrigin: boolean };
  clientScheme: 'http' | 'https';
  forwarded?: { trusted: boolean } | undefined;
  /** This proxy's Via entry (RFC 9110 §7.6.3), appended to the client's Via: absolute-form forward handshakes. */
  via?: string | undefined;
};

/**
 * Joins the upstream's base path and the request target, as http-proxy-3 does for web requests. The target's path
 * is used as given, never re-parsed: a reverse route passes the path it was matched with, and a URL parser here
 * would normalise it once more (or throw) so the upstream could see a path no route was asked about.
 */
export function upstreamTarget(upstream: URL, requestTarget: string): string {
  // Forward proxies receive absolute-form targets (`GET http://host/path`); origin servers expect origin-form. The
  // front checked the URL; its path and query follow the authority as written.
  const base = upstream.pathname === '/' ? '' : upstream.pathname.replace(/\/$/, '');
  const target = withoutAuthority(requestTarget);
  const query = upstream.search && !target.includes('?') ? upstream.search : '';
  return base + target + query;
}

/**
 * The handshake as it leaves wsgate: hop-by-hop headers replaced, Host per route, and on a reverse route the
 * forwarding fields wsgate vouches for (http/forwarded.ts: the client's replaced, or a trusted peer's appended to).
 * Forward-proxy entries add none and leave the client's own as they are, as for their plain requests; with `via`
 * set, Via is the one field added. The request itself is left as received: the open line shows it so.
 */
export function buildUpstreamHandshake(req: http.IncomingMessage, ctx: HandshakeSettings, upstream: URL): HeaderPairs {
  const stripped = stripHopByHop(rawToPairs(req.rawHeaders));
  const pairs = stripped.filter(([name]) => {
    const lower = name.toLowerCase();
    if (lower === 'host') return !ctx.route.changeOrigin;
    return ctx.forwarded === undefined || !FORWARDING_FIELDS.has(lower);
  });
  if (ctx.route.changeOrigin) pairs.unshift(['Host', upstream.host]);
  if (ctx.forwarded !== undefined) {
    // Received values after the hop-by-hop strip: a field the client named in Connection is not its to keep.
    const received = (name: string) => {
      const values = stripped.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
      return values.length === 0 ? undefined : values.join(', ');
    };
    const hop = { peer: req.socket.remoteAddress ?? '', proto: ctx.clientScheme, host: req.headers.host };
    pairs.push(...forwardingFields(hop, ctx.forwarded.trusted ? received : undefined));
  }
  if (ctx.via !== undefined) appendVia(pairs, ctx.via);
  pairs.push(['Connection', 'Upgrade'], ['Upgrade', 'websocket']);
  return pairs;
}

/** Into the first Via field, where the client sent one (its order kept), else a new field. */
function appendVia(pairs: HeaderPairs, entry: string): void {
  const index = pairs.findIndex(([name]) => name.toLowerCase() === 'via');
  if (index === -1) pairs.push(['Via', entry]);
  else pairs[index] = [pairs[index]![0], `${pairs[index]![1]}, ${entry}`];
}
