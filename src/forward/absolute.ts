// Absolute-form requests to a forward listener (`GET http://host/path`, what HTTP_PROXY makes clients send): plain
// requests relayed with undici, and `Upgrade: websocket` handshakes proxied by the same forwarder as a reverse
// route. Both pass the same admission: a proxy-form target, proxy auth, no loop, a valid target, the policy.
import type http from 'node:http';
import type net from 'node:net';
import { WsgateError } from '../errors.ts';
import { sendErrorResponse } from '../front/error-response.ts';
import type { RequestScope, UpgradeScope } from '../front/front.ts';
import { type HeaderPairs, rawToPairs } from '../http/head.ts';
import { maxForwardsStep, traceEcho } from '../http/max-forwards.ts';
import { isAbsoluteForm, withoutAuthority } from '../http/request-target.ts';
import { reportInternal } from '../log/internal.ts';
import type { Logger } from '../log/logger.ts';
import type { ConnectionRules } from '../rules/types.ts';
import type { UpstreamRoute } from '../upstream/network.ts';
import { logPacFallthrough } from '../upstream/pac-route.ts';
import type { UpstreamProxy } from '../upstream/proxy-config.ts';
import { rejectConnectAnswer } from '../websocket/handshake-faults.ts';
import { forwardRules, pathOf } from './faults.ts';
import { authenticate, denialOf, loopError, refusalOutcome } from './gate.ts';
import { viaEntry } from './headers.ts';
import { logRetry, type RelayResult } from './http.ts';
import { type ForwardState, routeName, startUpgrade, type TunnelContext } from './state.ts';
import { type AbsoluteTarget, parseAbsoluteTarget } from './target.ts';

/** The checks every absolute-form request passes; undefined after the refusal was answered and logged. */
function admitAbsolute(
  state: ForwardState,
  req: http.IncomingMessage,
  log: Logger,
  refuse: (err: WsgateError, extra?: HeaderPairs) => void,
  conn: string,
): { target: AbsoluteTarget; user: string | undefined; rules: ConnectionRules | undefined } | undefined {
  const url = req.url ?? '';
  const client = req.socket.remoteAddress;
  if (!isAbsoluteForm(url)) {
    const err = new WsgateError('WSG_FORWARD_NOT_PROXY', { method: req.method ?? 'GET', target: url.slice(0, 200) });
    log.info({ event: 'forward.not_proxy', code: err.code, client }, err.message);
    refuse(err);
    return undefined;
  }
  const authed = authenticate(state, req, (err, challenge) => refuse(err, [challenge]), log, {
    event: 'forward.auth_required',
    target: url,
    subject: url,
  });
  if (authed === undefined) return undefined;
  const loop = loopError(state, req);
  if (loop !== undefined) {
    log.warn({ event: 'forward.loop', code: loop.code, client, target: url }, loop.message);
    refuse(loop);
    return undefined;
  }
  const parsed = parseAbsoluteTarget(url);
  if (!parsed.ok) {
    const err = new WsgateError('WSG_BAD_REQUEST', { detail: `request target: ${parsed.detail}` });
    log.warn({ event: 'forward.bad_target', code: err.code, client, target: url }, err.message);
    refuse(err);
    return undefined;
  }
  const denied = denialOf(state, parsed.target);
  if (denied !== undefined) {
    log.warn(
      {
        event: 'forward.denied',
        code: denied.err.code,
        reason: denied.reason,
        client,
        target: parsed.target.authority,
      },
      denied.err.message,
    );
    refuse(denied.err);
    return undefined;
  }
  // rejectConnect (docs/faults.md) refuses absolute-form requests too, as an authenticating or closed proxy does;
  // with exceptPorts it limits CONNECT only, like Squid's SSL_ports.
  const rules = forwardRules(state, 'forward', parsed.target, pathOf(url), conn);
  const fault = rules?.handshake.rejectConnect;
  const answer =
    fault?.exceptPorts === undefined
      ? rejectConnectAnswer(fault, parsed.target.port, `${req.method ?? 'GET'} ${parsed.target.authority}`)
      : undefined;
  if (answer !== undefined) {
    log.info(
      {
        event: 'forward.fault',
        fault: 'rejectConnect',
        rule: fault?.rule,
        status: answer.err.status,
        code: answer.err.code,
        client,
        target: parsed.target.authority,
      },
      answer.err.message,
    );
    refuse(answer.err, answer.headers);
    return undefined;
  }
  return { target: parsed.target, user: authed.user, rules };
}

