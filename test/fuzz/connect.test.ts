// Fuzzing CONNECT requests on every entry kind: authority-form targets with odd hosts and ports, targets in other
// forms (a URL, a path, raw bytes), a missing or different Host, stray Proxy-Authorization. Inside a tunnel a
// CONNECT is a loop; on the listener's own socket it is judged. Whatever arrives, wsgate answers with a
// well-formed status (or closes) in time and stays healthy; forward entries can only dial their own sink.
import fc from 'fast-check';
import type { Entry } from '../helpers/entry-kinds.ts';
import { anyBytes, hostish, latin1, pathish, portish } from './arbitraries.ts';
import { fuzzRequestsOnEveryEntry } from './support.ts';

type ConnectTarget = {
  form: 'authority' | 'own' | 'scheme' | 'path' | 'raw';
  host: string;
  port: string;
  path: string;
  scheme: string;
  hostHeader: 'same' | 'none' | 'other';
  auth: string | undefined;
};

const connectTarget: fc.Arbitrary<ConnectTarget> = fc.record({
  form: fc.constantFrom('authority', 'authority', 'own', 'scheme', 'path', 'raw'),
  host: hostish,
  port: portish,
  path: pathish,
  scheme: fc.constantFrom('http://', 'https://', '//', 'ws://'),
  hostHeader: fc.constantFrom('same', 'same', 'none', 'other'),
  auth: fc.option(fc.oneof(fc.constantFrom('Basic dXNlcjpwdw==', 'Basic', 'Basic !!!', 'Bearer x'), anyBytes(12))),
});

function targetOf(entry: Entry, c: ConnectTarget): string {
  switch (c.form) {
    case 'authority':
      return `${c.host}${c.port}`;
    case 'own':
      return entry.host;
    case 'scheme':
      return `${c.scheme}${c.host}${c.port}/`;
    case 'path':
      return `${c.host}${c.port}/${c.path}`;
    case 'raw':
      return c.path;
  }
}

function requestBytes(entry: Entry, c: ConnectTarget): Buffer {
  const target = targetOf(entry, c);
  const lines = [`CONNECT ${target} HTTP/1.1`];
  if (c.hostHeader === 'same') lines.push(`Host: ${target}`);
  if (c.hostHeader === 'other') lines.push('Host: other.test:443');
  if (c.auth !== undefined) lines.push(`Proxy-Authorization: ${c.auth}`);
  return latin1(`${lines.join('\r\n')}\r\n\r\n`);
}

fuzzRequestsOnEveryEntry('CONNECT targets', { arbitrary: connectTarget, runs: 40, seconds: 0.6, bytes: requestBytes });
