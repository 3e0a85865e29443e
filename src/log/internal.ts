// A bug met while serving one request or connection: one WSG_INTERNAL line with the stack. Every layer that starts
// work for a client (the front's handlers, the Upgrade forwarder, forward-mode continuations) reports through this
// one function, so a throw ends that request or connection, never the process, and always reads the same in the log.
import { WsgateError } from '../errors.ts';
import type { Logger } from './logger.ts';

export function reportInternal(log: Logger, error: unknown): WsgateError {
  const err = new WsgateError('WSG_INTERNAL', { detail: String(error) }, { cause: error });
  log.error({ event: 'internal.error', code: err.code, err: error }, err.message);
  return err;
}
