// The socket side of limits.maxConnectionsPerClient: admission.ts counts (pure); this file answers the one over the
// limit on its socket. Kept apart so the pure counting never reaches the error writer.
import type net from 'node:net';
import { WsgateError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { ignoreError } from '../net/ignore-error.ts';
import { type ClientCounter, type ClientLimits, clientFieldsOf, clientKeyOf } from './admission.ts';
import { writeErrorToSocket } from './error-response.ts';

/**
 * limits.maxConnectionsPerClient for a new socket: counted (and released when it closes), or, one over the limit,
 * answered with 503 WSG_TOO_MANY_CONNECTIONS, logged (`conn.limit`) and `refused` called. False when refused.
 */
export function admitClientSocket(
  socket: net.Socket,
  counter: ClientCounter,
  limits: ClientLimits & { maxConnectionsPerClient: number },
  log: Logger,
  refused: () => void,
): boolean {
  const address = socket.remoteAddress;
  if (address === undefined) return true;
  const key = clientKeyOf(address, limits);
  if (key === undefined) return true;
  const limit = limits.maxConnectionsPerClient;
  const admitted = counter.admit(key, limit);
  socket.on('close', () => counter.release(key));
  if (admitted) return true;
  const client = clientFieldsOf(address, key);
  const scope =
    client.clientNetwork === undefined
      ? `from ${address}`
      : `from ${address} (counted as its network ${key}, limits.clientIpv6Prefix)`;
  const err = new WsgateError('WSG_TOO_MANY_CONNECTIONS', { scope, limit });
  log.warn({ event: 'conn.limit', scope: 'client', ...client, limit, code: err.code }, err.message);
  refused();
  socket.on('error', ignoreError);
  writeErrorToSocket(socket, err);
  return false;
}
