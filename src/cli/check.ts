// `wsgate check`: validates a config file without starting anything, and prints the resolved config
// (defaults filled, ${VAR}s substituted) or every error with its file:line:col. With --explain URL it
// also says which route each listener would pick for that URL, and why.
import { stringify } from 'yaml';
import { redactConfigForDisplay } from '../config/display.ts';
import { loadConfigFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { WsgateError } from '../errors.ts';
import { compilePolicy } from '../forward/policy.ts';
import { createUrlRedactor } from '../net/url-credentials.ts';
import { compileRoutes, matchRoute } from '../reverse/match.ts';
import { loadConfigTls } from '../tls/config-tls.ts';
import { type Output, parseCommandArgs } from './args.ts';
import { DEFAULT_CONFIG } from './run.ts';

export const CHECK_HELP = `Usage: wsgate check [-c FILE] [--explain URL] [--quiet]

Validates a config file and prints the resolved configuration (defaults filled in,
\${VAR}s substituted), or every error with its file:line:col. Exit 0 when valid, 2 when not.

Options:
  -c, --config FILE   YAML config file (default ${DEFAULT_CONFIG})
      --explain URL   show the route each listener picks for this URL, and why
  -q, --quiet         print nothing when the file is valid
  -h, --help          show this help
`;

export async function checkCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parseCommandArgs('check', argv, {
    config: { type: 'string', short: 'c' },
    explain: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.out(CHECK_HELP);
    return 0;
  }
  const file = values.config ?? DEFAULT_CONFIG;
  const config = await loadConfigFile(file);
  // The certificate, key and CA files it names must be readable and belong together, as `run` requires.
  await loadConfigTls(config);
  // URLs are printed as logs show them: no password or token unless log.showSecrets.
  const shown = config.log.showSecrets ? (text: string) => text : createUrlRedactor(config.log.redactQueryParams);
  if (values.explain !== undefined) {
    let url: URL;
    try {
      url = new URL(values.explain);
    } catch {
      throw new WsgateError('WSG_USAGE', { detail: `check: --explain needs an absolute URL, not "${values.explain}"` });
    }
    for (const listener of config.listeners) {
      if (listener.forward !== undefined) {
        io.out(`${listener.name}: ${explainForward(listener.forward, url)}`);
        continue;
      }
      const result = matchRoute(compileRoutes<(typeof listener.routes)[number]>(listener.routes), {
        host: url.host,
        path: url.pathname + url.search,
        headers: { host: url.host },
      });
      io.out(shown(`${listener.name}: ${result.why}${result.route ? ` → ${result.route.upstream.url}` : ''}`));
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

/** What a forward listener would do with a request for this URL: the policy verdict for its host and port. */
function explainForward(forward: ForwardBlock, url: URL): string {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' || url.protocol === 'wss:' ? 443 : 80;
  const verdict = compilePolicy(forward).checkTarget(host, port);
  const how = url.protocol === 'https:' || url.protocol === 'wss:' ? 'CONNECT tunnel' : 'absolute-form request';
  return verdict.ok
    ? `forward proxy: ${how} to ${host}:${port} is allowed (names are checked again once resolved)`
    : `forward proxy: ${how} to ${host}:${port} is refused with 403 (${verdict.reason}: ${verdict.detail})`;
}
