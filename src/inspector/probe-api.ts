// POST /api/probe: the same diagnosis as `wsgate probe` (src/probe/run.ts), reachable from the admin API so the
// inspector can offer it. Owns what a caller may ask for: only the URL, a proxy URL (or none), the subprotocols, a
// message to send and a bounded timeout. Nothing that names a file on the machine running wsgate (PAC files, CA
// files) and nothing that weakens TLS (insecure) is accepted: the API must not become a way to read files or to
// make wsgate trust what it would not. The answer is the probe's JSON report (docs/probe.md).
import { WsgateError } from '../errors.ts';
import { badRequest, readJson, sendJson } from './admin-http.ts';
import type { AdminHandler } from './admin-server.ts';

/** A probe's steps each wait at most this long, and the API never holds a request longer than a few of them. */
export const MAX_PROBE_TIMEOUT_MS = 30_000;
const DEFAULT_PROBE_TIMEOUT_MS = 10_000;
const ALLOWED = new Set(['url', 'proxy', 'noProxy', 'subprotocol', 'send', 'timeout']);

function optionalString(body: Record<string, unknown>, key: string, max: number): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > max) {
    throw badRequest(`"${key}" must be a non-empty string of at most ${max} characters`);
  }
  return v;
}

/** A timeout as milliseconds or a duration like "5s" / "500ms", bounded to MAX_PROBE_TIMEOUT_MS. */
function timeoutOf(v: unknown): number {
  if (v === undefined || v === null) return DEFAULT_PROBE_TIMEOUT_MS;
  let ms: number | undefined;
  if (typeof v === 'number') ms = v;
  else if (typeof v === 'string') {
    const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(v.trim());
    if (m) ms = Number(m[1]) * (m[2] === 's' ? 1000 : 1);
  }
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0 || ms > MAX_PROBE_TIMEOUT_MS) {
    throw badRequest(`"timeout" must be milliseconds (or "5s", "500ms") above 0 and at most ${MAX_PROBE_TIMEOUT_MS}`);
  }
  return Math.ceil(ms);
}

export function probeHandler(): AdminHandler {
  return {
    method: 'POST',
    path: '/api/probe',
    async handle(req, res) {
      const body = await readJson(req);
      for (const key of Object.keys(body)) {
        if (!ALLOWED.has(key)) {
          throw badRequest(`"${key}" is not accepted by the API; give only ${[...ALLOWED].join(', ')}`);
        }
      }
      const url = optionalString(body, 'url', 4096);
      if (url === undefined) throw badRequest('"url" (ws:// or wss://) is required');
      const proxy = optionalString(body, 'proxy', 4096);
      if (proxy !== undefined && !/^https?:\/\//i.test(proxy))
        throw badRequest('"proxy" must be an http:// or https:// URL');
      const noProxy = body['noProxy'];
      if (noProxy !== undefined && typeof noProxy !== 'boolean') throw badRequest('"noProxy" must be true or false');
      if (noProxy === true && proxy !== undefined) throw badRequest('give "proxy" or "noProxy", not both');
      const subprotocol = optionalString(body, 'subprotocol', 256);
      const send = optionalString(body, 'send', 64 * 1024);
      const timeoutMs = timeoutOf(body['timeout']);
      try {
        // Imported on the first probe: the probe's modules stay out of the heap of a wsgate nobody probes from.
        const { runProbe } = await import('../probe/run.ts');
        const report = await runProbe({
          url,
          proxy,
          noProxy: noProxy === true,
          subprotocols: subprotocol === undefined ? undefined : [subprotocol],
          send,
          timeoutMs,
        });
        sendJson(res, 200, report);
      } catch (err) {
        // A URL or proxy the probe cannot use is the caller's mistake: 400 with the probe's own words.
        if (err instanceof WsgateError && err.code === 'WSG_USAGE') throw badRequest(err.message);
        throw err;
      }
    },
  };
}
