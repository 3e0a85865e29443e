// runProbe: the whole diagnosis of one WebSocket URL, as the CLI (`wsgate probe`) and the admin API
// (`POST /api/probe`) run it. It picks the path (path.ts), walks the steps to a working WebSocket (falling through a
// PAC list when a proxy cannot be reached), then exercises the connection (negotiation, --send, ping, --idle) and
// optionally compares the handshake with and without the proxy. Every step is reported as it starts and ends, so a
// caller can show progress; the result is the ProbeReport that `--json` prints.
import type dns from 'node:dns/promises';
import { describeFileError } from '../config/load.ts';
import { WsgateError } from '../errors.ts';
import { formatHostPort } from '../net/host-port.ts';
import { redactUrlPassword } from '../net/url-credentials.ts';
import type { Env } from '../upstream/proxy-config.ts';
import { idleBisect } from './bisect.ts';
import { diffHandshakes, judgeCompare } from './compare.ts';
import { findProxyForUrl, loadPacSource } from './pac.ts';
import { type PlannedRoute, pacUrlFor, planPath } from './path.ts';
import { fail, ok, type ProbeReport, type Route, type StepName, type StepResult, warn } from './report.ts';
import { connectStep, dnsStep, tcpStep, tlsStep } from './steps.ts';
import { type Handshake, idleStep, messageStep, negotiateStep, openConn, pingStep, upgradeStep } from './ws-steps.ts';

export type ProbeProgress =
  | { phase: 'start'; step: StepName; what: string }
  | { phase: 'end'; step: StepName; result: StepResult };

export type ProbeOptions = {
  url: string;
  proxy?: string | undefined;
  /** A PAC file path or http(s) URL. */
  pac?: string | undefined;
  noProxy?: boolean | undefined;
  /** ws:// through a proxy with CONNECT rather than absolute-form. */
  tunnel?: boolean | undefined;
  /** Extra trusted CA certificates (PEM text). */
  ca?: string[] | undefined;
  insecure?: boolean | undefined;
  subprotocols?: string[] | undefined;
  headers?: [string, string][] | undefined;
  origin?: string | undefined;
  send?: string | undefined;
  /** Milliseconds of silence to survive, or 'bisect' to search for the cut-off. */
  idle?: number | 'bisect' | undefined;
  compare?: boolean | undefined;
  /** Bound of each step's wait (default 10 s); with idle 'bisect', also the bound of the whole search. */
  timeoutMs?: number | undefined;
  /** HTTP(S)_PROXY and NO_PROXY; default process.env. */
  env?: Env | undefined;
  /** Name resolution (tests map names to 127.0.0.1 without DNS). */
  lookup?: typeof dns.lookup | undefined;
  onProgress?: ((p: ProbeProgress) => void) | undefined;
};

export const DEFAULT_TIMEOUT_MS = 10_000;
/** --idle bisect without --timeout: the whole search stays within two minutes. */
export const DEFAULT_BISECT_BUDGET_MS = 120_000;

