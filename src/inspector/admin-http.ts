// The small HTTP vocabulary of the admin API: JSON answers, coded error answers ({ "error": { code, message } }
// with the table's status), a bounded JSON body reader and path patterns with :params. Kept apart from the server
// so handlers mounted from elsewhere (metrics, health) answer the same way.
import type http from 'node:http';
import { WsgateError } from '../errors.ts';

/** The most a request body to the admin API may carry. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Headers every admin answer carries: no caching, no sniffing, no framing; no CORS headers ever. */
export const SAFE_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    ...SAFE_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendError(
  res: http.ServerResponse,
  err: WsgateError,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, err.status ?? 500, { error: { code: err.code, message: err.message, hint: err.hint } }, headers);
}

export function badRequest(detail: string): WsgateError {
  return new WsgateError('WSG_ADMIN_BAD_REQUEST', { detail });
}

export function notFound(detail: string): WsgateError {
  return new WsgateError('WSG_ADMIN_NOT_FOUND', { detail });
}

export function conflict(detail: string): WsgateError {
  return new WsgateError('WSG_ADMIN_CONFLICT', { detail });
}

/** Reads a JSON body up to MAX_BODY_BYTES; an empty body is `{}`. */
export async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  // 413 as nginx's client_max_body_size: the same refusal whether the length was announced (refused before a byte
  // is read) or the body is chunked and grows past the limit.
  const tooLarge = () => new WsgateError('WSG_ADMIN_BODY_TOO_LARGE', { limit: '1 MiB' });
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw badRequest(`the request body is not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badRequest('the request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** RFC 6455 §7.4: codes an endpoint may send. */
function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** A body's close `code` and `reason` (a Close frame's), checked; the defaults where absent. */
export function closeCodeAndReason(
  body: Record<string, unknown>,
  defaultCode: number,
  defaultReason: string,
): { code: number; reason: string } {
  const code = body['code'] ?? defaultCode;
  if (typeof code !== 'number' || !Number.isInteger(code) || !validCloseCode(code)) {
    throw badRequest('"code" must be a close code a peer may send: 1000-1003, 1007-1014 or 3000-4999');
  }
  const reason = body['reason'] ?? defaultReason;
  if (typeof reason !== 'string' || Buffer.byteLength(reason) > 123) {
    throw badRequest('"reason" must be a string of at most 123 bytes (RFC 6455 §5.5)');
  }
  return { code, reason };
}

/** A compiled path pattern such as /api/connections/:id/messages. */
export type PathPattern = (path: string) => Record<string, string> | undefined;

export function compilePath(pattern: string): PathPattern {
  const parts = pattern.split('/');
  return (path) => {
    const actual = path.split('/');
    if (actual.length !== parts.length) return undefined;
    const params: Record<string, string> = {};
    for (let i = 0; i < parts.length; i++) {
      const want = parts[i]!;
      const got = actual[i]!;
      if (want.startsWith(':')) {
        if (got === '') return undefined;
        try {
          params[want.slice(1)] = decodeURIComponent(got);
        } catch {
          return undefined;
        }
      } else if (want !== got) return undefined;
    }
    return params;
  };
}
