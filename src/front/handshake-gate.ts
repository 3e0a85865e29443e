// The first gate of every Upgrade request, reverse or forward: a handshake that is not a valid WebSocket opening
// handshake is refused with 400 WSG_HANDSHAKE_INVALID and one `upgrade.denied` log line, one over the listener's
// limits.maxHandshakesPerSecond with 503 WSG_HANDSHAKE_RATE (handshake-rate.ts), before anything is dialed.
import type http from 'node:http';
import { WsgateError } from '../errors.ts';
import { headerTokens } from '../http/head.ts';
import type { Logger } from '../log/logger.ts';
import { checkUpgradeRequest } from '../websocket/handshake.ts';
import type { HandshakeRate } from './handshake-rate.ts';

/**
 * The Sec-WebSocket-Key of a valid handshake that the listener's rate admits, or the error to answer with (already
 * logged).
 */
export function admitHandshake(
  req: http.IncomingMessage,
  log: Logger,
  rate: HandshakeRate,
  perSecond = 0,
): { key: string } | WsgateError {
  const check = checkUpgradeRequest({ method: req.method, httpVersion: req.httpVersion, headers: req.headers });
  if (check.ok) return (perSecond > 0 ? rate.admit(performance.now(), perSecond) : undefined) ?? { key: check.key };
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
