// limits.bodyTimeout, nginx's client_body_timeout: the longest a client may pause between two reads of its request
// body. Node has no such limit (requestTimeout bounds the whole request, which uploads and long polls cannot live
// with, and is off), so a body trickled a byte a minute would hold a connection and an upstream request forever.
// The front watches every request that announces a body, whatever the entry kind: 408 WSG_BODY_TIMEOUT while the
// response has not started, else the connection is cut; one coded line either way.
//
// "A pause" means wsgate wanted bytes and none came: the socket's byte count did not move while nothing read from
// the client waited unconsumed in the request. A body held back by wsgate itself (the upstream reads slowly, so the
// request is paused with data buffered) is backpressure, not a client pause. Node parses bodies without an event
// per read for plain sockets, so the count is sampled: the deadline holds to within CHECK_MAX_MS.
import type http from 'node:http';
import { formatDuration } from '../config/units.ts';
import { WsgateError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { AccessFields } from './access.ts';
import { sendErrorResponse } from './error-response.ts';

/** Sampling: a tenth of the limit, within these bounds; a pause is noticed at most CHECK_MAX_MS late. */
const CHECK_MAX_MS = 1000;
const CHECK_MIN_MS = 20;

/** RFC 9112 §6.3: a request has a body only when Transfer-Encoding or a non-zero Content-Length says so. */
function announcesBody(req: http.IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && Number(length) > 0;
}

/**
 * Watches one request's body until it is complete or its connection closes; `timeout` is limits.bodyTimeout in ms
 * (0 turns the watch off). A timeout is the code of the request's access line.
 */
export function watchRequestBody(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  timeout: number,
  log: Logger,
  access: AccessFields,
): void {
  if (timeout <= 0 || req.complete || !announcesBody(req)) return;
  const socket = req.socket;
  let seen = socket.bytesRead;
  let quietSince = performance.now();
  const stop = () => {
    clearInterval(timer);
    socket.off('close', stop);
  };
  const timer = setInterval(
    () => {
      if (req.complete || socket.destroyed) {
        stop();
        return;
      }
      const read = socket.bytesRead;
      const now = performance.now();
      if (read !== seen || req.readableLength > 0) {
        seen = read;
        quietSince = now;
        return;
      }
      if (now - quietSince < timeout) return;
      stop();
      expire(req, res, { timeout, log, access }, Math.round(now - quietSince));
    },
    Math.max(CHECK_MIN_MS, Math.min(CHECK_MAX_MS, timeout / 10)),
  );
  timer.unref();
  socket.once('close', stop);
}

function expire(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  options: { timeout: number; log: Logger; access: AccessFields },
  quietMs: number,
): void {
  const err = new WsgateError('WSG_BODY_TIMEOUT', { timeout: formatDuration(options.timeout) });
  const started = res.headersSent;
  options.log.warn(
    {
      event: 'http.body_timeout',
      code: err.code,
      status: started ? undefined : err.status,
      method: req.method,
      quietMs,
      responseStarted: started,
      client: req.socket.remoteAddress,
    },
    started ? `${err.message}; the response had started, so the connection is cut` : err.message,
  );
  options.access.code = err.code;
  if (started) {
    req.socket.destroy();
    return;
  }
  // Connection: close, so the rest of the body is never read as a next request; Node ends the socket once sent.
  sendErrorResponse(res, err, { close: true });
}
