// The shapes `wsgate probe` produces: one Verdict per step (ok, a stable code, what was seen, what to change), the
// step results with their timings and facts, and the ProbeReport that `--json` prints and the admin API returns.
// The JSON document is documented in docs/probe.md; `version` changes only when a field changes meaning or goes
// away (new fields and new codes are additive). Pure: types and small constructors only.

/** What one step concluded. `warn` marks a step that works but deserves attention (shown as "!"). */
export type Verdict = {
  ok: boolean;
  /** Stable, upper snake case, prefixed by the step: CONNECT_AUTH_REQUIRED, TLS_INTERCEPTED, IDLE_CUT, … */
  code: string;
  /** What was seen, for people: one sentence. */
  detail: string;
  /** What to change, when there is something to change. */
  hint?: string;
  warn?: boolean;
};

export type StepName =
  | 'path'
  | 'dns'
  | 'tcp'
  | 'connect'
  | 'tls'
  | 'upgrade'
  | 'negotiate'
  | 'message'
  | 'ping'
  | 'idle'
  | 'compare';

export type StepResult = {
  step: StepName;
  /** Milliseconds the step took (0 for steps that only judge). */
  ms: number;
  verdict: Verdict;
  /** What the step observed, as JSON values (addresses, status line, headers, certificate chain, …). */
  facts: Record<string, unknown>;
};

/** One way the probe tried to reach the server: directly or through one proxy. */
export type Route = {
  kind: 'direct' | 'proxy';
  /** The proxy URL without credentials (kind proxy). */
  proxy?: string;
  /** How the route was chosen: "--proxy", "--no-proxy", "PAC: PROXY p:3128", "HTTPS_PROXY", "no proxy configured". */
  source: string;
  /** ws:// through a proxy: "absolute-form" (GET http://… to the proxy) or "tunnel" (CONNECT); wss:// always tunnels. */
  mode?: 'absolute-form' | 'tunnel';
};

export type HandshakeView = {
  status: number;
  statusLine: string;
  headers: [string, string][];
};

export type CompareDiff = {
  /** true when the direct and proxied answers agree on everything compared. */
  same: boolean;
  direct: { status: number | undefined; error?: string };
  proxied: { status: number | undefined; error?: string };
  added: [string, string][];
  removed: [string, string][];
  changed: { name: string; direct: string; proxied: string }[];
};

export type ProbeReport = {
  /** The document's format version (docs/probe.md). */
  version: 1;
  url: string;
  /** true when the WebSocket works end to end (every step ok; warnings allowed). */
  ok: boolean;
  /** The routes tried, in order (PAC lists fall through as browsers do); the last one is the one reported. */
  routes: Route[];
  steps: StepResult[];
  /** The first failing step's verdict, or the overall success. */
  verdict: Verdict & { step: StepName | undefined };
  /** The proxy product the headers named (Squid 5.7, wsgate, …), when one did. */
  proxyProduct?: string;
  startedAt: string;
  ms: number;
};

export function ok(code: string, detail: string, extra: Partial<Verdict> = {}): Verdict {
  return { ok: true, code, detail, ...extra };
}

export function warn(code: string, detail: string, hint?: string): Verdict {
  return hint === undefined ? { ok: true, warn: true, code, detail } : { ok: true, warn: true, code, detail, hint };
}

export function fail(code: string, detail: string, hint?: string): Verdict {
  return hint === undefined ? { ok: false, code, detail } : { ok: false, code, detail, hint };
}
