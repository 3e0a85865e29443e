// Fuzzing header blocks on every entry kind: names and values with odd bytes, separators and line ends, duplicate
// or missing Host, bodies after the head. Whatever arrives, wsgate answers with a well-formed status (or closes)
// in time, survives and stays healthy.
import fc from 'fast-check';
import type { Entry } from '../helpers/entry-kinds.ts';
import { anyBytes, latin1, lineEnd, pathish, token, unicode } from './arbitraries.ts';
import { fuzzRequestsOnEveryEntry } from './support.ts';

const NAMES = [
  'Content-Length',
  'Transfer-Encoding',
  'Host',
  'Connection',
  'Upgrade',
  'Sec-WebSocket-Key',
  'Sec-WebSocket-Version',
  'Sec-WebSocket-Protocol',
  'Sec-WebSocket-Extensions',
  'Origin',
  'Expect',
  'Keep-Alive',
  'TE',
  'Trailer',
  'Proxy-Connection',
  'Proxy-Authorization',
  'Authorization',
  'X-Forwarded-For',
  'X-Forwarded-Proto',
  'X-Forwarded-Host',
  'Forwarded',
  'Via',
  'Cookie',
  'content-length',
  'CONTENT-LENGTH',
  'Content-Length ',
  ' Host',
  'Transfer-Encoding\t',
];

const VALUES = [
  '0',
  '5',
  '-1',
  '1e3',
  '0x10',
  '18446744073709551616',
  '5, 5',
  '5,6',
  'chunked',
  'Chunked',
  'gzip, chunked',
  'chunked, gzip',
  'identity',
  ' chunked',
  'close',
  'keep-alive',
  'Upgrade',
  'upgrade, close',
  'close, X-Forwarded-For, Authorization',
  'websocket',
  'h2c',
  'WebSocket, h2c',
  '13',
  '8',
  'dGhlIHNhbXBsZSBub25jZQ==',
  'x',
  'permessage-deflate; client_max_window_bits',
  'permessage-deflate; server_max_window_bits=7',
  '100-continue',
  '127.0.0.1',
  'for=1.2.3.4;proto=https',
  'evil.test',
  'http://evil.test',
  'null',
  '',
];

const headerLine = fc.record({
  name: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...NAMES) },
    { weight: 2, arbitrary: token(16) },
    { weight: 1, arbitrary: anyBytes(8) },
  ),
  sep: fc.oneof(
    { weight: 8, arbitrary: fc.constant(': ') },
    { weight: 1, arbitrary: fc.constantFrom(':', ' : ', ':\t', '', '::', ': \r\n ', ':\r\n\t') },
  ),
  value: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...VALUES) },
    { weight: 2, arbitrary: fc.string({ maxLength: 20 }) },
    { weight: 1, arbitrary: anyBytes(12) },
    { weight: 1, arbitrary: unicode(4) },
  ),
});

type HeaderBlock = {
  method: string;
  path: string;
  host: 'entry' | 'none' | 'twice' | 'other';
  headers: { name: string; sep: string; value: string }[];
  eol: string;
  body: string;
};

const headerBlock: fc.Arbitrary<HeaderBlock> = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'HEAD', 'OPTIONS'),
  path: pathish,
  host: fc.constantFrom('entry', 'entry', 'none', 'twice', 'other'),
  headers: fc.array(headerLine, { maxLength: 12 }),
  eol: lineEnd,
  body: fc.oneof(
    { weight: 3, arbitrary: fc.constant('') },
    {
      weight: 1,
      arbitrary: fc.constantFrom('hello', '0\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n', 'GET /x HTTP/1.1\r\n\r\n'),
    },
    { weight: 1, arbitrary: anyBytes(24) },
  ),
});

function requestBytes(entry: Entry, h: HeaderBlock): Buffer {
  const lines = [`${h.method} ${entry.target(`/${h.path.replace(/[\s\x00-\x1f\x7f]/g, '')}`)} HTTP/1.1`];
  if (h.host === 'entry' || h.host === 'twice') lines.push(`Host: ${entry.host}`);
  if (h.host === 'twice') lines.push(`Host: other.test`);
  if (h.host === 'other') lines.push('Host: other.test');
  for (const { name, sep, value } of h.headers) lines.push(`${name}${sep}${value}`);
  return latin1(`${lines.join(h.eol)}${h.eol}${h.eol}${h.body}`);
}

fuzzRequestsOnEveryEntry('header blocks', { arbitrary: headerBlock, runs: 60, seconds: 1, bytes: requestBytes });
