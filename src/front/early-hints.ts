// An upstream's 103 Early Hints (RFC 8297) passed on to the client of a plain request, before the answer: RFC 9110
// §15.2 has a proxy forward 1xx responses, and the Upgrade forwarder already passes interim heads on. The reverse
// path (http-proxy-3: Node's 'information' event) and the forward path (undici's onInfo) both hand theirs here.
// Other interim heads stay: Node's server answers a client's Expect with its own 100 Continue, and 102 is obsolete.
import type http from 'node:http';
import { type HeaderPairs, headerValue } from '../http/head.ts';
import { stripHopByHop } from '../http/hop-by-hop.ts';

/**
 * Writes the upstream's 103 to the client, without its hop-by-hop fields or what its Connection names (RFC 9110
 * §7.6.1: an interim head is a message like any other). Nothing is written to an HTTP/1.0 client (§15.2: a server
 * must not send it 1xx), once the answer has begun, or for a 103 without a Link field (Node's writeEarlyHints
 * sends only hints with one; a 103 without is the upstream's noise), nor while the client does not read.
 */
export function relayEarlyHints(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  headers: HeaderPairs,
): void {
  if (status !== 103 || res.headersSent || res.destroyed) return;
  // Hints are written past the response's backpressure (Node's writeEarlyHints writes raw): while the client's
  // socket is backed up they are dropped, so an upstream's flood of 103s cannot pile up in wsgate's memory.
  if (res.socket === null || res.socket.writableNeedDrain) return;
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor < 1) return;
  const kept = stripHopByHop(headers);
  const link = headerValue(kept, 'link');
  if (link === undefined) return;
  const hints: Record<string, string> = { link };
  for (const [name, value] of kept) {
    const lower = name.toLowerCase();
    if (lower !== 'link') hints[lower] = hints[lower] === undefined ? value : `${hints[lower]}, ${value}`;
  }
  try {
    res.writeEarlyHints(hints);
  } catch {
    // Node refuses a Link value it cannot vouch for (ERR_INVALID_ARG_VALUE): a hint is optional by nature (RFC
    // 8297 §2), so the 103 is left out and the answer goes on.
  }
}
