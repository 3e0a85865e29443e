// CONNECT host:port: first a verdict (a discriminated union: open, or refused with its outcome), then the tunnel.
// The 200 is sent only after the destination is dialed, except for intercepted hosts, which are dialed only once
// the client's TLS is done (or turns out not to start with TLS): a ClientHello that is garbage, names a refused host
// or never finishes costs the destination nothing. After the 200 the client's first bytes decide: HTTP is served
// through the front (in-tunnel.ts), TLS to an intercepted host is terminated (intercept.ts), anything else is
// spliced blindly. Every tunnel ends with one connect.close line.
import type http from 'node:http';
import type net from 'node:net';
import { WsgateError } from '../errors.ts';
import { handshakeDone } from '../events.ts';
import { writeErrorToSocket } from '../front/error-response.ts';
import type { ConnectScope } from '../front/front.ts';
import type { HeaderPairs } from '../http/head.ts';
import { reportInternal } from '../log/internal.ts';
import type { Logger } from '../log/logger.ts';
import { ignoreError } from '../net/ignore-error.ts';
import type { ConnectionRules } from '../rules/types.ts';
import { logPacFallthrough } from '../upstream/pac-route.ts';
import { watchClientLeaving } from '../websocket/client-watch.ts';
import { forwardRules, refuseConnectByFault, untrustedCertLeaves } from './faults.ts';
import { authenticate, denialOf, loopError, type Outcome, refusalOutcome } from './gate.ts';
import { serveParsed } from './in-tunnel.ts';
import { interceptTls } from './intercept.ts';
import type { ForwardState, TunnelContext } from './state.ts';
import { type ProxyTarget, parseConnectTarget } from './target.ts';
import { SNIFF_PATIENCE_MS, sniffTunnel, spliceTunnel, type TunnelContent, TunnelUpstream } from './tunnel.ts';

/** After one side of a blind tunnel has sent FIN, how long the other may still send (hostile-cases: 30 s). */
const HALF_CLOSE_LINGER_MS = 30_000;

export type ConnectVerdict =
  | { kind: 'open'; target: ProxyTarget; user: string | undefined }
  | {
      kind: 'refused';
      outcome: Exclude<Outcome, 'tunnel' | 'upstream_error'>;
      err: WsgateError;
      /** Headers the answer needs (Proxy-Authenticate on a 407). */
      headers: HeaderPairs;
      /** Fields for the log line; undefined when the check logged it already (auth, which words it by reason). */
      log: Record<string, unknown> | undefined;
    };

/**
 * The framing header of a CONNECT that says content follows, or undefined. RFC 9110 §9.3.6: a CONNECT has none, and
 * data in its header section has no defined meaning; Node reads every byte after the head as the tunnel's, so a
 * proxy in front that took some for a body would see them reach the destination as the tunnel's first bytes (a
 * smuggling gap; Envoy refuses such a CONNECT too). `Content-Length: 0` announces nothing.
 */
function announcedContent(req: http.IncomingMessage): string | undefined {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return `Transfer-Encoding: ${te}`;
  const length = req.headers['content-length'];
  return length === undefined || /^0+$/.test(length.trim()) ? undefined : `Content-Length: ${length}`;
}

/** Auth, target syntax, content, loop and policy, in that order; nothing is dialed. */
export function judgeConnect(state: ForwardState, req: http.IncomingMessage, log: Logger): ConnectVerdict {
  const raw = req.url ?? '';
  let challenge: [string, string] | undefined;
  let authError: WsgateError | undefined;
  const authed = authenticate(
    state,
    req,
    (err, header) => {
      authError = err;
      challenge = header;
    },
    log,
    { event: 'connect.auth_required', target: raw, subject: `CONNECT ${raw}`, withStatus: true },
  );
  if (authed === undefined) {
    return { kind: 'refused', outcome: 'auth_required', err: authError!, headers: [challenge!], log: undefined };
  }
  const parsed = parseConnectTarget(raw);
  if (!parsed.ok) {
    const err = new WsgateError('WSG_CONNECT_BAD_TARGET', {
      target: JSON.stringify(raw.slice(0, 200)),
      detail: parsed.detail,
    });
    return { kind: 'refused', outcome: 'bad_target', err, headers: [], log: { event: 'connect.bad_target' } };
  }
  const content = announcedContent(req);
  if (content !== undefined) {
    const err = new WsgateError('WSG_BAD_REQUEST', {
      detail: `a CONNECT request has no content (RFC 9110 §9.3.6), and this one announces ${content}`,
    });
    return { kind: 'refused', outcome: 'bad_target', err, headers: [], log: { event: 'connect.bad_target' } };
  }
  const loop = loopError(state, req);
  if (loop !== undefined) {
    return { kind: 'refused', outcome: 'loop', err: loop, headers: [], log: { event: 'connect.loop' } };
  }
  const denied = denialOf(state, parsed.target);
  if (denied !== undefined) {
    const fields = { event: 'connect.denied', reason: denied.reason };
    return { kind: 'refused', outcome: 'denied', err: denied.err, headers: [], log: fields };
  }
  return { kind: 'open', target: parsed.target, user: authed.user };
}

