// The request target every entry checks before its handler runs (RFC 9112 §3.2): origin-form or absolute-form that
// parses the way the handlers read it, else 400 WSG_BAD_REQUEST_TARGET with one line. A plain request also needs
// one Host line, else 400 WSG_BAD_REQUEST; a WebSocket handshake gets that rule from websocket/handshake.ts, under
// its own code.
import type http from 'node:http';
import { WsgateError } from '../errors.ts';
import { countHeaderLines } from '../http/head.ts';
import { formName, type PathTarget, parseRequestTarget } from '../http/request-target.ts';
import { escapeControl } from '../log/escape.ts';
import type { Logger } from '../log/logger.ts';
import { redactUrlPassword } from '../net/url-credentials.ts';
import { hostFromTarget } from './absolute-host.ts';

/**
 * RFC 9112 §3.2: a request or upgrade names a path in origin-form or absolute-form (authority-form is CONNECT's,
 * asterisk-form asks about the server itself and is not forwarded), and only a target that parses the way the
 * handlers read it reaches them. Entries with narrower rules (a forward listener wants absolute-form) refuse the
 * rest themselves, with their own codes. An absolute-form target's authority becomes the Host.
 */
export function checkRequestTarget(req: http.IncomingMessage, log: Logger): PathTarget | WsgateError {
  const raw = req.url ?? '';
  const parsed = parseRequestTarget(req.method ?? '', raw);
  let detail: string;
  if (!parsed.ok) detail = parsed.detail;
  else if (parsed.target.form === 'origin') return parsed.target;
  else if (parsed.target.form === 'absolute') return hostFromTarget(req, parsed.target);
  else detail = `${formName(parsed.target.form)} is not forwarded`;
  // The target is the client's text: no credentials, no controls and no more than a line of it in the log.
  const redacted = redactUrlPassword(raw);
  const shown = escapeControl(redacted.length > 200 ? `${redacted.slice(0, 200)}…` : redacted);
  const err = new WsgateError('WSG_BAD_REQUEST_TARGET', { target: shown, detail });
  log.warn(
    {
      event: 'http.bad_target',
      code: err.code,
      status: err.status,
      method: req.method,
      target: shown,
      client: req.socket.remoteAddress,
    },
    err.message,
  );
  return err;
}

/**
 * A plain request's target (checkRequestTarget), then RFC 9112 §3.2's one Host line: more than one is a 400, as
 * nginx answers ("client sent duplicate host header"). Node keeps the first in `req.headers`, which routes and
 * policies read, while the forwarders copy the raw lines: an upstream that reads another one would serve a virtual
 * host no route or policy was asked about.
 */
export function checkPlainRequest(req: http.IncomingMessage, log: Logger): PathTarget | WsgateError {
  const target = checkRequestTarget(req, log);
  if (target instanceof WsgateError || countHeaderLines(req.rawHeaders, 'host') <= 1) return target;
  const err = new WsgateError('WSG_BAD_REQUEST', { detail: 'the request has more than one Host line' });
  log.warn(
    {
      event: 'http.client_error',
      code: err.code,
      status: err.status,
      method: req.method,
      client: req.socket.remoteAddress,
    },
    err.message,
  );
  return err;
}