/** A probe URL: ws:// or wss:// (http(s):// is read as ws(s)://, as people paste page URLs). */
export function parseProbeUrl(text: string): URL {
  const url = URL.parse(text.replace(/^http(s?):\/\//i, 'ws$1://'));
  if (url === null || (url.protocol !== 'ws:' && url.protocol !== 'wss:') || url.hostname === '') {
    throw new WsgateError('WSG_USAGE', { detail: `probe: "${text}" is not a ws:// or wss:// URL` });
  }
  return url;
}

const portOf = (url: URL) => Number(url.port || (url.protocol === 'wss:' ? 443 : 80));
const bare = (host: string) => host.replace(/^\[|\]$/g, '');

type Attempt = { steps: StepResult[]; handshake?: Handshake; reachedProxy: boolean };

class Prober {
  readonly o: ProbeOptions;
  readonly url: URL;
  readonly timeout: number;
  readonly steps: StepResult[] = [];

  constructor(o: ProbeOptions, url: URL) {
    this.o = o;
    this.url = url;
    this.timeout = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async step<T extends { result: StepResult }>(
    name: StepName,
    what: string,
    quiet: boolean,
    run: () => Promise<T>,
  ): Promise<T> {
    if (!quiet) this.o.onProgress?.({ phase: 'start', step: name, what });
    const out = await run();
    if (!quiet) this.o.onProgress?.({ phase: 'end', step: name, result: out.result });
    return out;
  }

  /** DNS, TCP, CONNECT and TLS as needed, then the handshake, along one route. */
  /**
   * `fallsThrough`: another PAC entry follows this proxy, so not reaching the proxy (DNS, TCP) is a warning and the
   * next entry is tried, as browsers do.
   */
  async attempt(
    route: PlannedRoute,
    quiet: boolean,
    key?: string,
    fallsThrough = false,
    timeout = this.timeout,
  ): Promise<Attempt> {
    const steps: StepResult[] = [];
    const soften = <T extends { result: StepResult }>(out: T): T => {
      const v = out.result.verdict;
      if (fallsThrough && !v.ok) out.result.verdict = warn(v.code, `${v.detail}; trying the next PAC entry`, v.hint);
      return out;
    };
    const url = this.url;
    const proxied = route.kind === 'proxy';
    const dialHost = proxied ? bare(route.proxyUrl!.hostname) : bare(url.hostname);
    const dialPort = proxied
      ? Number(route.proxyUrl!.port || (route.proxyUrl!.protocol === 'https:' ? 443 : 80))
      : portOf(url);
    const role = proxied ? 'proxy' : 'server';
    const dnsR = await this.step('dns', `resolving ${dialHost}`, quiet, async () =>
      soften(await dnsStep(dialHost, role, timeout, this.o.lookup)),
    );
    steps.push(dnsR.result);
    if (dnsR.value === undefined) return { steps, reachedProxy: false };
    const tcp = await this.step('tcp', `connecting to ${formatHostPort(dialHost, dialPort)}`, quiet, async () =>
      soften(await tcpStep({ address: dnsR.value!, port: dialPort, role }, timeout)),
    );
    steps.push(tcp.result);
    if (tcp.value === undefined) return { steps, reachedProxy: false };
    let socket = tcp.value;
    if (proxied && route.proxyUrl!.protocol === 'https:') {
      const toProxy = await this.step('tls', `TLS to the proxy ${dialHost}`, quiet, () =>
        tlsStep(socket, { host: dialHost, ca: this.o.ca, insecure: this.o.insecure === true, proxied: false }, timeout),
      );
      steps.push(toProxy.result);
      if (toProxy.value === undefined) return { steps, reachedProxy: false };
      socket = toProxy.value;
    }
    const tunnel = proxied && route.mode === 'tunnel';
    if (tunnel) {
      const authority = `${url.hostname}:${portOf(url)}`;
      const connect = await this.step('connect', `CONNECT ${authority}`, quiet, () =>
        connectStep(socket, { authority, port: portOf(url), authorization: route.authorization }, timeout),
      );
      steps.push(connect.result);
      if (connect.value === undefined) return { steps, reachedProxy: true };
      socket = connect.value;
    }
    let intercepted = false;
    if (url.protocol === 'wss:') {
      const secured = await this.step('tls', `TLS with ${bare(url.hostname)}`, quiet, () =>
        tlsStep(
          socket,
          { host: bare(url.hostname), ca: this.o.ca, insecure: this.o.insecure === true, proxied },
          timeout,
        ),
      );
      steps.push(secured.result);
      if (secured.value === undefined) return { steps, reachedProxy: true };
      socket = secured.value;
      // Going on through an interception (trusted, or --insecure): the proxy answers inside the tunnel too.
      intercepted = tunnel && secured.result.verdict.code === 'TLS_INTERCEPTED';
    }
    const up = await this.step('upgrade', `GET ${url.pathname} (Upgrade: websocket)`, quiet, () =>
      upgradeStep(
        socket,
        {
          url,
          absolute: proxied && !tunnel,
          subprotocols: this.o.subprotocols ?? [],
          origin: this.o.origin,
          headers: this.o.headers ?? [],
          proxyAuthorization: route.authorization,
          key,
          proxied: (proxied && !tunnel) || intercepted,
        },
        timeout,
      ),
    );
    steps.push(up.result);
    return up.value === undefined ? { steps, reachedProxy: true } : { steps, handshake: up.value, reachedProxy: true };
  }
}

function describeRoute(r: PlannedRoute): string {
  if (r.kind === 'direct') return `direct (${r.source})`;
  const mode = r.mode === 'tunnel' ? 'CONNECT tunnel' : 'absolute-form GET to the proxy';
  return `through proxy ${r.proxy} (${r.source}; ${mode})`;
}

const publicRoute = (r: PlannedRoute): Route => {
  const { proxyUrl: _u, authorization: _a, ...rest } = r;
  return rest;
};

async function planRoutes(o: ProbeOptions, url: URL, timeout: number) {
  let pac: { result: string; source: string } | undefined;
  if (o.pac !== undefined && o.proxy === undefined && !o.noProxy) {
    // A script that cannot be read (a wrong path, a server that answers 404) is not one to fix: said apart.
    let source: string;
    try {
      source = await loadPacSource(o.pac, timeout);
    } catch (err) {
      const message = `PAC ${o.pac}: cannot read it: ${describeFileError(err)}`;
      return { ok: false as const, message, pac: true, unread: true };
    }
    try {
      const result = await findProxyForUrl(source, pacUrlFor(url), bare(url.hostname));
      pac = { result, source: o.pac };
    } catch (err) {
      return { ok: false as const, message: `PAC ${o.pac}: ${(err as Error).message}`, pac: true, unread: false };
    }
  }
  const plan = planPath({ url, proxy: o.proxy, noProxy: o.noProxy, pac, env: o.env ?? process.env, tunnel: o.tunnel });
  return plan.ok ? plan : { ...plan, pac: false };
}

export async function runProbe(o: ProbeOptions): Promise<ProbeReport> {
  const url = parseProbeUrl(o.url);
  const startedAt = new Date();
  const began = performance.now();
  const p = new Prober(o, url);
  const plan = await planRoutes(o, url, p.timeout);
  if (!plan.ok) {
    if (!plan.pac) throw new WsgateError('WSG_USAGE', { detail: `probe: ${plan.message}` });
    const failed: StepResult = {
      step: 'path',
      ms: 0,
      verdict: fail(
        'PATH_PAC_FAILED',
        plan.message,
        plan.unread === true
          ? 'Check the file or URL given to --pac: the probe could not get the script, so it tried no path.'
          : 'Fix the PAC script (browsers would fall back to DIRECT or fail the same way).',
      ),
      facts: {},
    };
    o.onProgress?.({ phase: 'end', step: 'path', result: failed });
    p.steps.push(failed);
    return finish(url, [], p.steps, startedAt, began);
  }
  const tried: Route[] = [];
  let attempt: Attempt | undefined;
  let used: PlannedRoute | undefined;
  for (const [i, route] of plan.routes.entries()) {
    used = route;
    tried.push(publicRoute(route));
    const last = i === plan.routes.length - 1;
    const pathStep: StepResult = {
      step: 'path',
      ms: 0,
      verdict: ok(route.kind === 'direct' ? 'PATH_DIRECT' : 'PATH_PROXY', describeRoute(route)),
      facts: { route: publicRoute(route), notes: plan.notes },
    };
    p.o.onProgress?.({ phase: 'end', step: 'path', result: pathStep });
    p.steps.push(pathStep);
    attempt = await p.attempt(route, false, undefined, !last && route.kind === 'proxy');
    p.steps.push(...attempt.steps);
    // Browsers go on to the next PAC entry only when a proxy cannot be reached at all.
    if (attempt.handshake !== undefined || attempt.reachedProxy || last || route.kind === 'direct') break;
  }
  const handshake = attempt?.handshake;
  if (handshake !== undefined && used !== undefined) await exercise(p, handshake, used);
  if (o.compare) p.steps.push(await compareStep(p, plan.routes));
  return finish(url, tried, p.steps, startedAt, began);
}

async function exercise(p: Prober, handshake: Handshake, route: PlannedRoute): Promise<void> {
  const o = p.o;
  const negotiated = negotiateStep(handshake, o.subprotocols ?? []);
  o.onProgress?.({ phase: 'end', step: 'negotiate', result: negotiated });
  p.steps.push(negotiated);
  const conn = openConn(handshake);
  try {
    if (!negotiated.verdict.ok) return;
    // The --send text when nothing came back for it: a ping without a pong as well is then a half-open path.
    let unanswered: string | undefined;
    if (o.send !== undefined) {
      const text = o.send;
      const sent = await p.step('message', 'waiting for an answer', false, async () => ({
        result: await messageStep(conn, text, p.timeout),
      }));
      p.steps.push(sent.result);
      if (!sent.result.verdict.ok) return;
      if (sent.result.verdict.code === 'MESSAGE_NO_REPLY') unanswered = text;
    }
    const ping = await p.step('ping', 'ping', false, async () => ({
      result: await pingStep(conn, p.timeout, unanswered),
    }));
    p.steps.push(ping.result);
    if (!ping.result.verdict.ok) return;
    // No pong at all (PING_NO_PONG): a ping after the silence could not tell a dead connection from this one.
    const rtt = ping.result.verdict.code === 'PING_OK' ? (ping.result.facts['rttMs'] as number) : undefined;
    if (typeof o.idle === 'number') {
      const silence = o.idle;
      const idle = await p.step('idle', `silent for ${silence} ms`, false, async () => ({
        result: await idleStep(conn, silence, rtt === undefined ? undefined : p.timeout),
      }));
      p.steps.push(idle.result);
    } else if (o.idle === 'bisect') {
      conn.close();
      const budget = o.timeoutMs ?? DEFAULT_BISECT_BUDGET_MS;
      const result = await p.step('idle', 'searching the idle cut-off', false, async () => ({
        result: await idleBisect(
          (leftMs) => p.attempt(route, true, undefined, false, leftMs).then((a) => a.handshake),
          budget,
          p.timeout,
          rtt,
        ),
      }));
      p.steps.push(result.result);
    }
  } finally {
    conn.close();
  }
}

async function compareStep(p: Prober, routes: PlannedRoute[]): Promise<StepResult> {
  const proxyRoute = routes.find((r) => r.kind === 'proxy');
  if (proxyRoute === undefined) {
    return {
      step: 'compare',
      ms: 0,
      verdict: warn('COMPARE_NO_PROXY', 'the path is direct: there is no proxy to compare with'),
      facts: {},
    };
  }
  const start = performance.now();
  p.o.onProgress?.({ phase: 'start', step: 'compare', what: 'the handshake directly and through the proxy' });
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64');
  const side = async (route: PlannedRoute) => {
    const a = await p.attempt(route, true, key);
    a.handshake?.socket.destroy();
    const up = a.steps.find((s) => s.step === 'upgrade');
    const failed = a.steps.find((s) => !s.verdict.ok);
    return {
      status: up?.facts['status'] as number | undefined,
      headers: (up?.facts['headers'] as [string, string][] | undefined) ?? [],
      error: up?.facts['status'] === undefined ? failed?.verdict.code : undefined,
    };
  };
  const direct = await side({ kind: 'direct', source: '--compare' });
  const proxied = await side(proxyRoute);
  const diff = diffHandshakes(direct, proxied);
  const result: StepResult = {
    step: 'compare',
    ms: Math.round(performance.now() - start),
    verdict: judgeCompare(diff),
    facts: { ...diff },
  };
  p.o.onProgress?.({ phase: 'end', step: 'compare', result });
  return result;
}

function finish(url: URL, routes: Route[], steps: StepResult[], startedAt: Date, began: number): ProbeReport {
  const failed = steps.find((s) => !s.verdict.ok);
  const products = steps.map((s) => s.facts['product']).filter((x): x is string => typeof x === 'string');
  const last = routes.at(-1);
  const through = last?.kind === 'proxy' ? ` through ${last.proxy}` : ' directly';
  const report: ProbeReport = {
    version: 1,
    // A password in the URL is never sent (browsers drop userinfo from ws:// URLs too) nor printed.
    url: redactUrlPassword(url.href),
    ok: failed === undefined,
    routes,
    steps,
    verdict:
      failed === undefined
        ? { ...ok('PROBE_OK', `the WebSocket works end to end${through}`), step: undefined }
        : { ...failed.verdict, step: failed.step },
    startedAt: startedAt.toISOString(),
    ms: Math.round(performance.now() - began),
  };
  if (products[0] !== undefined) report.proxyProduct = products[0];
  return report;
}
