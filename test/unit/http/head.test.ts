import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  countHeaderLines,
  headerTokens,
  headerValue,
  parseResponseHead,
  rawToPairs,
  serializeRequestHead,
  serializeResponseHead,
} from '../../../src/http/head.ts';

test('parseResponseHead waits for the blank line, then gives status, headers and head length', () => {
  const full = Buffer.from('HTTP/1.1 407 Proxy Authentication Required\r\nA:  1 \r\nb: 2\r\n\r\nbody', 'latin1');
  for (let cut = 0; cut < full.length - 4; cut++) {
    assert.equal(parseResponseHead(full.subarray(0, cut), 16384).state, 'incomplete', `cut ${cut}`);
  }
  const result = parseResponseHead(full, 16384);
  assert.equal(result.state, 'complete');
  if (result.state !== 'complete') return;
  assert.deepEqual(result.head, {
    httpVersion: '1.1',
    statusCode: 407,
    statusMessage: 'Proxy Authentication Required',
    headers: [
      ['A', '1'],
      ['b', '2'],
    ],
    length: full.length - 4,
  });
});

test('parseResponseHead rejects garbage and oversized heads', () => {
  assert.equal(parseResponseHead(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'), 1024).state, 'invalid');
  assert.equal(parseResponseHead(Buffer.from('HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n'), 1024).state, 'invalid');
  assert.equal(parseResponseHead(Buffer.from('HTTP/1.1 200 OK\r\nX: y\r\n\r\n'), 10).state, 'invalid');
  assert.equal(parseResponseHead(Buffer.alloc(2048, 65), 1024).state, 'invalid');
});

test('serializeRequestHead refuses CR/LF in values, so nothing can be smuggled into the head', () => {
  assert.equal(serializeRequestHead('GET', '/x', [['A', 'b']]), 'GET /x HTTP/1.1\r\nA: b\r\n\r\n');
  assert.throws(() => serializeRequestHead('GET', '/x', [['A', 'b\r\nEvil: 1']]));
});

test('serializeResponseHead writes the status line and headers in order, and refuses line breaks too', () => {
  assert.equal(
    serializeResponseHead(403, 'Forbidden', [
      ['B', '2'],
      ['a', '1'],
    ]),
    'HTTP/1.1 403 Forbidden\r\nB: 2\r\na: 1\r\n\r\n',
  );
  assert.throws(() => serializeResponseHead(200, 'OK\r\nEvil: 1', []));
  assert.throws(() => serializeResponseHead(200, 'OK', [['A\n', 'b']]));
});

test('header helpers: raw pairs, comma-separated tokens, joined values', () => {
  const pairs = rawToPairs(['Upgrade', 'WebSocket', 'connection', 'keep-alive', 'Connection', 'Upgrade']);
  assert.deepEqual(pairs, [
    ['Upgrade', 'WebSocket'],
    ['connection', 'keep-alive'],
    ['Connection', 'Upgrade'],
  ]);
  assert.equal(headerValue(pairs, 'connection'), 'keep-alive, Upgrade');
  assert.equal(headerValue(pairs, 'origin'), undefined);
  assert.deepEqual(headerTokens(headerValue(pairs, 'connection')), ['keep-alive', 'upgrade']);
  assert.deepEqual(headerTokens([' A ,', ',b']), ['a', 'b']);
  assert.deepEqual(headerTokens(undefined), []);
});

test('countHeaderLines counts every raw line of a name in any case, values never', () => {
  const raw = ['Host', 'a.test', 'X-Host', 'host', 'host', 'b.test', 'HOST', 'a.test', 'Accept', '*/*'];
  assert.equal(countHeaderLines(raw, 'host'), 3);
  assert.equal(countHeaderLines(raw, 'accept'), 1);
  assert.equal(countHeaderLines(raw, 'origin'), 0);
  assert.equal(countHeaderLines(undefined, 'host'), 0);
});

test('parseResponseHead refuses a bare CR, a bare LF or a NUL anywhere in the head (RFC 9112 §2.2)', () => {
  const ok = 'HTTP/1.1 403 Forbidden\r\nX: a\r\n\r\n';
  assert.equal(parseResponseHead(Buffer.from(ok, 'latin1'), 16384).state, 'complete');
  for (const bad of ['X: a\nInjected: yes', 'X: a\rb', 'X: a\0b', 'X: a\r\rb']) {
    const text = `HTTP/1.1 403 Forbidden\r\n${bad}\r\nContent-Length: 0\r\n\r\n`;
    const result = parseResponseHead(Buffer.from(text, 'latin1'), 16384);
    assert.equal(result.state, 'invalid', JSON.stringify(bad));
  }
  assert.equal(parseResponseHead(Buffer.from('HTTP/1.1 403 No\rpe\r\n\r\n', 'latin1'), 16384).state, 'invalid');
  // Lines ended by bare LFs: invalid as soon as one is seen, not incomplete until the handshake times out.
  const lfOnly = parseResponseHead(Buffer.from('HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n\n'), 16384);
  assert.equal(lfOnly.state, 'invalid');
  // A CR at the end of what arrived so far is half a CRLF: more bytes are awaited.
  assert.equal(parseResponseHead(Buffer.from('HTTP/1.1 101 Switching Protocols\r'), 16384).state, 'incomplete');
  assert.equal(
    parseResponseHead(Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n'), 16384).state,
    'incomplete',
  );
});
