// Dialing the destinations forward-mode clients name: directly — resolving the name once, checking every address
// against the listener's policy and against the listener itself (a loop), then dialing exactly those addresses —
// or through the upstream proxy the network picks, which then does the resolving.
import dns from 'node:dns';
import type net from 'node:net';
import os from 'node:os';
import { WsgateError } from '../errors.ts';
import { formatHostPort } from '../net/host-port.ts';
import { classifyIp, formatIp, type IpAddress, parseIp } from '../net/ip.ts';
import type { KeyLog } from '../tls/keylog.ts';
import { defaultUpstreamTls, type UpstreamTls, upstreamTlsOptions } from '../tls/upstream.ts';
import { type ConnectOptions, connectUpstream, type UpstreamTarget } from '../upstream/connect.ts';
import type { UpstreamNetwork, UpstreamRoute } from '../upstream/network.ts';
import type { TrafficKind } from '../upstream/proxy-config.ts';
import type { ForwardPolicy, Verdict } from './policy.ts';

export type DialDestination = { host: string; port: number };

export type DialOptions = {
  connectTimeout: number;
  highWaterMark?: number | undefined;
  /** https/wss: TLS with the destination after connecting (default trust, SNI from the host). */
  secure?: boolean | undefined;
  /** Which proxy variable applies when the environment decides: http, https, or a CONNECT tunnel. */
  kind: TrafficKind;
  /** Told which entry of a PAC answer was used (undefined: direct) and which unreachable proxies were passed over. */
  onEntry?: ConnectOptions['onEntry'];
  /** Ends the attempt when aborted (the client left): ConnectOptions.signal. */
  signal?: AbortSignal | undefined;
};

export type ForwardDialerDeps = {
  network: UpstreamNetwork;
  /** Name resolution (default dns.lookup); tests map names to 127.0.0.1 without asking DNS. */
  lookup?: net.LookupFunction | undefined;
};

export type ForwardDialerSpec = {
  policy: ForwardPolicy;
  /** The listener's `via:` (a proxy name, "direct", or undefined for the environment). */
  via: string | undefined;
  /** The listener's bound address, so a request to the listener itself is refused instead of looping. */
  self: () => { host: string; port: number } | undefined;
  /** How TLS destinations are verified (forward.upstreamCa on top of the defaults). Default: the defaults. */
  tls?: UpstreamTls | undefined;
  /** Where the TLS secrets of connections to destinations go (SSLKEYLOGFILE / tls.keyLog). */
  keyLog?: KeyLog | undefined;
};

export function deniedError(target: string, verdict: Exclude<Verdict, { ok: true }>): WsgateError {
  return new WsgateError('WSG_FORWARD_DENIED', { target, reason: verdict.detail, denyReason: verdict.reason });
}

function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) {
    for (const info of list ?? []) {
      const ip = parseIp(info.address);
      if (ip !== undefined) out.add(formatIp(ip));
    }
  }
  return out;
}

/**
 * Where a connection to `ip` goes: to the unspecified address (0.0.0.0, ::) the kernel connects to the loopback
 * address of that family, so a target of 0.0.0.0:PORT reaches a listener on 127.0.0.1:PORT.
 */
function dialedIp(ip: IpAddress): IpAddress {
  if (classifyIp(ip) !== 'unspecified') return ip;
  return parseIp(ip.family === 4 ? '127.0.0.1' : '::1') ?? ip;
}

/** Does `address:port` reach this very listener? */
export function isSelf(self: { host: string; port: number } | undefined, address: string, port: number): boolean {
  if (self === undefined || port !== self.port) return false;
  const parsed = parseIp(address);
  if (parsed === undefined) return false;
  const ip = dialedIp(parsed);
  const canonical = formatIp(ip);
  const bound = parseIp(self.host);
  if (bound === undefined) return false;
  if (formatIp(bound) === canonical) return true;
  const cls = classifyIp(bound);
  // A listener on 0.0.0.0 or :: answers on every local address, loopback included.
  if (cls === 'unspecified') return classifyIp(ip) === 'loopback' || localAddresses().has(canonical);
  return false;
}

/**
 * The loop refusal (WSG_FORWARD_LOOP, 508) of a destination one of whose addresses is this very listener, else
 * undefined. The dialer asks it of each address before it connects; `wsgate check --explain` asks it of the
 * address a URL names (selfCheckedAddress), so that both say the same.
 */
