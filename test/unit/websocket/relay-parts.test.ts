// The relay's pure-ish parts: how a message is split into fragments, and its deflater, whose output an inflater
// with the same negotiated parameters (the peer's) reads message after message, with and without context takeover.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DisplayInflater } from '../../../src/websocket/deflate.ts';
import { directionParams, RelayDeflater } from '../../../src/websocket/relay-deflate.ts';
import { fragmentSizes } from '../../../src/websocket/relay-writer.ts';

test('fragmentSizes: as even as possible, never an empty fragment unless the message is empty', () => {
  assert.deepEqual(fragmentSizes(10, 3), [4, 3, 3]);
  assert.deepEqual(fragmentSizes(10, 1), [10]);
  assert.deepEqual(fragmentSizes(3, 7), [1, 1, 1]);
  assert.deepEqual(fragmentSizes(0, 4), [0]);
  assert.deepEqual(fragmentSizes(5, 0), [5]);
  for (let n = 1; n < 20; n++) {
    const sizes = fragmentSizes(1000, n);
    assert.equal(sizes.length, n);
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      1000,
    );
  }
});

test('directionParams: client→server uses the client_* parameters, server→client the server_* ones', () => {
  const params = {
    clientMaxWindowBits: 10,
    serverMaxWindowBits: 12,
    clientNoContextTakeover: true,
    serverNoContextTakeover: false,
  };
  assert.deepEqual(directionParams(params, 'toUpstream'), { windowBits: 10, noContextTakeover: true });
  assert.deepEqual(directionParams(params, 'toClient'), { windowBits: 12, noContextTakeover: false });
});

for (const windowBits of [8, 9, 11, 15]) {
  for (const noContextTakeover of [false, true]) {
    test(`RelayDeflater: window bits ${windowBits}, context takeover ${noContextTakeover ? 'off' : 'on'}`, () => {
      const deflater = new RelayDeflater({ windowBits, noContextTakeover });
      const inflater = new DisplayInflater({ windowBits, noContextTakeover, maxDecodedBytes: 1 << 20 });
      const texts = Array.from({ length: 8 }, (_, i) => `{"type":"typing","n":${i},"who":"${'ada '.repeat(40)}"}`);
      const sizes: number[] = [];
      for (const text of texts) {
        const compressed = deflater.deflate(Buffer.from(text));
        // RFC 7692 §7.2.1: the 00 00 ff ff tail is not sent.
        assert.notDeepEqual([...compressed.subarray(-4)], [0, 0, 0xff, 0xff]);
        sizes.push(compressed.length);
        const out = inflater.inflate(compressed);
        assert.ok(out.ok, out.ok ? '' : out.detail);
        assert.equal(out.data.toString(), text);
      }
      // With context takeover a repeated message refers back to the previous ones and shrinks.
      if (!noContextTakeover && windowBits >= 11) assert.ok(sizes[1]! < sizes[0]!, `${sizes}`);
    });
  }
}
