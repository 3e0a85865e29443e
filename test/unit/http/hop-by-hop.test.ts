import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  connectionOptions,
  forwardedTe,
  relayedTrailers,
  stripHopByHop,
  stripRelayedResponse,
} from '../../../src/http/hop-by-hop.ts';

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

test('connectionOptions lists what Connection and Proxy-Connection name, but never Host', () => {
  assert.deepEqual([...connectionOptions('close, X-A', ['x-b', ' Host '])], ['close', 'x-a', 'x-b']);
  assert.deepEqual([...connectionOptions(undefined)], []);
});

test('stripRelayedResponse drops what Connection names and hop-by-hop fields, but keeps the body framing and Upgrade', () => {
  const out = stripRelayedResponse([
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade, X-Private, content-length'],
    ['X-Private', 'secret'],
    ['Keep-Alive', 'timeout=5'],
    ['proxy-connection', 'X-Legacy'],
    ['X-Legacy', '1'],
    ['Proxy-Authenticate', 'Basic'],
    ['TE', 'trailers'],
    ['Content-Length', '4'],
    ['x-private', 'again'],
    ['X-Kept', 'cafÃ©'],
  ]);
  assert.deepEqual(out, [
    ['Upgrade', 'websocket'],
    ['Content-Length', '4'],
    ['X-Kept', 'cafÃ©'],
  ]);
  const chunked: [string, string][] = [
    ['Transfer-Encoding', 'chunked'],
    ['Trailer', 'X-Check'],
  ];
  assert.deepEqual(stripRelayedResponse([['Connection', 'Transfer-Encoding, Trailer'], ...chunked]), chunked);
});

test('forwardedTe keeps only the trailers member of TE, whatever its case or place in the list', () => {
  assert.equal(forwardedTe('trailers'), 'trailers');
  assert.equal(forwardedTe('gzip;q=0.5, Trailers'), 'trailers');
  assert.equal(forwardedTe(['deflate', 'trailers']), 'trailers');
  assert.equal(forwardedTe('gzip, deflate'), undefined);
  assert.equal(forwardedTe('trailers;q=1'), undefined, 'trailers takes no parameters (RFC 9110 §10.1.4)');
  assert.equal(forwardedTe(undefined), undefined);
});

test('relayedTrailers keeps end-to-end trailer fields, not hop-by-hop or framing ones', () => {
  assert.deepEqual(
    relayedTrailers({
      'Grpc-Status': '0',
      'x-checksum': ['a', 'b'],
      'content-length': '9',
      connection: 'close',
      host: 'evil.test',
      'x-none': undefined,
    }),
    { 'grpc-status': '0', 'x-checksum': ['a', 'b'] },
  );
  assert.equal(relayedTrailers({}), undefined);
  assert.equal(relayedTrailers({ 'keep-alive': 'timeout=5' }), undefined);
});
