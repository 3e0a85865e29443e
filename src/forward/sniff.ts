// What a client speaks inside a CONNECT tunnel, from its first bytes: a TLS handshake record (a ClientHello),
// an HTTP/1.x request line (so a ws:// handshake can be parsed and observed), or something else (SSH, a database
// protocol, HTTP/2 with prior knowledge), which is tunnelled blindly. Pure: bytes in, a verdict out.

export type SniffResult = 'tls' | 'http' | 'opaque' | 'incomplete';

/** Long enough for any request line a listener accepts; past this a parser will answer 414 itself. */
export const MAX_SNIFF_BYTES = 8 * 1024;

// RFC 9110 §9.1: a method is a token; every registered method is upper-case letters (and "-"), none longer than
// this. Anything else ("ping", a binary header) is decided as opaque at once instead of waiting for a space.
const MAX_METHOD = 24;
const METHOD_CHAR = /^[A-Z_-]$/;

/**
 * TLS: a handshake record (type 22) of version 3.x (RFC 8446 §5.1; SSL 3.0 to TLS 1.3 all put 3 there).
 * HTTP: `METHOD SP request-target SP HTTP/1.x CRLF`. HTTP/2's preface ("PRI * HTTP/2.0") is opaque: it is not
 * HTTP/1 and cannot be parsed as such.
 */
export function sniffFirstBytes(buf: Uint8Array): SniffResult {
  if (buf.length === 0) return 'incomplete';
  if (buf[0] === 0x16) {
    if (buf.length < 2) return 'incomplete';
    return buf[1] === 0x03 ? 'tls' : 'opaque';
  }
  const limit = Math.min(buf.length, MAX_SNIFF_BYTES);
  let i = 0;
  while (i < limit && i <= MAX_METHOD && METHOD_CHAR.test(String.fromCharCode(buf[i]!))) i += 1;
  if (i > MAX_METHOD) return 'opaque';
  if (i === limit) return 'incomplete';
  if (i === 0 || buf[i] !== 0x20) return 'opaque';
  if (String.fromCharCode(...buf.subarray(0, i)) === 'PRI') return 'opaque';
  const lineEnd = indexOfLf(buf, i, limit);
  if (lineEnd === -1) return buf.length >= MAX_SNIFF_BYTES ? 'http' : 'incomplete';
  const line = Buffer.from(buf.subarray(0, lineEnd)).toString('latin1').replace(/\r$/, '');
  return /^[A-Z_-]+ [^\s]+ HTTP\/1\.[01]$/.test(line) ? 'http' : 'opaque';
}

function indexOfLf(buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i += 1) if (buf[i] === 0x0a) return i;
  return -1;
}
