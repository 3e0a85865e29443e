// The first gate of every Upgrade request, reverse or forward: a handshake that is not a valid WebSocket opening
// handshake is refused with 400 WSG_HANDSHAKE_INVALID and one `upgrade.denied` log line, one over its client's
// limits.maxHandshakesPerClientPerSecond with 429 WSG_HANDSHAKE_CLIENT_RATE, one over the listener's
// limits.maxHandshakesPerSecond with 503 WSG_HANDSHAKE_RATE (handshake-rate.ts), before anything is dialed.
import type http from 'node:http';
import { WsgateError } from '../errors.ts';
import { headerTokens } from '../http/head.ts';
import type { Logger } from '../log/logger.ts';
import { checkUpgradeRequest } from '../websocket/handshake.ts';
import type { HandshakeLimits, HandshakeRate } from './handshake-rate.ts';

/**
 * The Sec-WebSocket-Key of a valid handshake that the client's and the listener's rates admit, or the error to answer
 * with (already logged). `client` names whom the per-client rate counts (the peer by default), asked only when a
 * rate is on.
 */
export function admitHandshake(
  req: http.IncomingMessage,
  log: Logger,
  rate: HandshakeRate,
  limits: HandshakeLimits = {},
  client: () => string | undefined = () => req.socket.remoteAddress,
): { key: string } | WsgateError {
  const check = checkUpgradeRequest({
    method: req.method,
    httpVersion: req.httpVersion,
    headers: req.headers,
    rawHeaders: req.rawHeaders,
  });
  if (check.ok) {
    const limited = (limits.maxHandshakesPerSecond ?? 0) > 0 || (limits.maxHandshakesPerClientPerSecond ?? 0) > 0;
    const refusal = limited ? rate.admit(performance.now(), limits, client()) : undefined;
    return refusal ?? { key: check.key };
  }
  const err = new WsgateError('WSG_HANDSHAKE_INVALID', { detail: check.detail });
  log.warn(
    {
      event: 'upgrade.denied',
      code: err.code,
      method: req.method,
      path: req.url,
      token: headerTokens(req.headers.upgrade).join(','),
    },
    err.message,
  );
  return err;
}
