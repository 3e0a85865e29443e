import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseResponseHead } from '../../../src/http/head.ts';
import {
  checkUpgradeRequest,
  checkUpgradeResponse,
  computeAcceptKey,
  isOfferedProtocol,
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

test('checkUpgradeRequest refuses a second Host line, which node:http drops from headers but not from rawHeaders', () => {
  const raw = ['Host', 'a.test', 'Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Key', KEY];
  assert.deepEqual(checkUpgradeRequest({ ...good, rawHeaders: raw }), { ok: true, key: KEY });
  const result = checkUpgradeRequest({ ...good, rawHeaders: [...raw, 'host', 'b.test'] });
  assert.equal(result.ok, false);
  assert.match((result as { detail: string }).detail, /more than one Host/);
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

test('checkUpgradeResponse names a repeated Sec-WebSocket-Accept, even one right twice', () => {
  const accept = computeAcceptKey(KEY);
  const text = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nsec-websocket-accept: ${accept}\r\n\r\n`;
  const result = parseResponseHead(Buffer.from(text), 16384);
  assert.equal(result.state, 'complete');
  if (result.state !== 'complete') return;
  assert.deepEqual(checkUpgradeResponse(result.head, KEY), {
    ok: false,
    detail: 'Sec-WebSocket-Accept is sent more than once',
  });
});

test('isOfferedProtocol: the selected name exactly, as one item of the offered list (RFC 6455 §4.1)', () => {
  assert.equal(isOfferedProtocol('chat.v1', 'chat.v1'), true);
  assert.equal(isOfferedProtocol('b', 'a, b'), true);
  assert.equal(isOfferedProtocol('a', ' a ,b'), true);
  assert.equal(isOfferedProtocol('b', 'a,\tb\t'), true);
  assert.equal(isOfferedProtocol('b', ['a', 'x, b']), true);
  assert.equal(isOfferedProtocol('chat', 'chat.v1'), false, 'a prefix of an offered name is another name');
  assert.equal(isOfferedProtocol('chat.v1', 'chat'), false);
  assert.equal(isOfferedProtocol('Chat', 'chat'), false, 'names compare case-sensitively, as clients compare them');
  assert.equal(isOfferedProtocol('a, b', 'a, b'), false, 'a 101 selects one name, not a list');
  assert.equal(isOfferedProtocol('chat', undefined), false, 'the client offered none');
  assert.equal(isOfferedProtocol('', 'a,,b'), false, 'an empty selection is none of the offered');
  assert.equal(isOfferedProtocol('c', 'a,'), false);
});
