// Generators shared by the fuzzers: pieces of HTTP/1.1 that parsers and URL code disagree about (odd methods,
// percent escapes, dot segments, control bytes, non-ASCII, bare LF, obs-fold, duplicated framing headers), and
// WebSocket frames with any header bits and lengths. Each piece is bytes, so a generated request can hold byte
// values a string would re-encode.
import fc from 'fast-check';

/** Bytes as fast-check shows them: a latin1 string keeps every byte visible and shrinkable. */
export const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

const TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** A token (RFC 9110 §5.6.2), possibly empty. */
export const token = (maxLength = 12) => fc.string({ unit: fc.constantFrom(...TCHAR.split('')), maxLength });

/** Any byte string (each character one byte, 0x00-0xFF). */
export const anyBytes = (maxLength = 16) =>
  fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((b) => String.fromCharCode(b)), maxLength });

/** Text that is not latin1: encoded as UTF-8 on the wire. */
export const unicode = (maxLength = 4) =>
  fc.string({ unit: 'grapheme', maxLength }).map((s) => Buffer.from(s, 'utf8').toString('latin1'));

export const method = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE') },
  { weight: 1, arbitrary: fc.constantFrom('CONNECT', 'PRI', 'get', 'G\x00T', 'GET ', ' GET') },
  { weight: 1, arbitrary: token(10) },
  { weight: 1, arbitrary: anyBytes(8) },
);

const PATH_PIECES = [
  '/',
  '//',
  '.',
  '..',
  '/../',
  '/./',
  '%',
  '%2',
  '%2e',
  '%2E%2E',
  '%2f',
  '%5c',
  '%00',
  '%zz',
  '%%',
  '?',
  '#',
  '\\',
  '@',
  ':',
  ';',
  '~',
  '[',
  ']',
  '{}',
  '|',
  '^',
  '`',
  '"',
  '<>',
  'a',
  'api',
  '*',
  'http://',
  'user:pw@',
  '\t',
  ' ',
  '\x7f',
  '\x00',
  '\r',
  '\n',
];

/** Path-like text: the pieces URL parsers treat specially, joined with a little of anything. */
export const pathish = fc
  .array(
    fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...PATH_PIECES) },
      { weight: 2, arbitrary: token(6) },
      { weight: 1, arbitrary: anyBytes(3) },
      { weight: 1, arbitrary: unicode(2) },
    ),
    { maxLength: 12 },
  )
  .map((pieces) => pieces.join(''));

/** Host-like text for authorities: names, IP forms (numeric, hex, short, IPv6, mapped), junk. */
export const hostish = fc.oneof(
  fc.constantFrom(
    'example.test',
    'localhost',
    '127.0.0.1',
    '127.1',
    '2130706433',
    '0x7f.1',
    '0177.0.0.1',
    '[::1]',
    '[::ffff:127.0.0.1]',
    '[::1',
    '::1',
    '[fe80::1%25eth0]',
    '0.0.0.0',
    '169.254.169.254',
    'user@example.test',
    'a b',
    'a\x00b',
    '',
    '.',
    'xn--',
    '*.test',
  ),
  token(12),
  anyBytes(8),
);

export const portish = fc.oneof(
  fc.constantFrom('', ':', ':0', ':80', ':443', ':65535', ':65536', ':-1', ':443x', ':0x50', ': 80', ':99999999999'),
  fc.integer({ min: 0, max: 70_000 }).map((p) => `:${p}`),
  anyBytes(4).map((s) => `:${s}`),
);

export const version = fc.oneof(
  { weight: 6, arbitrary: fc.constant('HTTP/1.1') },
  {
    weight: 2,
    arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.10', 'http/1.1', 'HTTP/1.1 ', 'HTTP/', ''),
  },
  { weight: 1, arbitrary: anyBytes(10) },
);

export const lineEnd = fc.oneof(
  { weight: 8, arbitrary: fc.constant('\r\n') },
  { weight: 1, arbitrary: fc.constant('\n') },
);

export type FrameSpec = {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  maskKey: number[];
  payload: number[];
  /** Claimed length instead of the payload's (a lie: the stream then misframes), or undefined. */
  claim: number | undefined;
};

/** One WebSocket frame with any header bits: mostly well formed, sometimes not at all. */
export const frameSpec = (masked: boolean): fc.Arbitrary<FrameSpec> =>
  fc.record({
    fin: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    rsv: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 7 }) }),
    opcode: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(0x1, 0x2, 0x0, 0x8, 0x9, 0xa) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) },
    ),
    masked: fc.oneof({ weight: 8, arbitrary: fc.constant(masked) }, { weight: 1, arbitrary: fc.constant(!masked) }),
    maskKey: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }),
    payload: fc.oneof(
      { weight: 4, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }) },
      {
        weight: 1,
        arbitrary: fc.array(fc.constantFrom(0x61, 0xc0, 0xaf, 0xe2, 0x82, 0xac, 0x03, 0xe8), { maxLength: 8 }),
      },
      { weight: 1, arbitrary: fc.integer({ min: 126, max: 70_000 }).map((n) => new Array<number>(n).fill(0x41)) },
    ),
    claim: fc.oneof(
      { weight: 12, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constantFrom(126, 65_535, 65_536, 2 ** 32, 2 ** 53, 2 ** 63) },
    ),
  });

/** The frame's bytes: header in the form its (claimed) length needs, then the payload, masked when the spec says. */
export function encodeFrameSpec(f: FrameSpec): Buffer {
  const length = f.claim ?? f.payload.length;
  const header: number[] = [(f.fin ? 0x80 : 0) | (f.rsv << 4) | f.opcode];
  const maskBit = f.masked ? 0x80 : 0;
  if (length < 126) header.push(maskBit | length);
  else if (length <= 0xffff) header.push(maskBit | 126, length >>> 8, length & 0xff);
  else {
    header.push(maskBit | 127);
    const big = BigInt(Math.min(length, 2 ** 64 - 1));
    for (let i = 7; i >= 0; i--) header.push(Number((big >> BigInt(i * 8)) & 0xffn));
  }
  if (f.masked) header.push(...f.maskKey);
  const payload = Buffer.from(f.payload);
  if (f.masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= f.maskKey[i & 3]!;
  return Buffer.concat([Buffer.from(header), payload]);
}

/** Cuts `bytes` at the given points (any order, duplicates and out-of-range points ignored). */
export function splitAt(bytes: Buffer, points: number[]): Buffer[] {
  const cuts = [...new Set(points.map((p) => p % (bytes.length + 1)))].filter((p) => p > 0 && p < bytes.length);
  cuts.sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    parts.push(bytes.subarray(from, cut));
    from = cut;
  }
  return parts.filter((p) => p.length > 0);
}