export function serveConnect(
  state: ForwardState,
  req: http.IncomingMessage,
  client: net.Socket,
  head: Buffer,
  scope: ConnectScope<TunnelContext>,
): void {
  const { log } = scope;
  const verdict = judgeConnect(state, req, log);
  if (verdict.kind === 'refused') {
    if (verdict.log !== undefined) {
      const { err } = verdict;
      log.warn(
        {
          ...verdict.log,
          outcome: verdict.outcome,
          code: err.code,
          status: err.status,
          client: client.remoteAddress,
          target: req.url ?? '',
        },
        `CONNECT ${req.url ?? ''}: ${err.message}`,
      );
    }
    writeErrorToSocket(client, verdict.err, verdict.headers);
    return;
  }
  // Faults (docs/faults.md): a rule may refuse the CONNECT as a stricter proxy would, or shape the tunnel.
  const rules = forwardRules(state, 'tunnel', verdict.target, '', scope.id);
  if (refuseConnectByFault(rules, verdict.target, client, log, `CONNECT ${verdict.target.authority}`)) return;
  runTunnel(state, client, head, log, verdict, rules).catch((error: unknown) => {
    reportInternal(log, error);
    client.destroy();
  });
}

async function runTunnel(
  state: ForwardState,
  client: net.Socket,
  head: Buffer,
  log: Logger,
  verdict: Extract<ConnectVerdict, { kind: 'open' }>,
  rules: ConnectionRules | undefined,
): Promise<void> {
  const { target } = verdict;
  const started = performance.now();
  // Until the 200, nothing reads the client: a client that leaves meanwhile (during a PAC script, the dial) would go
  // unseen, its FIN unread (client-watch.ts), and the dial would carry on for nobody. The watch ends it at once.
  const dialing = new AbortController();
  const stopWatching = watchClientLeaving(client, () => client.destroy());
  const onClientClose = () =>
    dialing.abort(new WsgateError('WSG_CLIENT_GONE', { ms: Math.round(performance.now() - started) }));
  client.once('close', onClientClose);
  const limits = state.settings.limits;
  const route = await state.dialer.route(target, 'tunnel');
  const base = {
    client: client.remoteAddress,
    target: target.authority,
    user: verdict.user,
    via: route.proxy?.display ?? 'direct',
  };
  const dial = () =>
    state.dialer.dial(
      target,
      {
        connectTimeout: limits.connectTimeout,
        highWaterMark: limits.maxBufferedBytes,
        kind: 'tunnel',
        signal: dialing.signal,
        // A PAC list: the entry that carried the tunnel is the one the lines name.
        onEntry: (used, skipped) => {
          base.via = used?.display ?? 'direct';
          logPacFallthrough(log, target.authority, used, skipped);
        },
      },
      route,
    );
  const ms = () => Math.round(performance.now() - started);
  const leaves =
    (await untrustedCertLeaves(rules, target, log)) ??
    (state.intercepts(target.host) ? state.interceptionLeaves() : undefined);

  /** Dials the destination; on failure logs it and answers (before the 200) or closes (after it). */
  const dialed = async (afterOk: boolean): Promise<net.Socket | undefined> => {
    try {
      const socket = await dial();
      socket.on('error', ignoreError);
      return socket;
    } catch (error) {
      // The client left: said once below, as a tunnel that ended before it opened; nothing failed upstream.
      if (dialing.signal.aborted) return undefined;
      const err = error instanceof WsgateError ? error : new WsgateError('WSG_INTERNAL', { detail: String(error) });
      const outcome = refusalOutcome(err);
      log.warn(
        {
          event: outcome === 'upstream_error' ? 'connect.upstream_error' : `connect.${outcome}`,
          outcome,
          code: err.code,
          status: err.status,
          reason: err.params['denyReason'],
          ...base,
          why: route.why,
          cause: (err.cause as Error | undefined)?.message,
          ms: ms(),
        },
        `CONNECT ${target.authority}: ${err.message}`,
      );
      if (afterOk) client.destroy();
      else writeErrorToSocket(client, err);
      return undefined;
    }
  };

  let upstream: net.Socket | undefined;
  let connectedMs: number | undefined;
  if (leaves === undefined) {
    upstream = await dialed(false);
    if (upstream === undefined && !dialing.signal.aborted) return;
    connectedMs = ms();
  }
  stopWatching();
  client.off('close', onClientClose);
  if (client.destroyed || state.front.closing) {
    upstream?.destroy();
    client.destroy();
    const closing = state.front.closing;
    log.info(
      {
        event: 'connect.close',
        outcome: 'tunnel' as Outcome,
        ...base,
        content: 'none',
        endedBy: closing ? 'wsgate' : 'client',
        how: closing ? 'shutdown' : 'fin',
        durationMs: ms(),
      },
      `CONNECT ${target.authority} ended before the tunnel opened`,
    );
    return;
  }
  client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  handshakeDone(client, '200');
  log.debug(
    { event: 'connect.open', ...base, connectMs: connectedMs, intercept: leaves !== undefined },
    `CONNECT ${target.authority} established`,
  );
  const bytesBefore = { read: client.bytesRead, written: client.bytesWritten };
  if (head.length > 0) client.unshift(head);
  let content: TunnelContent = await sniffTunnel(client, upstream, limits.tunnelIdleTimeout, SNIFF_PATIENCE_MS);
  let intercepted = false;
  const finishLine = (fields: Record<string, unknown>) => {
    log.info(
      {
        event: 'connect.close',
        outcome: 'tunnel' as Outcome,
        ...base,
        content,
        ...(leaves === undefined ? {} : { intercepted }),
        connectMs: connectedMs,
        durationMs: ms(),
        ...fields,
      },
      `CONNECT ${target.authority} (${content}${intercepted ? ', intercepted' : ''}) closed after ${ms()} ms`,
    );
  };
  const transferred = () => ({
    bytesToUpstream: client.bytesRead - bytesBefore.read,
    bytesToClient: client.bytesWritten - bytesBefore.written,
  });
  if (leaves !== undefined && upstream === undefined && (content === 'opaque' || content === 'quiet')) {
    // Intercepted host, but no ClientHello: another protocol, or a client waiting for a server that speaks
    // first. Dial now and carry on as with any tunnel.
    upstream = await dialed(true);
    if (upstream === undefined) {
      finishLine({ ...transferred(), endedBy: 'wsgate', how: 'upstream_error' });
      return;
    }
    connectedMs = ms();
    if (content === 'quiet') content = await sniffTunnel(client, upstream, limits.tunnelIdleTimeout);
  }
  if (content === 'closed' || content === 'idle') {
    client.destroy();
    upstream?.destroy();
    // 'closed': one side hung up before either sent a byte.
    finishLine({
      bytesToUpstream: 0,
      bytesToClient: 0,
      ...(content === 'idle' ? { endedBy: 'wsgate', how: 'idle' } : { how: 'fin' }),
    });
    return;
  }
  if (content === 'tls' && leaves !== undefined) {
    intercepted = true;
    interceptTls(state, client, upstream, { log, target, dial, leaves }, (fields) =>
      finishLine({ ...transferred(), ...fields }),
    );
    return;
  }
  if (content === 'http') {
    const ctx = {
      target,
      scheme: 'http' as const,
      upstream: new TunnelUpstream(upstream, dial),
      dispatcher: undefined,
    };
    serveParsed(state, client, ctx, log, () => finishLine(transferred()));
    return;
  }
  // TLS not intercepted, another protocol, or an upstream that speaks first: bytes pass unread.
  if (upstream === undefined) {
    // Not reached: without an upstream every verdict is handled above.
    client.destroy();
    finishLine({ ...transferred(), endedBy: 'wsgate', how: 'internal' });
    return;
  }
  const tunnel = spliceTunnel(client, upstream, {
    idleTimeout: limits.tunnelIdleTimeout,
    halfCloseLinger: HALF_CLOSE_LINGER_MS,
    // Connection faults act on the blind bytes too (idleCut, throttle, …; resetAfter needs messages, so not here).
    faults: rules?.connection,
    maxBufferedBytes: limits.maxBufferedBytes,
  });
  state.front.addTunnel(tunnel, tunnel.done);
  const stats = await tunnel.done;
  finishLine({
    bytesToUpstream: stats.bytesToUpstream,
    bytesToClient: stats.bytesToClient,
    endedBy: stats.cause.by,
    how: stats.cause.how,
    detail: stats.cause.detail,
  });
}