export function selfLoopError(
  self: { host: string; port: number } | undefined,
  dest: { host: string; port: number },
  address: string,
): WsgateError | undefined {
  if (!isSelf(self, address, dest.port)) return undefined;
  return new WsgateError('WSG_FORWARD_LOOP', {
    detail: `${formatHostPort(dest.host, dest.port)} is this proxy listener itself`,
    denyReason: 'loop',
  });
}

/**
 * The address a destination is known to reach before any lookup: an IP literal, or "localhost" as 127.0.0.1 (what
 * it resolves to, whatever else it may); undefined for any other name, which is checked as it resolves.
 */
export function selfCheckedAddress(host: string): string | undefined {
  if (parseIp(host) !== undefined) return host;
  return host.toLowerCase() === 'localhost' ? '127.0.0.1' : undefined;
}

export class ForwardDialer {
  #deps: ForwardDialerDeps;
  #spec: ForwardDialerSpec;

  constructor(deps: ForwardDialerDeps, spec: ForwardDialerSpec) {
    this.#deps = deps;
    this.#spec = spec;
  }

  update(spec: ForwardDialerSpec): void {
    this.#spec = spec;
  }

  /**
   * Direct or through which proxy, and why: decided before dialing so the log line can say it. A PAC proxy may
   * have to run its script first.
   */
  async route(dest: DialDestination, kind: TrafficKind): Promise<UpstreamRoute> {
    return await this.#deps.network.route(this.#spec.via, kind, dest.host, dest.port);
  }

  /** Checks one resolved (or literal) address: the policy, then the loop. */
  #checkAddress(dest: DialDestination, address: string): WsgateError | undefined {
    const loop = selfLoopError(this.#spec.self(), dest, address);
    if (loop !== undefined) return loop;
    const authority = formatHostPort(dest.host, dest.port);
    const verdict = this.#spec.policy.checkAddress(dest.host, address);
    return verdict.ok ? undefined : deniedError(authority, verdict);
  }

  /** A lookup that checks every address before net.connect may use any of them. */
  #checkedLookup(dest: DialDestination): net.LookupFunction {
    const lookup = this.#deps.lookup ?? dns.lookup;
    return ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
      lookup(hostname, { ...options, all: true }, (err, result) => {
        if (err) {
          callback(err);
          return;
        }
        const addresses = (
          Array.isArray(result) ? result : [{ address: result as unknown as string, family: 4 }]
        ) as dns.LookupAddress[];
        if (addresses.length === 0) {
          callback(Object.assign(new Error(`no addresses for ${hostname}`), { code: 'ENOTFOUND' }));
          return;
        }
        // Every address must pass: a name that resolves to a public and a private address is refused.
        for (const a of addresses) {
          const denied = this.#checkAddress(dest, a.address);
          if (denied !== undefined) {
            callback(denied);
            return;
          }
        }
        if (options.all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      });
    }) as net.LookupFunction;
  }

  /**
   * Opens a socket to the destination (after TLS for `secure`). Rejects with a WsgateError: WSG_FORWARD_DENIED
   * or WSG_FORWARD_LOOP for an address the policy refuses, else the dialing error with its code.
   */
  async dial(dest: DialDestination, options: DialOptions, given?: UpstreamRoute): Promise<net.Socket> {
    const route = given ?? (await this.route(dest, options.kind));
    const authority = formatHostPort(dest.host, dest.port);
    const target: UpstreamTarget = {
      name: authority,
      url: new URL(`${options.secure ? 'https' : 'http'}://${authority}`),
    };
    const literal = parseIp(dest.host) !== undefined;
    return connectUpstream(target, {
      // Whenever the connection goes direct (the route's first entry or a PAC fallback), a literal address is
      // checked first; names are checked as they resolve (the lookup below).
      beforeDirect: literal
        ? () => {
            const denied = this.#checkAddress(dest, dest.host);
            if (denied !== undefined) throw denied;
          }
        : undefined,
      onEntry: options.onEntry,
      signal: options.signal,
      connectTimeout: options.connectTimeout,
      highWaterMark: options.highWaterMark,
      route,
      ...(options.secure ? upstreamTlsOptions(this.#spec.tls ?? defaultUpstreamTls()) : {}),
      keyLog: this.#spec.keyLog,
      ...(literal ? {} : { lookup: this.#checkedLookup(dest) }),
    });
  }
}
