// `wsgate check`: validates a config file without starting anything, and prints the resolved config
// (defaults filled, ${VAR}s substituted) or every error with its file:line:col. With --explain URL it
// also says which route each listener would pick for that URL, and why.
import { existsSync } from 'node:fs';
import { stringify } from 'yaml';
import { redactConfigForDisplay } from '../config/display.ts';
import { loadConfigFile } from '../config/load.ts';
import type { RouteUpstream } from '../config/resolve.ts';
import type { Config } from '../config/schema.ts';
import { WsgateError } from '../errors.ts';
import { selfCheckedAddress, selfLoopError } from '../forward/dial.ts';
import { compilePolicy } from '../forward/policy.ts';
import { checkCouldWrite } from '../log/logger.ts';
import { compileHostMatcher } from '../net/host-pattern.ts';
import { formatHostPort } from '../net/host-port.ts';
import { pacUrlFor } from '../net/pac-result.ts';
import { createUrlRedactor } from '../net/url-credentials.ts';
import { compileRoutes, headerMisses, headersNotGiven, matchRoute } from '../reverse/match.ts';
import { compileRules, type RuleSet } from '../rules/rule-set.ts';
import { loadConfigTls } from '../tls/config-tls.ts';
import { loadPacScripts, type PacScript } from '../upstream/pac.ts';
import { type Output, parseCommandArgs } from './args.ts';
import { DEFAULT_CONFIG } from './run.ts';

export const CHECK_HELP = `Usage: wsgate check [-c FILE] [--explain URL [-H 'Name: value']...] [--quiet]

Validates a config file and prints the resolved configuration (defaults filled in,
\${VAR}s substituted), or every error with its file:line:col. Exit 0 when valid, 2 when not.

Options:
  -c, --config FILE   YAML config file (default ${DEFAULT_CONFIG})
      --explain URL   show the route each listener picks for this URL, and why
  -H, --header H      with --explain: a request header "Name: value" (repeatable), for
                      routes that match on headers
  -q, --quiet         print nothing when the file is valid
  -h, --help          show this help
`;

