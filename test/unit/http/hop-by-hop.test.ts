import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectionOptions, stripHopByHop } from '../../../src/http/hop-by-hop.ts';

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
