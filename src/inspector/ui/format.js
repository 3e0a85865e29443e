// Formatting shared by the inspector and the /demo page: sizes, times, hex dumps, close codes and their meaning
// (RFC 6455 §7.4.1 and the IANA registry), and base64/UTF-8 conversions. Pure functions, no DOM.

const CLOSE_CODES = {
  1000: 'normal closure',
  1001: 'going away (server shutdown or page navigated away)',
  1002: 'protocol error',
  1003: 'unsupported data (a type the endpoint cannot accept)',
  1004: 'reserved',
  1005: 'no status code present (never on the wire)',
  1006: 'abnormal closure: no close frame (never on the wire)',
  1007: 'invalid frame payload data (e.g. text that is not UTF-8)',
  1008: 'policy violation',
  1009: 'message too big',
  1010: 'mandatory extension missing (client)',
  1011: 'internal error (server)',
  1012: 'service restart',
  1013: 'try again later',
  1014: 'bad gateway',
  1015: 'TLS handshake failure (never on the wire)',
};

/** What a close code means, for people. */
export function closeMeaning(code) {
  if (code === undefined || code === null) return '';
  const known = CLOSE_CODES[code];
  if (known) return known;
  if (code >= 3000 && code <= 3999) return 'registered for libraries and frameworks';
  if (code >= 4000 && code <= 4999) return 'private use (application-defined)';
  return 'not a valid close code';
}

export function formatBytes(n) {
  if (n === undefined || n === null) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatDuration(ms) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${Math.floor(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} m`;
}

/** hh:mm:ss.mmm in local time. */
export function formatTime(time) {
  const d = new Date(time);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** A classic hex dump: offset, 16 bytes in hex, the printable ASCII. At most maxBytes are shown. */
export function hexDump(bytes, maxBytes = 64 * 1024) {
  const lines = [];
  const end = Math.min(bytes.length, maxBytes);
  for (let off = 0; off < end; off += 16) {
    const row = bytes.subarray(off, Math.min(off + 16, end));
    let hex = '';
    let ascii = '';
    for (let i = 0; i < 16; i++) {
      if (i < row.length) {
        hex += row[i].toString(16).padStart(2, '0') + (i === 7 ? '  ' : ' ');
        ascii += row[i] >= 0x20 && row[i] < 0x7f ? String.fromCharCode(row[i]) : '.';
      } else hex += i === 7 ? '    ' : '   ';
    }
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex} |${ascii}|`);
  }
  if (bytes.length > end) lines.push(`… ${bytes.length - end} more bytes`);
  return lines.join('\n');
}

export function hexToBytes(hex) {
  // The message is shown to the user as it is: it names what to fix (the first wrong character counts from 1 in
  // the box as typed, spaces and colons included).
  const bad = /[^0-9a-f\s:]/i.exec(hex);
  if (bad !== null) throw new Error(`"${bad[0]}" (character ${bad.index + 1}) is not a hex digit`);
  const clean = hex.replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0) throw new Error(`${clean.length} hex digits: bytes need an even number`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function bytesToHex(bytes, max = 32) {
  let s = '';
  for (let i = 0; i < Math.min(bytes.length, max); i++) s += bytes[i].toString(16).padStart(2, '0');
  return bytes.length > max ? `${s}…` : s;
}

export function base64ToBytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToBase64(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** Parses text as JSON when it looks like an object or array; undefined otherwise. */
export function tryJson(text) {
  if (typeof text !== 'string') return undefined;
  const t = text.trimStart();
  if (!t.startsWith('{') && !t.startsWith('[')) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A forward listener's routes are "<listener>/forward" and "<listener>/tunnel" (forward/state.ts routeName). */
function isForwardRoute(c) {
  return (
    c.route !== undefined &&
    /\/(forward|tunnel)$/.test(c.route) &&
    (c.listener === undefined || c.route.startsWith(`${c.listener}/`))
  );
}

/**
 * Where a connection went, for its row: listener/route behind a reverse listener; what the client asked for behind
 * a forward listener and for a handshake refused before a route was chosen (host and path; an absolute-form
 * request, GET ws://host/path, has its host in its path already).
 */
export function placeOf(c) {
  if (c.host && (c.route === undefined || isForwardRoute(c) || c.listener === undefined)) {
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(c.path ?? '') ? c.path : `${c.host}${c.path ?? ''}`;
  }
  if (c.route === undefined) return `${c.listener ? `${c.listener} ` : ''}${c.path ?? ''}`;
  return `${c.listener ? `${c.listener}/` : ''}${c.route}`;
}

/**
 * What the connection filter searches, lower-case: the filter box here and `GET /api/connections?text=` on the
 * server (traffic/records.ts connectionText, which a unit test keeps equal to this).
 */
export function connectionSearchText(c) {
  return [
    c.id,
    c.state,
    c.listener,
    c.route,
    c.host,
    c.path,
    c.client,
    c.peer,
    c.upstream,
    c.server,
    c.subprotocol,
    c.extensions,
    c.end?.termination,
    c.end?.closeCode,
    c.failure?.status,
    c.failure?.code,
    c.failure?.reason,
  ]
    .filter((v) => v !== undefined && v !== null)
    .join(' ')
    .toLowerCase();
}
