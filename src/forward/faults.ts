// Faults on a forward listener (docs/faults.md): which rules apply to a CONNECT tunnel, an absolute-form request
// or a handshake inside a tunnel, and the tunnel faults themselves: rejectConnect (403, or 407 with
// Proxy-Authenticate) answered instead of the proxy's own verdict, and untrustedCert (the tunnel intercepted with a
// leaf from a CA nobody trusts). Handshake faults (stripUpgrade, rejectUpgrade, stripExtensions) and connection
// faults travel on to the Upgrade forwarder and the session with the connection's rules.
import type net from 'node:net';
import { writeErrorToSocket } from '../front/error-response.ts';
import { withoutAuthority } from '../http/request-target.ts';
import type { Logger } from '../log/logger.ts';
import type { ConnectionFacts, ConnectionRules } from '../rules/types.ts';
import type { LeafCache } from '../tls/leaf.ts';
import { untrustedLeaves } from '../tls/untrusted-ca.ts';
import { rejectConnectAnswer } from '../websocket/handshake-faults.ts';
import { type ForwardState, routeName } from './state.ts';
import type { ProxyTarget } from './target.ts';

/** Where an entry arrived: a CONNECT, an absolute-form request, or a request inside a tunnel. */
export type ForwardEntry = 'tunnel' | 'forward';

/**
 * The rules for one connection through this listener (its own rules, its profile's first), or undefined when the
 * listener has none.
 */
export function forwardRules(
  state: ForwardState,
  entry: ForwardEntry,
  target: { host: string; port: number },
  path: string,
  conn: string,
): ConnectionRules | undefined {
  const ruleSet = state.settings.rules;
  // The resolved listener carries its rule names (the profile's first) and relay settings (docs/rules.md).
  const spec = state.spec as { rules?: readonly string[] | undefined; relay?: { deflate: 'strip' | 'keep' } };
  const names = spec.rules ?? [];
  if (ruleSet === undefined || names.length === 0) return undefined;
  const facts: ConnectionFacts = {
    listener: state.name,
    route: routeName(state, entry),
    host: target.host,
    port: target.port,
    path,
  };
  return ruleSet.forConnection(facts, names, { conn, deflate: spec.relay?.deflate ?? 'strip' });
}

/** The path part of an absolute-form or origin-form target, without the query. */
export function pathOf(requestTarget: string): string {
  return withoutAuthority(requestTarget).split(/[?#]/, 1)[0] ?? '/';
}

/**
 * rejectConnect on a CONNECT: answers it as the rule says and returns true, or false when the fault does not apply
 * (no such rule, or the target's port is excepted).
 */
export function refuseConnectByFault(
  rules: ConnectionRules | undefined,
  target: ProxyTarget,
  client: net.Socket,
  log: Logger,
  what: string,
): boolean {
  const answer = rejectConnectAnswer(rules?.handshake.rejectConnect, target.port, what);
  if (answer === undefined) return false;
  log.info(
    {
      event: 'connect.fault',
      fault: 'rejectConnect',
      rule: rules?.handshake.rejectConnect?.rule,
      status: answer.err.status,
      code: answer.err.code,
      client: client.remoteAddress,
      target: target.authority,
    },
    `CONNECT ${target.authority}: ${answer.err.message}`,
  );
  writeErrorToSocket(client, answer.err, answer.headers);
  return true;
}

/** untrustedCert: the tunnel is intercepted with the untrusted CA's leaves, whatever forward.intercept says. */
export async function untrustedCertLeaves(
  rules: ConnectionRules | undefined,
  target: ProxyTarget,
  log: Logger,
): Promise<LeafCache | undefined> {
  const fault = rules?.handshake.untrustedCert;
  if (fault === undefined) return undefined;
  log.info(
    { event: 'connect.fault', fault: 'untrustedCert', rule: fault.rule, target: target.authority },
    `CONNECT ${target.authority}: untrustedCert by rule "${fault.rule}": TLS is intercepted with a certificate from a CA no client trusts`,
  );
  return untrustedLeaves();
}
