// `wsgate probe URL`: says why a WebSocket cannot get through, hop by hop, and what to change (probe/ does the
// work). Human output is one line per step, coloured and with a live progress line on a TTY only; --json prints the
// ProbeReport (docs/probe.md). Exit 0 when the WebSocket works end to end, 1 when it does not, 2 for usage errors.
import { readFileSync } from 'node:fs';
import { parseDuration } from '../config/units.ts';
import { WsgateError } from '../errors.ts';
import { terminalColor } from '../log/pretty.ts';
import { redactUrlPassword } from '../net/url-credentials.ts';
import { progressLine, renderStep, renderVerdict } from '../probe/render.ts';
import { type ProbeOptions, type ProbeProgress, parseProbeUrl, runProbe } from '../probe/run.ts';
import { type Output, parseCommandArgs, stdio } from './args.ts';

export const PROBE_HELP = `Usage: wsgate probe URL [options]

Tries to open a WebSocket to URL the way a browser would, step by step (path, DNS,
TCP, CONNECT through the proxy, TLS, the Upgrade, negotiation, a ping), and says
which step fails, why, and what to change.

Path (first that applies): --proxy, else --pac, else HTTPS_PROXY/HTTP_PROXY with
NO_PROXY, else direct.
  --proxy URL          go through this HTTP proxy (http://user:pass@host:port)
  --pac FILE|URL       evaluate this PAC script; its list is tried in order
  --no-proxy           go direct, whatever the environment says
  --tunnel             ws:// through a proxy with CONNECT (default: a GET to the
                       proxy, as most non-browser clients send it; wss:// always
                       uses CONNECT)

Handshake and TLS:
  --ca FILE            also trust this CA (PEM; repeatable)
  --insecure           go on past a failed certificate check (still reported)
  --subprotocol P      offer this subprotocol (repeatable)
  --header "K: V"      add a request header (repeatable)
  --origin O           send this Origin

After the handshake:
  --send TEXT          send a text message and wait for an answer
  --idle DURATION      stay silent this long (e.g. 90s) and report how the
                       connection ended: Close frame, or TCP FIN/RST without one
  --idle bisect        search the idle cut-off with fresh connections (bounded by
                       --timeout, default 2m for the search)
  --compare            also send the handshake directly and through the proxy,
                       and show what differs

Output:
  --timeout DURATION   longest wait of each step (default 10s)
  --json               print the report as JSON (docs/probe.md)
  -h, --help           show this help

Exit codes: 0 the WebSocket works end to end, 1 it does not, 2 usage error.
`;

function usage(detail: string): WsgateError {
  return new WsgateError('WSG_USAGE', { detail: `probe: ${detail}` });
}

function duration(flag: string, text: string): number {
  const parsed = parseDuration(text);
  if (!parsed.ok || parsed.value <= 0) throw usage(`${flag} takes a duration such as 500ms, 30s or 2m, not "${text}"`);
  return parsed.value;
}

function header(text: string): [string, string] {
  const colon = text.indexOf(':');
  const name = colon === -1 ? '' : text.slice(0, colon).trim();
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n\0]/.test(text)) {
    throw usage(`--header takes "Name: value", not "${text}"`);
  }
  return [name, text.slice(colon + 1).trim()];
}

function readCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw usage(`--ca ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Turns the command line into ProbeOptions; throws WSG_USAGE. */
export function probeOptions(argv: string[]): { options: ProbeOptions; json: boolean; help: boolean } {
  const { values, positionals } = parseCommandArgs(
    'probe',
    argv,
    {
      proxy: { type: 'string' },
      pac: { type: 'string' },
      'no-proxy': { type: 'boolean' },
      tunnel: { type: 'boolean' },
      ca: { type: 'string', multiple: true },
      insecure: { type: 'boolean' },
      subprotocol: { type: 'string', multiple: true },
      header: { type: 'string', multiple: true },
      origin: { type: 'string' },
      send: { type: 'string' },
      idle: { type: 'string' },
      compare: { type: 'boolean' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (values.help) return { options: { url: '' }, json: false, help: true };
  if (positionals.length !== 1)
    throw usage(positionals.length === 0 ? 'a ws:// or wss:// URL is required' : `one URL, not ${positionals.length}`);
  const chosen = [values.proxy !== undefined, values.pac !== undefined, values['no-proxy'] === true].filter(Boolean);
  if (chosen.length > 1) throw usage('give at most one of --proxy, --pac and --no-proxy');
  const options: ProbeOptions = {
    url: parseProbeUrl(positionals[0]!).href,
    proxy: values.proxy,
    pac: values.pac,
    noProxy: values['no-proxy'],
    tunnel: values.tunnel,
    ca: values.ca?.map(readCa),
    insecure: values.insecure,
    subprotocols: values.subprotocol,
    headers: values.header?.map(header),
    origin: values.origin,
    send: values.send,
    compare: values.compare,
  };
  if (values.idle !== undefined) options.idle = values.idle === 'bisect' ? 'bisect' : duration('--idle', values.idle);
  if (values.timeout !== undefined) options.timeoutMs = duration('--timeout', values.timeout);
  return { options, json: values.json === true, help: false };
}

/** A progress line on stderr while a step waits, rewritten in place (TTY only). */
function progressOnTty(): { onProgress: (p: ProbeProgress) => void; stop: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const clear = () => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
    process.stderr.write('\r\u001b[K');
  };
  return {
    onProgress: (p) => {
      if (p.phase === 'end') {
        clear();
        return;
      }
      const began = performance.now();
      const draw = () => process.stderr.write(`\r\u001b[K${progressLine(p.step, p.what, performance.now() - began)}`);
      clear();
      draw();
      timer = setInterval(draw, 100);
    },
    stop: clear,
  };
}

export async function probeCommand(argv: string[], io: Output): Promise<number> {
  const { options, json, help } = probeOptions(argv);
  if (help) {
    io.out(PROBE_HELP);
    return 0;
  }
  const tty = io === stdio && process.stdout.isTTY === true;
  const color = terminalColor(tty);
  const progress = io === stdio && process.stderr.isTTY === true && !json ? progressOnTty() : undefined;
  const shown = redactUrlPassword(options.url);
  if (!json) io.out(color ? `\u001b[1mwsgate probe ${shown}\u001b[0m` : `wsgate probe ${shown}`);
  const report = await runProbe({
    ...options,
    onProgress: (p) => {
      progress?.onProgress(p);
      // Lines as the steps finish, so a slow step shows what came before it.
      if (!json && p.phase === 'end') io.out(renderStep(p.result, { color }).join('\n'));
    },
  }).finally(() => progress?.stop());
  if (json) io.out(JSON.stringify(report, null, 2));
  else io.out(renderVerdict(report, { color }));
  return report.ok ? 0 : 1;
}
