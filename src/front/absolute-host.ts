// The Host of a request whose target is in absolute-form (`GET http://a.test/ HTTP/1.1`). RFC 9112 §3.2.2: the
// server uses the target's host and ignores Host, and a proxy sends the target's authority as Host. The front sets
// it once, before any handler runs, so that every entry (reverse routes, forward absolute-form, requests inside
// tunnels) matches on, logs and forwards the host the target names, never a different Host sent beside it.
import type http from 'node:http';
import type { PathTarget } from '../http/request-target.ts';

/** Host (parsed and raw, for forwarders that copy raw headers) := the target's authority; the target back. */
export function hostFromTarget(req: http.IncomingMessage, target: PathTarget & { form: 'absolute' }): PathTarget {
  req.headers.host = target.authority;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'host') raw[i + 1] = target.authority;
  }
  return target;
}