export function serveAbsoluteRequest(
  state: ForwardState,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  scope: RequestScope<TunnelContext>,
): void {
  const { log, access } = scope;
  // Read now: once the response is done, req.socket is gone.
  const client = req.socket.remoteAddress;
  access.route = routeName(state, 'forward');
  const admitted = admitAbsolute(
    state,
    req,
    log,
    (err, extra) => {
      access.code = err.code;
      sendErrorResponse(res, err, { headers: extra });
    },
    scope.id,
  );
  if (admitted === undefined) return;
  const { target } = admitted;
  access.user = admitted.user;
  // RFC 9110 §7.6.2: an OPTIONS or TRACE with Max-Forwards 0 ends here, answered by wsgate; above 0 it goes on
  // with one less (req.headers is what the relay copies).
  // Node keeps the first of several Max-Forwards lines (it drops duplicates of this field): a string.
  const received = req.headers['max-forwards'];
  const step = maxForwardsStep(req.method ?? 'GET', Array.isArray(received) ? received[0] : received);
  if (step.kind === 'answer') {
    answerAsFinalRecipient(req, res, log, target.authority);
    return;
  }
  if (step.kind === 'decrement') req.headers['max-forwards'] = step.value;
  access.upstream = target.url.origin;
  // ws:// and wss:// in a plain request are the same origins as http:// and https://.
  const httpUrl = new URL(target.url.href.replace(/^ws/i, 'http'));
  // A PAC proxy may run its script before the route is known.
  void relayThroughRoute(state, req, res, scope, target, httpUrl)
    .then(({ result, route }) => {
      const err = result.error;
      if (err === undefined) return;
      access.code = err.code;
      const outcome = refusalOutcome(err);
      log.warn(
        {
          // A name that resolves to a denied address is refused when dialled: the same line as any other denial.
          event: outcome === 'denied' ? 'forward.denied' : 'forward.upstream_error',
          outcome,
          code: err.code,
          status: err.status,
          reason: err.params['denyReason'],
          client,
          target: target.authority,
          via: result.via?.display ?? 'direct',
          why: route.why,
          cause: (err.cause as Error | undefined)?.message,
        },
        `${target.authority}: ${err.message}`,
      );
    })
    .catch((error: unknown) => reportInternal(log, error));
}

/** What a forward listener relays: any method Node's parser reads; the common ones, for OPTIONS's Allow. */
const ALLOW = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE, CONNECT';

/**
 * RFC 9110 §7.6.2: Max-Forwards 0 makes wsgate the final recipient of an OPTIONS (200 with Allow, §9.3.7) or a
 * TRACE (200 echoing the request as received, without its credentials and cookies, as message/http: §9.3.8).
 * Nothing is dialed. One info line says so, since the client asked this hop and no upstream was reached.
 */
function answerAsFinalRecipient(req: http.IncomingMessage, res: http.ServerResponse, log: Logger, target: string) {
  const method = req.method ?? 'OPTIONS';
  log.info(
    { event: 'forward.max_forwards', method, target, client: req.socket.remoteAddress },
    `${method} ${target}: Max-Forwards is 0, answered by wsgate (RFC 9110 §7.6.2)`,
  );
  if (method === 'TRACE') {
    const echo = Buffer.from(traceEcho(method, req.url ?? '', req.httpVersion, rawToPairs(req.rawHeaders)), 'latin1');
    res.writeHead(200, { 'content-type': 'message/http', 'content-length': echo.length });
    res.end(echo);
    return;
  }
  res.writeHead(200, { allow: ALLOW, 'content-length': 0 });
  res.end();
}

/** Picks the route (a PAC list walked past unreachable proxies) and relays the request along it. */
async function relayThroughRoute(
  state: ForwardState,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  scope: RequestScope<TunnelContext>,
  target: AbsoluteTarget,
  httpUrl: URL,
): Promise<{ result: RelayResult; route: UpstreamRoute }> {
  const { access, log } = scope;
  const route = await state.dialer.route(target, httpUrl.protocol === 'https:' ? 'https' : 'http');
  const skipped: { proxy: UpstreamProxy; error: WsgateError }[] = [];
  const entries =
    route.fallbacks === undefined ? [route.proxy] : route.tunnels.order([route.proxy, ...route.fallbacks]);
  access.via = entries[0]?.display ?? 'direct';
  const result = await state.relay.relay(req, res, {
    url: httpUrl,
    // As the client wrote it, as an absolute-form upgrade is: a forward proxy does not rewrite the request.
    path: withoutAuthority(req.url ?? '/'),
    proxy: entries[0],
    fallbacks: entries.slice(1),
    onSkip: (proxy, error) => {
      route.tunnels.markUnreachable(proxy);
      skipped.push({ proxy, error });
      // The access line is written when the response ends: it names the entry being tried from now on.
      access.via = entries[skipped.length]?.display ?? 'direct';
    },
    onRetry: (error) => {
      access.retries = (access.retries ?? 0) + 1;
      logRetry(log, target.authority, error);
    },
    host: httpUrl.host,
    via: viaEntry(state.deps.pseudonym),
    responseTimeout: state.settings.limits.responseTimeout,
    connectTimeout: state.settings.limits.connectTimeout,
  });
  logPacFallthrough(log, target.authority, result.via, skipped);
  return { result, route };
}

export function serveAbsoluteUpgrade(
  state: ForwardState,
  req: http.IncomingMessage,
  socket: net.Socket,
  scope: UpgradeScope<TunnelContext>,
): void {
  const refuse = (err: WsgateError, extra?: HeaderPairs) => scope.refuse(err, extra && { headers: extra });
  const admitted = admitAbsolute(state, req, scope.log, refuse, scope.id);
  if (admitted === undefined) return;
  const { target } = admitted;
  const secure = target.scheme === 'https' || target.scheme === 'wss';
  const wsUrl = `${secure ? 'wss' : 'ws'}://${target.authority}/`;
  startUpgrade(state, req, socket, scope, {
    // RFC 9112 §3.2.2: a proxy sends the target's authority as Host, whatever Host the client sent.
    route: {
      name: routeName(state, 'forward'),
      upstream: { name: new URL(wsUrl).origin, url: wsUrl },
      changeOrigin: true,
    },
    dial: (options) => state.dialer.dial(target, { ...options, secure, kind: secure ? 'https' : 'http' }),
    rules: admitted.rules,
    // RFC 9110 §7.6.3: the handshake leaves with this proxy's Via entry appended; the request stays as received.
    via: viaEntry(state.deps.pseudonym),
  });
}
