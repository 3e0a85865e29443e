// The access checks every forward entry runs before anything is dialed — proxy authentication, loop detection by
// Via, and the host/port/destination policy — and the one classification of a refusal into an outcome and event.
import type http from 'node:http';
import { WsgateError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { AUTH_REASONS, checkProxyAuthorization, proxyAuthenticate } from './auth.ts';
import { viaNames } from './headers.ts';
import type { ForwardState } from './state.ts';
import type { ProxyTarget } from './target.ts';

export type Outcome = 'tunnel' | 'denied' | 'bad_target' | 'auth_required' | 'upstream_error' | 'loop';

/** What a refusal of a dial (or a policy check) means, for the outcome field of the log line. */
export function refusalOutcome(err: WsgateError): 'denied' | 'loop' | 'upstream_error' {
  if (err.code === 'WSG_FORWARD_DENIED') return 'denied';
  if (err.code === 'WSG_FORWARD_LOOP') return 'loop';
  return 'upstream_error';
}

/** How a refused authentication is logged: each entry words it as its other refusals are. */
export type AuthLine = {
  event: string;
  target: string;
  /** What the message starts with: the URL, or `CONNECT host:port` as every CONNECT line does. */
  subject: string;
  /** CONNECT refusals carry the status they were answered with (their access line is this line). */
  withStatus?: boolean;
};

/**
 * Proxy authentication, when the listener has users. Returns the user (undefined without auth), or undefined
 * after answering 407 through `refuse` with the challenge header.
 */
export function authenticate(
  state: ForwardState,
  req: http.IncomingMessage,
  refuse: (err: WsgateError, challenge: [string, string]) => void,
  log: Logger,
  line: AuthLine,
): { user: string | undefined } | undefined {
  const auth = state.spec.forward.auth;
  if (auth === undefined) return { user: undefined };
  const verdict = checkProxyAuthorization(auth, req.headers['proxy-authorization']);
  if (verdict.ok) return { user: verdict.user };
  const err = new WsgateError('WSG_PROXY_AUTH_REQUIRED', { detail: AUTH_REASONS[verdict.reason] });
  // A browser's first request carries no credentials by design: that is routine, a wrong password is not.
  const level = verdict.reason === 'missing' ? 'info' : 'warn';
  log[level](
    {
      event: line.event,
      outcome: 'auth_required',
      code: err.code,
      ...(line.withStatus === true ? { status: err.status } : {}),
      client: req.socket.remoteAddress,
      target: line.target,
      reason: verdict.reason,
    },
    `${line.subject}: ${err.message}`,
  );
  refuse(err, ['Proxy-Authenticate', proxyAuthenticate(auth.realm)]);
  return undefined;
}

/** Via already naming this instance: the request came back around. */
export function loopError(state: ForwardState, req: http.IncomingMessage): WsgateError | undefined {
  if (!viaNames(req.headers.via, state.deps.pseudonym)) return undefined;
  return new WsgateError('WSG_FORWARD_LOOP', { detail: `the request already passed through ${state.deps.pseudonym}` });
}

/** The policy's verdict on a target: undefined when allowed, else the 403 to send with the policy's reason. */
export function denialOf(state: ForwardState, target: ProxyTarget): { err: WsgateError; reason: string } | undefined {
  const verdict = state.policy.checkTarget(target.host, target.port);
  if (verdict.ok) return undefined;
  return {
    err: new WsgateError('WSG_FORWARD_DENIED', { target: target.authority, reason: verdict.detail }),
    reason: verdict.reason,
  };
}
