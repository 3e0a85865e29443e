// Handshake faults (rules `handshake:`, rules/types.ts HandshakeFaults) as the Upgrade forwarder and the forward
// proxy carry them out: which fault applies to an entry, the refusal wsgate answers with, and the handshake heads
// a stripping proxy would send. Every refusal is coded WSG_FAULT_INJECTED and names the rule, so a user who meets
// it can tell wsgate did it on purpose.
import { WsgateError } from '../errors.ts';
import type { HeaderPairs } from '../http/head.ts';
import type { HandshakeFaults } from '../rules/types.ts';

/** What a proxy that asks for credentials sends with its 407 (RFC 9110 §11.7.1). */
export const PROXY_AUTHENTICATE: [string, string] = ['Proxy-Authenticate', 'Basic realm="wsgate"'];

/** The refusal for rejectUpgrade: STATUS. */
export function rejectUpgradeError(fault: NonNullable<HandshakeFaults['rejectUpgrade']>): WsgateError {
  return new WsgateError(
    'WSG_FAULT_INJECTED',
    { fault: 'rejectUpgrade', rule: fault.rule, detail: `the WebSocket upgrade is answered with ${fault.status}` },
    { status: fault.status },
  );
}

/**
 * The refusal for rejectConnect, or undefined when the target's port is one the fault lets through (exceptPorts).
 * A 407 carries Proxy-Authenticate, as a real authenticating proxy's does.
 */
export function rejectConnectAnswer(
  fault: HandshakeFaults['rejectConnect'],
  port: number,
  what: string,
): { err: WsgateError; headers: HeaderPairs } | undefined {
  if (fault === undefined || fault.exceptPorts?.includes(port)) return undefined;
  const detail =
    fault.status === 407
      ? `${what} needs proxy credentials (simulated)`
      : fault.exceptPorts === undefined
        ? `${what} is forbidden`
        : `${what} is forbidden: only port${fault.exceptPorts.length === 1 ? '' : 's'} ${fault.exceptPorts.join(', ')} allowed`;
  const err = new WsgateError(
    'WSG_FAULT_INJECTED',
    { fault: 'rejectConnect', rule: fault.rule, detail },
    { status: fault.status },
  );
  return { err, headers: fault.status === 407 ? [PROXY_AUTHENTICATE] : [] };
}

/** Does stripUpgrade apply to this handshake (inside a CONNECT tunnel or not)? */
export function stripsUpgrade(faults: HandshakeFaults | undefined, inTunnel: boolean): boolean {
  const fault = faults?.stripUpgrade;
  return fault !== undefined && (!inTunnel || fault.inTunnels !== false);
}

/**
 * The handshake as a proxy that drops Upgrade sends it: a plain GET without Upgrade and Connection, asking the
 * upstream to close after its answer. The Sec-WebSocket-* fields stay, as they do through Squid 5.7 (measured: it
 * forwards Key, Version and Extensions and removes only the hop-by-hop pair), so a server that checks them answers
 * as it would behind Squid (often 400 or 426 rather than a page).
 */
export function plainRequestHeaders(pairs: HeaderPairs): HeaderPairs {
  const plain = pairs.filter(([name]) => {
    const lower = name.toLowerCase();
    return lower !== 'upgrade' && lower !== 'connection';
  });
  plain.push(['Connection', 'close']);
  return plain;
}

/** The handshake without Sec-WebSocket-Extensions: the server then never negotiates permessage-deflate. */
export function withoutExtensions(pairs: HeaderPairs): HeaderPairs {
  return pairs.filter(([name]) => name.toLowerCase() !== 'sec-websocket-extensions');
}

/** What the handshake faults do to one handshake, decided before anything is dialed. */
export type HandshakePlan = {
  /** rejectUpgrade: answer the client with this instead of forwarding. */
  refusal: WsgateError | undefined;
  /** stripUpgrade: send a plain GET and relay whatever comes back. */
  stripUpgrade: boolean;
  /** The forwarded handshake's headers as the faults leave them. */
  headers(pairs: HeaderPairs): HeaderPairs;
  /** One `ws.fault` line per fault that acts. */
  lines: { fields: { event: 'ws.fault'; fault: string; rule: string }; message: string }[];
};

export function planHandshake(faults: HandshakeFaults | undefined, inTunnel: boolean): HandshakePlan {
  const line = (fault: string, rule: string, message: string) => ({
    fields: { event: 'ws.fault' as const, fault, rule },
    message: `${fault} by rule "${rule}": ${message}`,
  });
  if (faults?.rejectUpgrade !== undefined) {
    const refusal = rejectUpgradeError(faults.rejectUpgrade);
    return {
      refusal,
      stripUpgrade: false,
      headers: (pairs) => pairs,
      lines: [
        {
          fields: { event: 'ws.fault', fault: 'rejectUpgrade', rule: faults.rejectUpgrade.rule },
          message: refusal.message,
        },
      ],
    };
  }
  if (stripsUpgrade(faults, inTunnel)) {
    const rule = faults!.stripUpgrade!.rule;
    return {
      refusal: undefined,
      stripUpgrade: true,
      headers: plainRequestHeaders,
      lines: [line('stripUpgrade', rule, 'the handshake goes upstream as a plain GET')],
    };
  }
  const strip = faults?.stripExtensions;
  return {
    refusal: undefined,
    stripUpgrade: false,
    headers: strip === undefined ? (pairs) => pairs : withoutExtensions,
    lines:
      strip === undefined
        ? []
        : [line('stripExtensions', strip.rule, 'the handshake goes upstream without Sec-WebSocket-Extensions')],
  };
}
