// `wsgate upstreams`: a running wsgate's upstreams with several servers, through its admin API, as HAProxy's
// `show servers state` prints them, and the drain / ready / close calls of a rolling deploy from a shell without
// curl and jq. Talks only to the admin API it is given (loopback by default), with its token when there is one.
import { parseDuration } from '../config/units.ts';
import { WsgateError } from '../errors.ts';
import { isValidCloseCode, MAX_CLOSE_REASON_BYTES } from '../websocket/close.ts';
import { type Output, parseCommandArgs } from './args.ts';

export const UPSTREAMS_HELP = `Usage: wsgate upstreams [--admin URL] [--json]
       wsgate upstreams drain UPSTREAM SERVER [--close-after DURATION]
       wsgate upstreams ready UPSTREAM SERVER
       wsgate upstreams close UPSTREAM SERVER [--code N] [--reason TEXT]

Shows a running wsgate's upstreams with several servers (upstreams[].servers): each
server's state (ready, or draining), what health checks say, whether it is skipped
after a failure, its open WebSockets and failed connections. drain takes a server out
of the rotation (no new connections; those open stay), with --close-after closing what
is still open after that long; ready puts it back; close closes its open WebSockets
now (1012 Service Restart: clients reconnect to the others). SERVER is its index in
servers (0, 1, …) or its URL. Through the admin API (docs/admin-api.md).

Options:
  --admin URL            the admin API (default $WSGATE_ADMIN or http://127.0.0.1:9090)
  --token TOKEN          its token, if it has one (default $WSGATE_ADMIN_TOKEN)
  --close-after DURATION with drain: close what is still open then, e.g. 5m
  --code N, --reason T   with close: the close code (default 1012) and reason
  --json                 print the admin API's JSON answer as it is
  -h, --help             show this help

Exit codes: 0 ok, 1 the admin API failed or refused the call, 2 usage error.
`;

type ServerRow = {
  index: number;
  url: string;
  weight: number;
  backup: boolean;
  state: string;
  health: string;
  skipped: boolean;
  skippedForMs: number;
  open: number;
  failures: number;
  closeAt?: string;
};

type UpstreamRow = { name: string; balance: string; ready: number; servers: ServerRow[] };

type Call = { method: 'GET' | 'PUT' | 'POST'; path: string; body?: unknown };

const ACTIONS = ['drain', 'ready', 'close'] as const;

export async function upstreamsCommand(argv: string[], io: Output): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'upstreams',
    argv,
    {
      admin: { type: 'string' },
      token: { type: 'string' },
      'close-after': { type: 'string' },
      code: { type: 'string' },
      reason: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (values.help) {
    io.out(UPSTREAMS_HELP);
    return 0;
  }
  const admin = adminUrl(values.admin ?? process.env['WSGATE_ADMIN'] ?? 'http://127.0.0.1:9090');
  const token = values.token ?? process.env['WSGATE_ADMIN_TOKEN'];
  const call = callOf(positionals, values);
  const answer = await request(admin, token, call);
  if (values.json) io.out(JSON.stringify(answer, null, 2));
  else if (call.method === 'GET') io.out(renderUpstreams((answer as { upstreams: UpstreamRow[] }).upstreams));
  else io.out(describeAnswer(positionals[0]!, positionals[1]!, positionals[2]!, answer));
  return 0;
}

function usage(detail: string): WsgateError {
  return new WsgateError('WSG_USAGE', { detail: `upstreams: ${detail}` });
}

function adminUrl(text: string): URL {
  try {
    const url = new URL(text.includes('://') ? text : `http://${text}`);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(url.protocol);
    return url;
  } catch {
    throw usage(`--admin must be the admin API's URL, e.g. http://127.0.0.1:9090, not "${text}"`);
  }
}

function callOf(positionals: string[], values: Record<string, string | boolean | undefined>): Call {
  const [action, upstream, server, ...extra] = positionals;
  if (action === undefined) {
    for (const flag of ['close-after', 'code', 'reason']) {
      if (values[flag] !== undefined) throw usage(`--${flag} goes with an action (drain or close)`);
    }
    return { method: 'GET', path: '/api/upstreams' };
  }
  if (!(ACTIONS as readonly string[]).includes(action)) {
    throw usage(`unknown action "${action}"; the actions are ${ACTIONS.join(', ')}`);
  }
  if (upstream === undefined || server === undefined || extra.length > 0) {
    throw usage(`${action} takes an upstream's name and a server (its index or URL)`);
  }
  const path = `/api/upstreams/${encodeURIComponent(upstream)}/servers/${encodeURIComponent(server)}`;
  if (action !== 'drain' && values['close-after'] !== undefined) throw usage('--close-after goes with drain');
  if (action !== 'close' && (values['code'] !== undefined || values['reason'] !== undefined)) {
    throw usage('--code and --reason go with close');
  }
  if (action === 'close') {
    const code = values['code'] === undefined ? undefined : Number(values['code']);
    // Checked here as the admin API checks them: a value it would refuse is a usage error (exit 2), not a failed call.
    if (code !== undefined && !(Number.isInteger(code) && isValidCloseCode(code)))
      throw usage(
        `--code must be a close code a peer may send (1000-1003, 1007-1014, 3000-4999), not "${values['code']}"`,
      );
    const reason = values['reason'];
    if (typeof reason === 'string' && Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) {
      throw usage(`--reason must be at most ${MAX_CLOSE_REASON_BYTES} bytes (RFC 6455 §5.5)`);
    }
    return {
      method: 'POST',
      path: `${path}/close`,
      body: {
        ...(code === undefined ? {} : { code }),
        ...(values['reason'] === undefined ? {} : { reason: values['reason'] }),
      },
    };
  }
  const closeAfter = values['close-after'];
  if (typeof closeAfter === 'string') {
    const parsed = parseDuration(closeAfter);
    if (!parsed.ok) throw usage(`--close-after: ${parsed.message}`);
  }
  return {
    method: 'PUT',
    path,
    body: { state: action, ...(closeAfter === undefined ? {} : { closeAfter }) },
  };
}

