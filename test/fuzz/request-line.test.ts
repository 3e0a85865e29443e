// Fuzzing request lines on every entry kind: methods, separators, targets (origin-form, absolute-form with odd
// hosts and ports, paths with dots and encodings), versions and line ends. The class of input that once stopped
// the process (targets Node's parser accepts but a URL parser rejects) lives here. Whatever arrives, wsgate
// answers with a well-formed status (or closes) in time, survives and stays healthy.
import fc from 'fast-check';
import type { Entry } from '../helpers/entry-kinds.ts';
import { hostish, latin1, lineEnd, method, pathish, portish, version } from './arbitraries.ts';
import { fuzzRequestsOnEveryEntry } from './support.ts';

type RequestLine = {
  method: string;
  form: 'origin' | 'own-absolute' | 'absolute' | 'authority' | 'asterisk' | 'raw';
  path: string;
  host: string;
  port: string;
  scheme: string;
  sep: string;
  version: string;
  eol: string;
};

const requestLine: fc.Arbitrary<RequestLine> = fc.record({
  method,
  form: fc.constantFrom('origin', 'own-absolute', 'absolute', 'authority', 'asterisk', 'raw'),
  path: pathish,
  host: hostish,
  port: portish,
  scheme: fc.constantFrom('http://', 'https://', 'ws://', 'wss://', 'HTTP://', 'ftp://', '//', 'http:/', 'http:'),
  sep: fc.oneof({ weight: 8, arbitrary: fc.constant(' ') }, { weight: 1, arbitrary: fc.constantFrom('  ', '\t', '') }),
  version,
  eol: lineEnd,
});

function target(entry: Entry, r: RequestLine): string {
  switch (r.form) {
    case 'origin':
      return entry.target(`/${r.path}`);
    case 'own-absolute':
      return `${r.scheme}${entry.host}/${r.path}`;
    case 'absolute':
      return `${r.scheme}${r.host}${r.port}/${r.path}`;
    case 'authority':
      return `${r.host}${r.port}`;
    case 'asterisk':
      return '*';
    case 'raw':
      return r.path;
  }
}

function requestBytes(entry: Entry, r: RequestLine): Buffer {
  const line = `${r.method}${r.sep}${target(entry, r)}${r.sep}${r.version}`;
  return latin1(`${line}${r.eol}Host: ${entry.host}${r.eol}Connection: close${r.eol}${r.eol}`);
}

fuzzRequestsOnEveryEntry('request lines', { arbitrary: requestLine, runs: 60, seconds: 1, bytes: requestBytes });
