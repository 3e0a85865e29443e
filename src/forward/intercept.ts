// TLS interception of a CONNECT tunnel: wsgate completes the client's TLS handshake with a leaf from its CA for the
// SNI name (the CONNECT host without SNI), then serves the decrypted stream through the front like plain HTTP in a
// tunnel, with its own verified TLS toward the destination (servername: the same name). A failed handshake ends
// the tunnel with one tls.handshake_failed line that says why in words; the destination is then never dialed.
import type net from 'node:net';
import { WsgateError } from '../errors.ts';
import { DEFAULT_TLS_HANDSHAKE_MS } from '../front/limits.ts';
import type { Logger } from '../log/logger.ts';
import type { LeafCache } from '../tls/leaf.ts';
import { NO_COMMON_ALPN_CODE, NO_COMMON_ALPN_TEXT } from '../tls/server-certs.ts';
import { terminateTls } from '../tls/terminate.ts';
import { UNTRUSTED_CA_DIR } from '../tls/untrusted-ca.ts';
import { defaultUpstreamTls } from '../tls/upstream.ts';
import { serveParsed } from './in-tunnel.ts';
import type { ForwardState } from './state.ts';
import type { ProxyTarget } from './target.ts';
import { TunnelUpstream } from './tunnel.ts';

/** Why an intercepted client's handshake failed, in words, and how loud to say it. */
export function handshakeFailure(
  detail: string,
  refused: { name: string; detail: string } | undefined,
  leaves: LeafCache,
): { reason: string; level: 'info' | 'warn'; endedBy: 'client' | 'wsgate'; message: string } {
  if (refused !== undefined) {
    return {
      reason: 'server_name_denied',
      level: 'warn',
      endedBy: 'wsgate',
      message: `the client asked for ${refused.name} (SNI), which is refused: ${refused.detail}`,
    };
  }
  if (detail === NO_COMMON_ALPN_CODE) {
    return { reason: 'no_common_protocol', level: 'warn', endedBy: 'wsgate', message: NO_COMMON_ALPN_TEXT };
  }
  if (/^no complete handshake within/.test(detail)) {
    return { reason: 'timeout', level: 'info', endedBy: 'wsgate', message: detail };
  }
  // OpenSSL clients (curl) and browsers answer a certificate they do not trust with an alert.
  const rejected = /ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|DECRYPT_ERROR)/i.test(detail);
  // The untrustedCert fault's CA (tls/untrusted-ca.ts) is meant to be refused (Node clients hang up without an
  // alert): say so, and give no advice on trusting it.
  if (leaves.ca.paths.dir === UNTRUSTED_CA_DIR && (rejected || /closed the connection/.test(detail))) {
    return {
      reason: 'client_rejected_certificate',
      level: 'info',
      endedBy: 'client',
      message: `the client rejected the untrustedCert fault's certificate (${detail}), as the rule intends`,
    };
  }
  if (rejected) {
    return {
      reason: 'client_rejected_certificate',
      level: 'warn',
      endedBy: 'client',
      message: `the client rejected wsgate's certificate (${detail}): it does not trust wsgate's CA ${leaves.ca.paths.cert}; \`wsgate ca trust-help --dir ${leaves.ca.paths.dir}\` shows how`,
    };
  }
  if (/closed the connection/.test(detail)) {
    return {
      reason: 'client_closed',
      level: 'info',
      endedBy: 'client',
      message: `${detail} (a client that does not trust wsgate's CA may hang up without saying why)`,
    };
  }
  return { reason: 'protocol', level: 'info', endedBy: 'client', message: `not a valid TLS handshake: ${detail}` };
}

export type InterceptedTunnel = {
  log: Logger;
  target: ProxyTarget;
  dial: () => Promise<net.Socket>;
  leaves: LeafCache;
};

export function interceptTls(
  state: ForwardState,
  client: net.Socket,
  parked: net.Socket | undefined,
  tunnel: InterceptedTunnel,
  finish: (fields: Record<string, unknown>) => void,
): void {
  const { log, target, leaves } = tunnel;
  const limits = state.settings.limits;
  let refused: { name: string; reason: string; detail: string } | undefined;
  void terminateTls(client, {
    leaves,
    connectHost: target.host,
    // The handshake is part of what a client owes before its request head: the same slowloris guard.
    handshakeTimeout: limits.headersTimeout || DEFAULT_TLS_HANDSHAKE_MS,
    keyLog: state.settings.keyLog,
    // The SNI name is where the decrypted requests go (and the name checked upstream): the access rules apply.
    allowServerName: (name) => {
      const verdict = state.policy.checkTarget(name, target.port);
      if (!verdict.ok) refused = { name, reason: verdict.reason, detail: verdict.detail };
      return verdict.ok;
    },
  }).then(
    ({ socket, servername, sni, alpnProtocol }) => {
      log.debug(
        {
          event: 'tls.intercepted',
          target: target.authority,
          servername,
          sni,
          alpn: alpnProtocol,
          protocol: socket.getProtocol(),
        },
        `CONNECT ${target.authority}: TLS intercepted with a certificate for ${servername}`,
      );
      const upstream = new TunnelUpstream(parked, tunnel.dial, {
        host: servername,
        port: target.port,
        settings: state.settings.destinationTls ?? defaultUpstreamTls(),
        keyLog: state.settings.keyLog,
        timeout: limits.connectTimeout,
      });
      serveParsed(state, socket, { target, scheme: 'https', upstream, dispatcher: undefined }, log, () =>
        finish({ servername }),
      );
    },
    (error: unknown) => {
      parked?.destroy();
      const detail = error instanceof WsgateError ? String(error.params['detail'] ?? error.message) : String(error);
      const why = handshakeFailure(detail, refused, leaves);
      log[why.level](
        {
          event: 'tls.handshake_failed',
          code: 'WSG_TLS_HANDSHAKE',
          reason: why.reason,
          detail,
          client: client.remoteAddress,
          target: target.authority,
          ...(refused === undefined ? {} : { servername: refused.name, denyReason: refused.reason }),
        },
        `CONNECT ${target.authority}: TLS interception failed: ${why.message}`,
      );
      finish({ endedBy: why.endedBy, how: 'tls_handshake', detail: why.reason });
    },
  );
}
