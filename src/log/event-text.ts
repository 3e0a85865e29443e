// What one WebSocket event of a log line says, in a line for people: the body that `wsgate tail` puts after its
// time and connection, and that a pretty main log prints in place of the event's fields for the events that come
// once per frame or message and a connection's end (log/pretty.ts). Pure: a parsed line in, text out; every string
// from the wire is shown escaped.

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

const STYLE = {
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
  magenta: [35, 39],
  bold: [1, 22],
} as const;

type Style = keyof typeof STYLE;

export function paint(on: boolean, style: Style, text: string): string {
  if (!on) return text;
  const [open, close] = STYLE[style];
  return `\x1b[${open}m${text}\x1b[${close}m`;
}

/**
 * Control bytes in logged values are shown escaped, never sent raw to the terminal: C0 and C1 controls, DEL, the
 * line separators and the bidi controls (escape.ts says why each).
 */
function safe(text: string): string {
  return text.replace(
    /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export type EventLine = Record<string, unknown>;

/**
 * The main log's lines about a handshake that did not open. A traffic file of its own has one ws.failed line for
 * each instead (and none of these), so `wsgate run --log-format json | wsgate tail` shows failures too.
 */
export const HANDSHAKE_FAILURES: ReadonlySet<string> = new Set([
  'ws.no_route',
  'ws.ambiguous_path',
  'ws.misdirected',
  'ws.origin_denied',
  'ws.refused',
  'ws.upstream_error',
  'ws.handshake_timeout',
  'ws.handshake.bad_accept',
  'ws.client_gone',
  'upgrade.denied',
  'upgrade.rate_limited',
  'upgrade.client_rate_limited',
]);

/**
 * The main log's lines about a forward listener's CONNECT that did not open its tunnel: a wss:// through the proxy
 * (or a ws:// with a CONNECT) fails here before any handshake, so `wsgate tail` shows them with the handshakes.
 * tls.handshake_failed is one when it names a `target`: an intercepted tunnel whose client refused wsgate's
 * certificate, the first thing that goes wrong with interception (a TLS listener's own, without one, stays out).
 */
export const TUNNEL_FAILURES: ReadonlySet<string> = new Set([
  'connect.auth_required',
  'connect.bad_target',
  'connect.loop',
  'connect.denied',
  'connect.upstream_error',
  'tls.handshake_failed',
]);

/** Whether a line is one `wsgate tail` shows: a WebSocket event, a handshake's or a tunnel's failure, a fault. */
export function isShownEvent(event: string): boolean {
  return (
    event.startsWith('ws.') || HANDSHAKE_FAILURES.has(event) || TUNNEL_FAILURES.has(event) || event === 'connect.fault'
  );
}

/** A traffic line's `conn`; a main-log line's own id (`ws` inside a tunnel, whose id is `id`). */
export function connOf(line: EventLine): string {
  return str(line.conn ?? line.ws ?? line.id);
}

export function str(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined ? '' : String(v);
}

function arrow(dir: unknown, color: boolean): string {
  return dir === 'toUpstream' ? paint(color, 'cyan', '→') : paint(color, 'magenta', '←');
}

export type EventTextOptions = {
  color: boolean;
  /** Characters of a preview shown before it is cut with "…" (the log itself keeps previewBytes). */
  maxPreview?: number | undefined;
};

/** The text of a ws.* event or a main-log handshake failure, or undefined for any other line. */
export function wsEventText(line: EventLine, options: EventTextOptions): string | undefined {
  const event = str(line.event);
  const c = options.color;
  let body: string | undefined;
  switch (event) {
    case 'ws.open': {
      const extras = [line.protocol, line.extensions].filter((x) => typeof x === 'string' && x !== '').join(', ');
      body = `${paint(c, 'green', '● open')} ${safe(str(line.path))} → ${safe(str(line.upstream))}${extras ? ` (${safe(extras)})` : ''} [${str(line.route)}, tap ${str(line.tap)}]`;
      break;
    }
    case 'ws.failed': {
      // Refused before a route was chosen: no upstream, and the listener in the route's place.
      const to = line.upstream === undefined ? '' : ` → ${safe(str(line.upstream))}`;
      body = `${paint(c, 'red', `✕ handshake failed ${str(line.status)}`)} ${safe(str(line.path))}${to}: ${safe(str(line.reason))} [${str(line.route ?? line.listener)}]`;
      break;
    }
    case 'ws.frame':
      body = `${arrow(line.dir, c)} ${paint(c, 'dim', `frame ${str(line.opcode)} ${formatBytes(Number(line.length))}${line.fin ? '' : ' (more)'}${line.rsv1 ? ' rsv1' : ''}`)}`;
      break;
    case 'ws.message': {
      const size = formatBytes(Number(line.decodedSize ?? line.size));
      const kind = str(line.kind).padEnd(6);
      let detail = '';
      if (line.code !== undefined)
        detail = ` ${str(line.code)}${line.reason ? ` ${safe(JSON.stringify(line.reason))}` : ''}`;
      else if (line.rttMs !== undefined) detail = ` rtt ${str(line.rttMs)} ms`;
      else if (typeof line.preview === 'string') {
        const shown = line.kind === 'text' ? safe(JSON.stringify(line.preview)) : safe(line.preview);
        const max = options.maxPreview ?? 200;
        detail = ` ${shown.length > max ? cut(shown, max) : `${shown}${line.truncated ? '…' : ''}`}`;
      }
      if (line.note) detail += paint(c, 'yellow', ` (${safe(str(line.note))})`);
      // Neither peer sent it: an admin send, an inject rule or a keepalive ping.
      if (line.origin === 'wsgate') detail += paint(c, 'yellow', ' (sent by wsgate)');
      const frag = Number(line.fragments) > 1 ? ` ${str(line.fragments)} frames` : '';
      body = `${arrow(line.dir, c)} ${kind} ${size.padStart(9)}${line.compressed ? ' deflate' : ''}${frag}${detail}`;
      break;
    }
    case 'ws.violation':
      body = `${arrow(line.dir, c)} ${paint(c, 'red', `violation ${str(line.code)}: ${safe(str(line.message))} (${str(line.rule)}, close ${str(line.closeCode)})`)}`;
      break;
    case 'ws.rule': {
      const mark = typeof line.mark === 'string' ? ` ${paint(c, 'bold', `[${safe(line.mark)}]`)}` : '';
      body = `${arrow(line.dir, c)} ${paint(c, 'yellow', `rule ${safe(str(line.rule))} ${safe(str(line.action))}`)}: ${safe(str(line.detail))}${mark}`;
      break;
    }
    case 'ws.close': {
      const up = (line.toUpstream as { bytes?: number; messages?: number } | undefined) ?? {};
      const down = (line.toClient as { bytes?: number; messages?: number } | undefined) ?? {};
      const code = `${str(line.closeCode)}${line.closeReason ? ` ${safe(JSON.stringify(line.closeReason))}` : ''}`;
      const style: Style = line.clean ? 'green' : 'yellow';
      body = `${paint(c, style, '■ closed')} by ${str(line.endedBy)} (${str(line.how)}, ${str(line.termination)}) code ${code} after ${str(line.durationMs)} ms; → ${up.messages ?? 0} msgs ${formatBytes(up.bytes ?? 0)}, ← ${down.messages ?? 0} msgs ${formatBytes(down.bytes ?? 0)}`;
      break;
    }
    case 'ws.handshake.unoffered_protocol': {
      // The 101 went on and the connection opens, but the client will fail it (RFC 6455 §4.1): a warning, not a
      // handshake failure, so yellow like a fault, with what was selected and what the client had offered.
      const offered = typeof line.offeredProtocol === 'string' ? safe(line.offeredProtocol) : 'none';
      body = `${paint(c, 'yellow', `⚠ unoffered subprotocol ${safe(str(line.protocol))}`)} from ${safe(str(line.upstream))} (the client offered ${offered}): the client will fail the connection [${str(line.route)}]`;
      break;
    }
    case 'ws.fault':
    case 'connect.fault':
      body = `${paint(c, 'yellow', `fault ${safe(str(line.fault))}`)}: ${safe(str(line.msg))}`;
      break;
    default: {
      const what = HANDSHAKE_FAILURES.has(event) ? 'handshake' : TUNNEL_FAILURES.has(event) ? 'tunnel' : undefined;
      if (what === undefined) return undefined;
      // A TLS listener's failed handshake (no CONNECT target) is a scanner's as often as a client's: not a tunnel.
      if (event === 'tls.handshake_failed' && line.target === undefined) return undefined;
      const code = line.code === undefined ? '' : ` [${safe(str(line.code))}]`;
      body = `${paint(c, 'red', `✕ ${what}`)} ${safe(str(line.msg))}${code}`;
    }
  }
  return body;
}
