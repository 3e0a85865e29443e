// The forwarding fields a reverse proxy vouches for: X-Forwarded-For, -Proto, -Host and RFC 7239 Forwarded. An
// upstream behind wsgate reads them as "what the proxy saw", so a client must not be able to write them: by
// default every one the client sent is dropped and wsgate states its own hop (the peer's address, the scheme, the
// Host). Only when the direct peer is itself a trusted proxy (a listener's trustForwarded, as nginx's
// set_real_ip_from) are its values kept and wsgate's hop appended: X-Forwarded-For "client, peer", Forwarded
// "…, for=peer;proto=…;host=…". Both the plain-HTTP and the WebSocket path use this one rule. An IPv4-mapped
// address is written as the IPv4 address it maps (as nginx's $remote_addr), in these fields and in log lines. Pure.
import { plainAddress } from '../net/ip.ts';

/** The fields this module owns; callers remove all of them (any case, every occurrence) before adding its output. */
export const FORWARDING_FIELDS: ReadonlySet<string> = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
]);

/** What wsgate saw of one request. */
export type ForwardingHop = {
  /** The direct peer's address as its socket reports it ('' when unknown). */
  peer: string;
  /** The scheme the client used to reach wsgate. */
  proto: 'http' | 'https';
  /** The Host header the client sent; undefined without one. */
  host: string | undefined;
};

/** A received field's value, occurrences joined with ", " (as Node joins them); undefined when absent. */
export type ReceivedField = (name: string) => string | undefined;

// RFC 9110 §5.6.2 tchar: what a Forwarded value may be without quotes.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** RFC 7230 quoted-string: backslash before '"' and '\'. */
function quoted(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

function forwardedValue(value: string): string {
  return TOKEN.test(value) ? value : quoted(value);
}

/** RFC 7239 §6: an IPv6 node is bracketed (and so quoted); an unknown one is "unknown". */
function forwardedNode(address: string): string {
  if (address === '') return 'unknown';
  return address.includes(':') ? quoted(`[${address}]`) : forwardedValue(address);
}

/** wsgate's own element of a Forwarded header: "for=…;proto=…;host=…". */
export function forwardedElement(hop: ForwardingHop): string {
  const parts = [`for=${forwardedNode(plainAddress(hop.peer))}`, `proto=${hop.proto}`];
  if (hop.host !== undefined && hop.host !== '') parts.push(`host=${forwardedValue(hop.host)}`);
  return parts.join(';');
}

function present(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== '';
}

/**
 * The forwarding fields to send upstream, in place of every one the client sent. `received` is given for a
 * trusted peer only: its chain is kept and wsgate's hop appended, and the scheme and host it reports win over
 * what wsgate saw (they describe the original request); without it wsgate states only what it saw itself.
 */
export function forwardingFields(hop: ForwardingHop, received?: ReceivedField | undefined): [string, string][] {
  const appended = (name: string, own: string, separator = ', ') => {
    const prior = received?.(name);
    return present(prior) ? `${prior}${separator}${own}` : own;
  };
  const kept = (name: string, own: string | undefined) => {
    const prior = received?.(name);
    return present(prior) ? prior : own;
  };
  const fields: [string, string][] = [
    ['x-forwarded-for', appended('x-forwarded-for', hop.peer === '' ? 'unknown' : plainAddress(hop.peer))],
    ['x-forwarded-proto', kept('x-forwarded-proto', hop.proto)!],
  ];
  const host = kept('x-forwarded-host', hop.host);
  if (host !== undefined && host !== '') fields.push(['x-forwarded-host', host]);
  fields.push(['forwarded', appended('forwarded', forwardedElement(hop))]);
  return fields;
}

/**
 * The client of a log line (access, ws.open) and, when it is not the direct peer (a trusted proxy named it in
 * X-Forwarded-For, or a balancer in a PROXY header), that peer beside it.
 */
export function clientFields(
  client: string | undefined,
  peer: string | undefined,
): { client: string | undefined; peer?: string } {
  const shown = client === undefined ? undefined : plainAddress(client);
  const by = peer === undefined ? undefined : plainAddress(peer);
  return shown === by || by === undefined ? { client: shown } : { client: shown, peer: by };
}

/**
 * The client a request comes from, as nginx's realip with real_ip_recursive finds it: the direct peer, unless it is a
 * trusted proxy; then X-Forwarded-For from the right, past every trusted address, to the first that is not (a
 * client can write the left end of the header, never the right). The peer when the header names only trusted ones.
 */
export function realClientAddress(
  peer: string,
  forwardedFor: string | undefined,
  trusted: (address: string) => boolean,
): string {
  if (!trusted(peer) || forwardedFor === undefined) return peer;
  const hops = forwardedFor
    .split(',')
    .map((hop) => hop.trim())
    .filter((hop) => hop !== '');
  for (let i = hops.length - 1; i >= 0; i--) if (!trusted(hops[i]!)) return hops[i]!;
  return hops[0] ?? peer;
}