export async function checkCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parseCommandArgs('check', argv, {
    config: { type: 'string', short: 'c' },
    explain: { type: 'string' },
    header: { type: 'string', short: 'H', multiple: true },
    quiet: { type: 'boolean', short: 'q' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.out(CHECK_HELP);
    return 0;
  }
  // Alone, the headers would be dropped without a word, and the check would read as if they had been tried.
  if (values.header !== undefined && values.explain === undefined) {
    throw new WsgateError('WSG_USAGE', {
      detail: 'check: -H/--header goes with --explain URL: the headers of the request it explains',
    });
  }
  const file = values.config ?? DEFAULT_CONFIG;
  // As `run` says it: the file nobody named is the default, looked for in the directory the command runs in.
  if (values.config === undefined && !existsSync(file)) {
    throw new WsgateError('WSG_USAGE', {
      detail: `check: no config file given and ${DEFAULT_CONFIG} does not exist here; use -c FILE`,
    });
  }
  const config = await loadConfigFile(file);
  // The certificate, key and CA files it names must be readable and belong together, as `run` requires.
  await loadConfigTls(config);
  // And the log files: writable, or creatable where they are missing. A check writes nothing, not even those.
  for (const log of [config.log.file, config.log.traffic]) if (log !== undefined) checkCouldWrite(log);
  // So must the PAC scripts of proxies[].pac (read or fetched, compiled, tried once).
  const pac = await loadPacScripts(config.proxies);
  try {
    return await checkLoaded(config, file, values, pac, io);
  } finally {
    for (const script of pac.values()) script.dispose();
  }
}

async function checkLoaded(
  config: Config,
  file: string,
  values: { explain?: string | undefined; header?: string[] | undefined; quiet?: boolean | undefined },
  pac: ReadonlyMap<string, PacScript>,
  io: Output,
): Promise<number> {
  // URLs are printed as logs show them: no password or token unless log.showSecrets.
  const shown = config.log.showSecrets ? (text: string) => text : createUrlRedactor(config.log.redactQueryParams);
  if (values.explain !== undefined) {
    let url: URL;
    try {
      url = new URL(values.explain);
    } catch {
      throw new WsgateError('WSG_USAGE', { detail: `check: --explain needs an absolute URL, not "${values.explain}"` });
    }
    const given = headersOf(values.header ?? []);
    const port = portOf(url);
    const rules = compileRules(config.rules);
    for (const line of await explainPac(config, pac, url)) io.out(shown(line));
    for (const listener of config.listeners) {
      if (listener.forward !== undefined) {
        io.out(`${listener.name}: ${explainForward(listener.forward, listener.bind, url)}`);
        const secure = url.protocol === 'https:' || url.protocol === 'wss:';
        for (const line of explainRules(
          rules,
          url,
          listener.name,
          `${listener.name}/${secure ? 'tunnel' : 'forward'}`,
          listener.rules,
        ))
          io.out(shown(line));
        continue;
      }
      // A Host given with -H wins over the URL's, as curl sends it (a name the DNS does not know yet, say).
      const host = given['host'] ?? url.host;
      const compiled = compileRoutes<(typeof listener.routes)[number]>(listener.routes);
      const request = { host, path: url.pathname + url.search, headers: { ...given, host } };
      const result = matchRoute(compiled, request);
      // A listener on another port would not get this URL straight from a client, but may behind a balancer.
      const where =
        listener.bind.port === port || listener.bind.port === 0
          ? ''
          : ` (on port ${listener.bind.port}, not the URL's ${port})`;
      io.out(
        shown(
          `${listener.name}${where}: ${result.why}${result.route ? ` → ${upstreamText(result.route.upstream)}` : ''}`,
        ),
      );
      const unasked = headersNotGiven(compiled, request, result.route).map(
        (r) => `route "${r.route.name}" (${r.headers.join(', ')})`,
      );
      if (unasked.length > 0) {
        io.out(
          `  note: ${unasked.join(', ')} match${unasked.length === 1 ? 'es' : ''} on headers not given: add -H 'Name: value' to try ${unasked.length === 1 ? 'it' : 'them'}`,
        );
      }
      // A header given with another value than a route wants: said, or the answer looks like the route was ignored.
      for (const miss of headerMisses(compiled, request, result.route)) io.out(shown(`  not taken: ${miss}`));
      if (result.route !== undefined) {
        for (const line of explainRules(rules, url, listener.name, result.route.name, result.route.rules))
          io.out(shown(line));
      }
    }
    return 0;
  }
  if (!values.quiet) {
    const display = redactConfigForDisplay(config, config.log.showSecrets, config.log.redactQueryParams);
    io.out(
      `# ${file} is valid; resolved configuration (secrets redacted unless log.showSecrets):\n${stringify(display)}`,
    );
  }
  return 0;
}

type ForwardBlock = NonNullable<Config['listeners'][number]['forward']>;

/** `-H 'Name: value'`, as curl takes it: names lower-cased, a repeated name's values joined as Node joins them. */
function headersOf(lines: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim().toLowerCase() : '';
    if (name === '' || /[^!#$%&'*+.^_`|~0-9a-z-]/.test(name)) {
      throw new WsgateError('WSG_USAGE', { detail: `check: --header needs "Name: value", not "${line}"` });
    }
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
}

function portOf(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' || url.protocol === 'wss:' ? 443 : 80;
}

/** What each PAC proxy's script answers for this URL (ws and wss asked as http and https, as browsers do). */
async function explainPac(config: Config, pac: ReadonlyMap<string, PacScript>, url: URL): Promise<string[]> {
  const lines: string[] = [];
  const asked = url.protocol === 'ws:' || url.protocol === 'wss:' ? pacUrlFor(url) : url.href;
  for (const proxy of config.proxies) {
    const script = pac.get(proxy.name);
    if (script === undefined) continue;
    try {
      const answer = await script.find(asked, url.hostname.replace(/^\[|\]$/g, ''));
      lines.push(`proxy ${proxy.name} (PAC ${proxy.pac}): FindProxyForURL answers ${JSON.stringify(answer)}`);
    } catch (err) {
      lines.push(`proxy ${proxy.name} (PAC ${proxy.pac}): the script failed (${(err as Error).message}); direct`);
    }
  }
  return lines;
}

/** The rules a connection to this URL would get on this route or forward listener, each with why (docs/rules.md). */
function explainRules(rules: RuleSet, url: URL, listener: string, route: string, names: readonly string[]): string[] {
  if (names.length === 0) return ['  rules: none'];
  const facts = {
    listener,
    route,
    host: url.hostname.replace(/^\[|\]$/g, '').toLowerCase(),
    port: portOf(url),
    path: url.pathname,
  };
  return rules.explain(facts, names).map((e) => {
    const verdict = !e.applies ? 'does not apply' : e.relays ? 'applies (relayed: message rules)' : 'applies';
    return `  rule ${e.rule} ${verdict}: ${e.why}`;
  });
}

/**
 * What a forward listener would do with a request for this URL: the policy verdict for its host and port, then the
 * loop check the dialer makes (a destination that is the listener's own address is answered 508).
 */
function explainForward(forward: ForwardBlock, bind: { host: string; port: number }, url: URL): string {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = portOf(url);
  const verdict = compilePolicy(forward).checkTarget(host, port);
  const how = url.protocol === 'https:' || url.protocol === 'wss:' ? 'CONNECT tunnel' : 'absolute-form request';
  // The host is bare for the policy; the authority shown brackets an IPv6 one, as every other message does.
  const authority = formatHostPort(host, port);
  if (!verdict.ok) {
    return `forward proxy: ${how} to ${authority} is refused with 403 (${verdict.reason}: ${verdict.detail})`;
  }
  const address = selfCheckedAddress(host);
  const loop = address === undefined ? undefined : selfLoopError(bind, { host, port }, address);
  if (loop !== undefined) {
    return `forward proxy: ${how} to ${authority} is refused with ${loop.status} (${loop.message})`;
  }
  // What a tunnel shows is what a user debugging wss:// asks first: decrypted and tapped, or host and byte counts.
  const tunnel =
    how !== 'CONNECT tunnel'
      ? ''
      : compileHostMatcher(forward.intercept ?? [])(host)
        ? '; TLS intercepted (forward.intercept): requests and WebSocket frames are seen'
        : '; TLS not intercepted (no forward.intercept entry matches): only the host and byte counts are seen';
  return `forward proxy: ${how} to ${authority} is allowed (names are checked again once resolved)${tunnel}`;
}

/** One URL, or an upstream's servers and how one is picked; and the PROXY header its connections start with. */
function upstreamText(upstream: RouteUpstream): string {
  const header = upstream.proxyProtocol === undefined ? '' : ` (sends PROXY ${upstream.proxyProtocol})`;
  return `${serversText(upstream)}${header}`;
}

function serversText(upstream: RouteUpstream): string {
  if (upstream.pool === undefined) return upstream.url;
  const { servers, weights, backups, balance } = upstream.pool;
  const server = (url: string) => {
    const notes = [
      ...(weights === undefined ? [] : [`weight ${weights[url]}`]),
      ...(backups?.includes(url) ? ['backup'] : []),
    ];
    return notes.length === 0 ? url : `${url} (${notes.join(', ')})`;
  };
  return `${upstream.name}: ${servers.map(server).join(', ')}; ${balance}`;
}
