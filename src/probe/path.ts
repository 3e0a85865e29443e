// Which way the probe goes to the server, in the order browsers and curl decide it: an explicit --proxy, else a PAC
// script's answer (its list tried in order, falling through to the next entry when a proxy cannot be reached, as
// browsers do), else HTTPS_PROXY / HTTP_PROXY with NO_PROXY (upstream/proxy-config's reading, the one wsgate uses
// itself), else direct. PAC scripts see ws:// and wss:// URLs as http:// and https://, as Chromium passes them.
// Pure: the PAC answer is computed by pac.ts and handed in.
import { pacUrlFor, parsePacResult } from '../net/pac-result.ts';
import { parseProxyUrl } from '../net/proxy-url.ts';
import { chooseProxy, type Env, proxiesFromEnv } from '../upstream/proxy-config.ts';
import type { Route } from './report.ts';

/** One way to go, with the credentials for the proxy (never printed). */
export type PlannedRoute = Route & { proxyUrl?: URL; authorization?: string };

export type { PacEntry, PacParse } from '../net/pac-result.ts';
export { pacUrlFor, parsePacResult };

export type PathOptions = {
  url: URL;
  /** --proxy URL. */
  proxy?: string | undefined;
  /** --no-proxy. */
  noProxy?: boolean | undefined;
  /** The PAC script's answer, when --pac was given. */
  pac?: { result: string; source: string } | undefined;
  env: Env;
  /** --tunnel: ws:// through a proxy as CONNECT rather than absolute-form. */
  tunnel?: boolean | undefined;
};

export type PathPlan = { ok: true; routes: PlannedRoute[]; notes: string[] } | { ok: false; message: string };

function proxyRoute(url: URL, proxyText: string, source: string, tunnel: boolean): PathPlan {
  const parsed = parseProxyUrl(proxyText);
  if (!parsed.ok) return { ok: false, message: parsed.message };
  const mode = url.protocol === 'wss:' || tunnel ? 'tunnel' : 'absolute-form';
  const route: PlannedRoute = { kind: 'proxy', proxy: parsed.url.origin, source, mode, proxyUrl: parsed.url };
  if (parsed.authorization !== undefined) route.authorization = parsed.authorization;
  return { ok: true, routes: [route], notes: [] };
}

export function planPath(o: PathOptions): PathPlan {
  const tunnel = o.tunnel === true;
  if (o.noProxy) return { ok: true, routes: [{ kind: 'direct', source: '--no-proxy' }], notes: [] };
  if (o.proxy !== undefined) return proxyRoute(o.url, o.proxy, '--proxy', tunnel);
  if (o.pac !== undefined) {
    const { entries, skipped } = parsePacResult(o.pac.result);
    const notes = skipped.map((s) => `PAC entry "${s}" skipped: only DIRECT, PROXY and HTTPS are supported`);
    const routes: PlannedRoute[] = [];
    for (const entry of entries) {
      const source = `PAC ${o.pac.source}: ${o.pac.result.trim()}`;
      if (entry.kind === 'direct') {
        routes.push({ kind: 'direct', source });
        continue;
      }
      const plan = proxyRoute(o.url, `${entry.scheme}://${entry.hostPort}`, source, tunnel);
      if (plan.ok) routes.push(...plan.routes);
      else notes.push(`PAC entry "${entry.text}" skipped: ${plan.message}`);
    }
    // An empty or unusable answer means DIRECT (what browsers do with an empty result).
    if (routes.length === 0) routes.push({ kind: 'direct', source: `PAC ${o.pac.source}: no usable entry, direct` });
    return { ok: true, routes, notes };
  }
  const env = proxiesFromEnv(o.env);
  const port = Number(o.url.port || (o.url.protocol === 'wss:' ? 443 : 80));
  const kind = o.url.protocol === 'wss:' ? 'https' : 'http';
  const choice = chooseProxy({ named: new Map(), env }, undefined, kind, o.url.hostname.replace(/^\[|\]$/g, ''), port);
  if (choice.proxy === undefined) {
    return { ok: true, routes: [{ kind: 'direct', source: choice.why }], notes: [...env.warnings] };
  }
  const p = choice.proxy;
  const mode = o.url.protocol === 'wss:' || tunnel ? 'tunnel' : 'absolute-form';
  const route: PlannedRoute = { kind: 'proxy', proxy: p.display, source: p.name, mode, proxyUrl: p.url };
  if (p.authorization !== undefined) route.authorization = p.authorization;
  return { ok: true, routes: [route], notes: [...env.warnings] };
}
