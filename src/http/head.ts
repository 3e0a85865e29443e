// HTTP/1.1 message heads as wsgate reads and writes them on raw sockets: header pairs in wire order, header
// token lists, parsing a response head from the first bytes of a stream, and writing request and response heads.
// Pure: node:http parses what arrives at a listener; this is for the sockets wsgate holds itself (an upstream's
// answer to an Upgrade, an upstream proxy's answer to CONNECT) and for heads written byte for byte.

/** Header fields as [name, value] in the order and case they were sent; duplicates stay separate entries. */
export type HeaderPairs = [name: string, value: string][];

/** node:http's rawHeaders ([name, value, name, value, …]) as pairs. */
export function rawToPairs(raw: readonly string[]): HeaderPairs {
  const pairs: HeaderPairs = [];
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!]);
  return pairs;
}

/** A header object (undici's) as pairs, each value of a repeated field its own pair. */
export function objectToPairs(headers: Record<string, string | string[] | undefined>): HeaderPairs {
  const pairs: HeaderPairs = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) pairs.push([name, v]);
  }
  return pairs;
}

/**
 * How many lines of a header (name lower-cased) node:http's rawHeaders hold: repeated lines of the fields Node
 * keeps only once in `headers` (Host) are seen only here.
 */
export function countHeaderLines(raw: readonly string[] | undefined, name: string): number {
  let count = 0;
  for (let i = 0; raw !== undefined && i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === name.length && n.toLowerCase() === name) count++;
  }
  return count;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A header value as people read it. node:http gives header bytes as latin1 text, one character per byte, so a UTF-8
 * value ("café") arrives as "cafÃ©"; shown as the UTF-8 it is when its bytes are valid UTF-8, else as received.
 * For logs and the inspector only: what is forwarded keeps the bytes (written back as latin1).
 */
export function readableHeaderValue(value: string): string {
  if (!/[^\x00-\x7f]/.test(value)) return value;
  try {
    return UTF8.decode(Buffer.from(value, 'latin1'));
  } catch {
    return value;
  }
}

/** Lower-cased tokens of a comma-separated header such as Connection or Upgrade. */
export function headerTokens(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const joined = Array.isArray(value) ? value.join(',') : value;
  return joined
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t.length > 0);
}

/** The values of a header (name lower-cased), joined as RFC 9110 §5.3 allows; undefined when absent. */
export function headerValue(pairs: HeaderPairs, name: string): string | undefined {
  // A loop, not filter/map: it runs several times per handshake, and the length test spares most lower-casing.
  let joined: string | undefined;
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!;
    const n = pair[0];
    if (n.length !== name.length || n.toLowerCase() !== name) continue;
    joined = joined === undefined ? pair[1] : `${joined}, ${pair[1]}`;
  }
  return joined;
}

export type ResponseHead = {
  statusCode: number;
  statusMessage: string;
  httpVersion: string;
  headers: HeaderPairs;
  /** Bytes the head took, including the blank line; what follows belongs to the body or the frames. */
  length: number;
};

export type ResponseHeadResult =
  | { state: 'incomplete' }
  | { state: 'invalid'; detail: string }
  | { state: 'complete'; head: ResponseHead };

const CRLFCRLF = Buffer.from('\r\n\r\n');
const BARE_CR_LF_NUL = /\r(?!\n)|(?<!\r)\n|\0/;

const bareCrLfNul = (): ResponseHeadResult => ({
  state: 'invalid',
  detail: 'a bare CR, a bare LF or a NUL in the response head',
});

/** Parses an HTTP/1.x response head from the start of `buf`; waits for more bytes until maxBytes. */
export function parseResponseHead(buf: Buffer, maxBytes: number): ResponseHeadResult {
  const end = buf.indexOf(CRLFCRLF);
  if (end === -1) {
    if (buf.length > maxBytes) return { state: 'invalid', detail: `response head larger than ${maxBytes} bytes` };
    // A head whose lines end in bare LFs never gets its CRLFCRLF: said now, not after handshakeTimeout. A CR that
    // ends what arrived so far may be the first half of a CRLF, so it waits for the next byte.
    const partial = buf.toString('latin1', 0, buf.at(-1) === 0x0d ? buf.length - 1 : buf.length);
    return BARE_CR_LF_NUL.test(partial) ? bareCrLfNul() : { state: 'incomplete' };
  }
  if (end + 4 > maxBytes) return { state: 'invalid', detail: `response head larger than ${maxBytes} bytes` };
  const text = buf.toString('latin1', 0, end);
  // RFC 9112 §2.2 and RFC 9110 §5.5: a bare CR, a bare LF or a NUL makes the head invalid. Lines are split at CRLF
  // here, but a client may end a line at a bare LF: a head relayed with one would hold lines nobody checked.
  if (BARE_CR_LF_NUL.test(text)) return bareCrLfNul();
  const lines = text.split('\r\n');
  const status = /^HTTP\/(1\.[01]) (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!status) return { state: 'invalid', detail: `bad status line ${JSON.stringify((lines[0] ?? '').slice(0, 80))}` };
  const headers: HeaderPairs = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    // RFC 9112 §5: no whitespace before the colon, and obsolete line folding is rejected.
    if (colon <= 0 || /[\s]/.test(line.slice(0, colon))) {
      return { state: 'invalid', detail: `bad header line ${JSON.stringify(line.slice(0, 80))}` };
    }
    headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return {
    state: 'complete',
    head: {
      httpVersion: status[1]!,
      statusCode: Number(status[2]),
      statusMessage: status[3] ?? '',
      headers,
      length: end + 4,
    },
  };
}

/** Header values must not smuggle a line break into the head we write. */
function assertSafe(text: string): string {
  if (/[\r\n\0]/.test(text)) throw new Error('header text contains CR, LF or NUL');
  return text;
}

/**
 * A request head as text. Header values node:http parsed are latin1 text (one character per byte): a head made of
 * them is written as latin1, so the bytes go on as they came.
 */
export function serializeRequestHead(method: string, target: string, headers: HeaderPairs): string {
  return joinHead(`${assertSafe(method)} ${assertSafe(target)} HTTP/1.1\r\n`, headers);
}

/** A response head as text; as for a request head, written as latin1 when its values were read as latin1. */
export function serializeResponseHead(statusCode: number, statusMessage: string, headers: HeaderPairs): string {
  return joinHead(`HTTP/1.1 ${statusCode} ${assertSafe(statusMessage)}\r\n`, headers);
}

/** The start line and the header fields, as one string. */
function joinHead(startLine: string, headers: HeaderPairs): string {
  // Pieces in an array of the final size, joined once: a string per line and a concatenation per header were most
  // of a handshake's garbage here.
  const parts = new Array<string>(headers.length * 4 + 2);
  parts[0] = startLine;
  let at = 1;
  for (let i = 0; i < headers.length; i++) {
    const pair = headers[i]!;
    parts[at++] = assertSafe(pair[0]);
    parts[at++] = ': ';
    parts[at++] = assertSafe(pair[1]);
    parts[at++] = '\r\n';
  }
  parts[at] = '\r\n';
  return parts.join('');
}