async function request(admin: URL, token: string | undefined, call: Call): Promise<unknown> {
  const url = new URL(call.path, admin);
  const headers: Record<string, string> = {};
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (call.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, {
      method: call.method,
      headers,
      ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
      signal: AbortSignal.timeout(10_000),
    });
    text = await response.text();
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new WsgateError('WSG_ADMIN_UNREACHABLE', { url: url.href, detail: cause });
  }
  const json = parseJson(text);
  if (!response.ok) {
    const message = apiErrorMessage(json);
    if (message === undefined) throw notWsgate(url, `${response.status} ${bodyOf(response, text)}`);
    const fix = response.status === 401 ? ' (give its token with --token or $WSGATE_ADMIN_TOKEN)' : '';
    throw new WsgateError('WSG_ADMIN_CALL', { url: url.href, detail: `answered ${response.status}: ${message}${fix}` });
  }
  // Another server at the address may answer 200 too: the answer must have the shape this call's answer has.
  if (!answerFits(call, json)) throw notWsgate(url, `${response.status} ${bodyOf(response, text)}`);
  return json;
}

function notWsgate(url: URL, detail: string): WsgateError {
  return new WsgateError('WSG_ADMIN_NOT_WSGATE', { url: url.href, detail: `answered ${detail}` });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The message of the admin API's coded error answer ({ "error": { "code": "WSG_…", "message" } }), if it is one. */
function apiErrorMessage(json: unknown): string | undefined {
  const error = isObject(json) ? json['error'] : undefined;
  if (!isObject(error) || typeof error['code'] !== 'string' || !error['code'].startsWith('WSG_')) return undefined;
  return typeof error['message'] === 'string' ? error['message'] : error['code'];
}

const isUpstreamRow = (value: unknown): value is UpstreamRow =>
  isObject(value) && typeof value['name'] === 'string' && Array.isArray(value['servers']);

function answerFits(call: Call, json: unknown): boolean {
  if (!isObject(json)) return false;
  if (call.method === 'GET') return Array.isArray(json['upstreams']) && json['upstreams'].every(isUpstreamRow);
  if (call.method === 'PUT') return typeof json['changed'] === 'boolean' && isUpstreamRow(json['upstream']);
  return typeof json['closed'] === 'number' && typeof json['code'] === 'number';
}

/** What came back, short and printable: its type and the start of the body as a JSON string. */
function bodyOf(response: Response, text: string): string {
  const type = response.headers.get('content-type')?.split(';')[0];
  const start = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return `${type === undefined ? 'without a content type' : `with ${type}`}${text === '' ? ' and no body' : ` ${JSON.stringify(start)}`}`;
}

function pad(cells: string[][]): string {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return cells
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The pools as a table per upstream, for a person. */
export function renderUpstreams(upstreams: readonly UpstreamRow[], now = Date.now()): string {
  if (upstreams.length === 0) return 'no upstream with several servers (upstreams[].servers) is used by a route';
  return upstreams
    .map((u) => {
      const rows = u.servers.map((s) => {
        const flags = [s.backup ? 'backup' : '', s.weight !== 1 ? `weight ${s.weight}` : ''].filter(Boolean);
        const deadline =
          s.closeAt === undefined
            ? ''
            : `, closes open in ${Math.max(0, Math.ceil((Date.parse(s.closeAt) - now) / 1000))} s`;
        return [
          String(s.index),
          s.url + (flags.length > 0 ? ` (${flags.join(', ')})` : ''),
          s.state === 'drain' ? `draining${deadline}` : 'ready',
          s.health,
          s.skipped ? `skipped ${Math.ceil(s.skippedForMs / 1000)} s` : '-',
          String(s.open),
          String(s.failures),
        ];
      });
      const table = pad([['#', 'server', 'state', 'health', 'skipped', 'open', 'failed'], ...rows]);
      return `${u.name} (${u.balance}, ${u.ready} of ${u.servers.length} ready)\n${table}`;
    })
    .join('\n\n');
}

function describeAnswer(action: string, upstream: string, server: string, answer: unknown): string {
  if (action === 'close') {
    const { closed, code } = answer as { closed: number; code: number };
    return `closed ${closed} open WebSocket${closed === 1 ? '' : 's'} to server ${server} of ${upstream} (${code})`;
  }
  const { changed, upstream: view } = answer as { changed: boolean; upstream: UpstreamRow };
  const verb = action === 'drain' ? 'drained' : 'ready';
  return `${changed ? '' : 'already '}${verb}: server ${server} of ${upstream}\n\n${renderUpstreams([view])}`;
}
