import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkUpgradeRequest,
  checkUpgradeResponse,
  computeAcceptKey,
  parseResponseHead,
  serializeRequestHead,
  stripHopByHop,
} from '../../../src/websocket/handshake.ts';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const good = {
  method: 'GET',
  httpVersion: '1.1',
  headers: { upgrade: 'websocket', connection: 'keep-alive, Upgrade', 'sec-websocket-key': KEY },
};

test('RFC 6455 §1.3 sample key gives the sample accept value', () => {
  assert.equal(computeAcceptKey(KEY), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

test('checkUpgradeRequest accepts a valid handshake and names what is wrong otherwise', () => {
  assert.deepEqual(checkUpgradeRequest(good), { ok: true, key: KEY });
  const cases: [Partial<typeof good> & { headers?: Record<string, string> }, RegExp][] = [
    [{ headers: { ...good.headers, upgrade: 'h2c' } }, /h2c/],
    [{ method: 'POST' }, /GET/],
    [{ httpVersion: '1.0' }, /HTTP\/1\.1/],
    [{ headers: { ...good.headers, connection: 'keep-alive' } }, /Connection/],
    [{ headers: { ...good.headers, 'content-length': '5' } }, /body/],
    [{ headers: { ...good.headers, 'transfer-encoding': 'chunked' } }, /body/],
    [{ headers: { ...good.headers, 'sec-websocket-key': 'short' } }, /16 bytes/],
  ];
  for (const [change, why] of cases) {
    const result = checkUpgradeRequest({ ...good, ...change });
    assert.equal(result.ok, false);
    assert.match((result as { detail: string }).detail, why);
  }
});

test('stripHopByHop drops hop-by-hop headers and those Connection names, keeping order and case', () => {
  const out = stripHopByHop([
    ['Host', 'a'],
    ['Connection', 'Upgrade, X-Private'],
    ['X-Private', 'secret'],
    ['Keep-Alive', 'timeout=5'],
    ['Proxy-Authorization', 'Basic x'],
    ['Sec-WebSocket-Extensions', 'permessage-deflate'],
    ['Upgrade', 'websocket'],
    ['Origin', 'https://o.test'],
  ]);
  assert.deepEqual(out, [
    ['Host', 'a'],
    ['Sec-WebSocket-Extensions', 'permessage-deflate'],
    ['Origin', 'https://o.test'],
  ]);
});

test('parseResponseHead waits for the blank line, then gives status, headers and head length', () => {
  const text = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAcceptKey(KEY)}\r\n\r\n\x81\x00`;
  const full = Buffer.from(text, 'latin1');
  for (let cut = 0; cut < full.length - 2; cut++) {
    assert.equal(parseResponseHead(full.subarray(0, cut), 16384).state, 'incomplete', `cut ${cut}`);
  }
  const result = parseResponseHead(full, 16384);
  assert.equal(result.state, 'complete');
  if (result.state !== 'complete') return;
  assert.equal(result.head.statusCode, 101);
  assert.equal(result.head.length, full.length - 2, 'frame bytes after the head are not part of it');
  assert.deepEqual(checkUpgradeResponse(result.head, KEY), { ok: true });
  assert.equal(checkUpgradeResponse(result.head, 'AAAAAAAAAAAAAAAAAAAAAA==').ok, false);
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
