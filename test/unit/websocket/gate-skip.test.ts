// The gated path with keepalive (TapSettings.gated): a pong that answers wsgate's own ping is left out of the
// forwarded stream, and every other byte passes in order, however the stream is cut into chunks (a pong split
// across chunks, several in one chunk, between the fragments of a message).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeFrame } from '../../../src/websocket/encoder.ts';
import { OPCODE } from '../../../src/websocket/frame.ts';
import { ConnectionObserver } from '../../../src/websocket/observer.ts';

const OURS = 'wsgate-keepalive-';

type Piece = { frame: Buffer; ours: boolean };

function stream(kinds: number[]): Piece[] {
  const pieces: Piece[] = [];
  let n = 0;
  for (const k of kinds) {
    n += 1;
    const key = new Uint8Array([n & 0xff, 1, 2, 3]);
    if (k === 0)
      pieces.push({ frame: encodeFrame({ opcode: OPCODE.PONG, payload: `${OURS}${n}`, maskKey: key }), ours: true });
    else if (k === 1)
      pieces.push({ frame: encodeFrame({ opcode: OPCODE.PONG, payload: `peer-${n}`, maskKey: key }), ours: false });
    else if (k === 2) {
      pieces.push({
        frame: encodeFrame({ opcode: OPCODE.TEXT, fin: false, payload: 'x'.repeat(n * 7), maskKey: key }),
        ours: false,
      });
      pieces.push({ frame: encodeFrame({ opcode: OPCODE.PONG, payload: `${OURS}${n}b`, maskKey: key }), ours: true });
      pieces.push({
        frame: encodeFrame({ opcode: OPCODE.CONTINUATION, payload: 'y'.repeat(300), maskKey: key }),
        ours: false,
      });
    } else
      pieces.push({
        frame: encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(n * 13, n), maskKey: key }),
        ours: false,
      });
  }
  return pieces;
}

test('pongs that answer wsgate are cut out; everything else passes byte for byte, in any chunking', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 30 }),
      fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 50 }),
      (kinds, cuts) => {
        const pieces = stream(kinds);
        const input = Buffer.concat(pieces.map((p) => p.frame));
        const expected = Buffer.concat(pieces.filter((p) => !p.ours).map((p) => p.frame));
        const observer = new ConnectionObserver(
          { conn: 'w1', route: 'r' },
          { level: 'off', previewBytes: 0, maxDecodedBytes: 0, gated: true },
          undefined,
          () => {},
        );
        let consumed = 0;
        observer.onPong = (_d, payload) => {
          const ours = Buffer.from(payload).toString('latin1').startsWith(OURS);
          if (ours) consumed += 1;
          return ours;
        };
        const out: Buffer[] = [];
        const sink = { write: (b: Uint8Array) => out.push(Buffer.from(b)) > 0 };
        let at = 0;
        let i = 0;
        while (at < input.length) {
          const size = cuts[i++ % cuts.length]!;
          observer.forward('toUpstream', input.subarray(at, at + size), sink);
          at += size;
        }
        assert.equal(Buffer.concat(out).toString('hex'), expected.toString('hex'));
        assert.equal(consumed, pieces.filter((p) => p.ours).length);
        assert.equal(observer.atBoundary('toUpstream'), true);
      },
    ),
    { numRuns: 300 },
  );
});
