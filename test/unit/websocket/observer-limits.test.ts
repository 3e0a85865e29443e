// The tap's limits, sans I/O: with onViolation "log" a broken limit is one coded ws.violation event (at every tap
// level) and decoding goes on; with "close" each chunk goes through forward(), which writes only what may pass: a
// frame that breaks a rule is cut off before its first byte (for every way the stream is cut into chunks), a
// header still incomplete is held back, and a requested cut stops at the next frame boundary.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Direction, WsEvent, WsViolationEvent } from '../../../src/events.ts';
import { encodeFrame } from '../../../src/websocket/encoder.ts';
import { OPCODE } from '../../../src/websocket/frame.ts';
import {
  type ClosingViolation,
  ConnectionObserver,
  type TapSettings,
  type WsLimits,
} from '../../../src/websocket/observer.ts';

const KEY = Uint8Array.from([0x37, 0xfa, 0x21, 0x3d]);
const LIMITS: WsLimits = { maxFrameBytes: 100, maxMessageBytes: 150, maxFragments: 3, maxPendingPings: 2 };

function observe(onViolation: 'log' | 'close', level: TapSettings['level'] = 'meta', limits = LIMITS) {
  const events: WsEvent[] = [];
  const observer = new ConnectionObserver(
    { conn: 'w1', route: 'r' },
    { level, previewBytes: 8, maxDecodedBytes: 1 << 20, onViolation, limits },
    undefined,
    (e) => events.push(e),
  );
  const closing: ClosingViolation[] = [];
  const boundaries: Direction[] = [];
  observer.watchViolations((v) => closing.push(v));
  observer.onBoundary = (d) => boundaries.push(d);
  return { observer, events, closing, boundaries };
}

const violations = (events: WsEvent[]) => events.filter((e): e is WsViolationEvent => e.type === 'violation');

/** What a socket would have been given: the bytes written, in order. */
class Written {
  parts: Buffer[] = [];
  write(bytes: Uint8Array): boolean {
    this.parts.push(Buffer.from(bytes));
    return true;
  }
  get bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const text = (payload: string | Buffer, fin = true, opcode: number = OPCODE.TEXT) =>
  encodeFrame({ opcode, fin, payload, maskKey: KEY });
const ping = (payload: string) => encodeFrame({ opcode: OPCODE.PING, payload, maskKey: KEY });
const pong = (payload: string) => encodeFrame({ opcode: OPCODE.PONG, payload });

test('log mode: each limit is one coded violation naming its key, at every tap level, and traffic goes on', () => {
  for (const level of ['off', 'meta', 'payload'] as const) {
    const { observer, events, closing } = observe('log', level);
    observer.push('toUpstream', text(Buffer.alloc(101)));
    observer.push('toUpstream', Buffer.concat([text('a', false), text('b', false, 0), text('c', false, 0)]));
    observer.push('toUpstream', text('d', true, 0));
    observer.push('toUpstream', Buffer.concat([text(Buffer.alloc(90), false), text(Buffer.alloc(90), true, 0)]));
    observer.push('toUpstream', Buffer.concat([ping('1'), ping('2'), ping('3')]));
    assert.deepEqual(
      violations(events).map((v) => [v.code, v.limit, v.closeCode]),
      [
        ['WSG_WS_FRAME_TOO_LARGE', 'limits.maxFrameBytes', 1009],
        ['WSG_WS_TOO_MANY_FRAGMENTS', 'limits.maxFragments', 1008],
        ['WSG_WS_MESSAGE_TOO_LARGE', 'limits.maxMessageBytes', 1009],
        ['WSG_WS_TOO_MANY_PENDING_PINGS', 'limits.maxPendingPings', 1008],
      ],
      level,
    );
    // Framing was kept: every frame and message was counted, and the stream still ends on a boundary.
    assert.deepEqual(observer.counters('toUpstream').frames, 1 + 4 + 2 + 3, level);
    assert.equal(observer.counters('toUpstream').messages, 3, level);
    assert.equal(observer.atBoundary('toUpstream'), true, level);
    assert.deepEqual(closing, [], `${level}: log mode never closes`);
  }
});

test('log mode at tap off: protocol violations that are not limits stay quiet, as before', () => {
  const { observer, events } = observe('log', 'off');
  observer.push('toUpstream', encodeFrame({ opcode: OPCODE.TEXT, payload: 'unmasked' }));
  assert.deepEqual(events, []);
  assert.equal(observer.violations('toUpstream'), 1);
});

test('pending pings: a pong from the other side answers them all and re-arms the limit', () => {
  const { observer, events } = observe('log');
  observer.push('toUpstream', Buffer.concat([ping('1'), ping('2')]));
  observer.push('toClient', pong('2'));
  observer.push('toUpstream', Buffer.concat([ping('3'), ping('4')]));
  assert.equal(violations(events).length, 0, 'two pending at most');
  observer.push('toUpstream', ping('5'));
  observer.push('toUpstream', ping('6'));
  assert.deepEqual(
    violations(events).map((v) => [v.dir, v.code, v.message]),
    [['toUpstream', 'WSG_WS_TOO_MANY_PENDING_PINGS', 'more than 2 pings are waiting for a pong from the other side']],
    'reported once while nothing answers',
  );
  observer.push('toClient', pong('6'));
  observer.push('toUpstream', Buffer.concat([ping('7'), ping('8'), ping('9')]));
  assert.equal(violations(events).length, 2);
  // Pings from the upstream are counted on their own.
  const upstreamPing = (payload: string) => encodeFrame({ opcode: OPCODE.PING, payload });
  observer.push('toClient', Buffer.concat([upstreamPing('a'), upstreamPing('b')]));
  assert.equal(violations(events).length, 2);
  observer.push('toClient', upstreamPing('c'));
  assert.deepEqual(
    violations(events).map((v) => v.dir),
    ['toUpstream', 'toUpstream', 'toClient'],
  );
});

type Case = { name: string; good: Buffer[]; bad: Buffer; code: string };

const CASES: Case[] = [
  {
    name: 'frame too large',
    good: [text('hello'), ping('p')],
    bad: text(Buffer.alloc(101)),
    code: 'WSG_WS_FRAME_TOO_LARGE',
  },
  {
    name: 'too many fragments',
    good: [text('a', false), text('b', false, 0), text('c', false, 0)],
    bad: text('d', true, 0),
    code: 'WSG_WS_TOO_MANY_FRAGMENTS',
  },
  {
    name: 'message too large',
    good: [text(Buffer.alloc(80), false)],
    bad: text(Buffer.alloc(80), true, 0),
    code: 'WSG_WS_MESSAGE_TOO_LARGE',
  },
  { name: 'pending pings', good: [ping('1'), ping('2')], bad: ping('3'), code: 'WSG_WS_TOO_MANY_PENDING_PINGS' },
  {
    name: 'unmasked frame',
    good: [text('ok')],
    bad: encodeFrame({ opcode: OPCODE.BINARY, payload: 'x' }),
    code: 'WSG_WS_UNMASKED_FRAME',
  },
  {
    name: 'invalid UTF-8 in one frame',
    good: [text('ok')],
    bad: text(Buffer.from([0x68, 0xc0, 0xaf])),
    code: 'WSG_WS_INVALID_UTF8',
  },
  {
    name: 'invalid close code',
    good: [text('ok')],
    bad: encodeFrame({ opcode: OPCODE.CLOSE, payload: Buffer.from([0x03, 0xe7]), maskKey: KEY }),
    code: 'WSG_WS_INVALID_CLOSE_CODE',
  },
];

// Invalid UTF-8 in a data frame is known only at the frame's end: when the cut falls inside that frame's payload, its
// first bytes have left, and the frame passes whole before wsgate's Close (control frames are held whole instead).
test('close mode: the bad frame is cut off before its first byte, for every way the stream is cut', () => {
  for (const c of CASES) {
    const good = Buffer.concat(c.good);
    // What follows the bad frame must never be forwarded either.
    const stream = Buffer.concat([good, c.bad, text('after')]);
    const cuts: (number | undefined)[] = [undefined];
    for (let i = 1; i < stream.length; i++) cuts.push(i);
    for (const cut of cuts) {
      const { observer, events, closing, boundaries } = observe('close', 'off');
      const out = new Written();
      const chunks = cut === undefined ? [stream] : [stream.subarray(0, cut), stream.subarray(cut)];
      for (const chunk of chunks) observer.forward('toUpstream', chunk, out);
      const where = `${c.name}, cut at ${cut}`;
      const badHeader = 6;
      const insideBadPayload = cut !== undefined && cut >= good.length + badHeader && cut < good.length + c.bad.length;
      const expected = c.code === 'WSG_WS_INVALID_UTF8' && insideBadPayload ? Buffer.concat([good, c.bad]) : good;
      assert.deepEqual(out.bytes, expected, where);
      assert.deepEqual(
        closing.map((v) => [v.direction, v.violation.code]),
        [['toUpstream', c.code]],
        where,
      );
      assert.deepEqual(boundaries, ['toUpstream'], where);
      assert.equal(observer.atBoundary('toUpstream'), true, where);
      // In close mode the violation is reported even at tap level off.
      assert.equal(violations(events)[0]?.code, c.code, where);
    }
  }
});

test('close mode: invalid UTF-8 found at the end of a frame that already began to leave: cut after that frame', () => {
  const first = text(Buffer.from('abc'), false);
  const last = text(Buffer.from([0x78, 0x78, 0xc0, 0xaf]), true, OPCODE.CONTINUATION);
  const { observer, closing } = observe('close');
  const out = new Written();
  observer.forward('toUpstream', first, out);
  assert.deepEqual(out.bytes, first);
  // The frame that completes the message leaves its header and a byte in one chunk; the verdict comes in the next.
  observer.forward('toUpstream', last.subarray(0, 7), out);
  assert.deepEqual(out.bytes, Buffer.concat([first, last.subarray(0, 7)]));
  observer.forward('toUpstream', Buffer.concat([last.subarray(7), text('after')]), out);
  assert.deepEqual(out.bytes, Buffer.concat([first, last]));
  assert.equal(closing[0]?.violation.code, 'WSG_WS_INVALID_UTF8');
  assert.equal(observer.atBoundary('toUpstream'), true);
});

test('close mode: a partial header is held back until it is complete, then forwarded with its frame', () => {
  const frame = text(Buffer.alloc(200, 0x61));
  const { observer, closing } = observe('close', 'meta', {
    ...LIMITS,
    maxFrameBytes: 1 << 20,
    maxMessageBytes: 1 << 20,
  });
  const out = new Written();
  for (let i = 0; i < 5; i++) observer.forward('toUpstream', frame.subarray(i, i + 1), out);
  assert.equal(out.bytes.length, 0, 'header bytes so far are held');
  assert.equal(observer.atBoundary('toUpstream'), true, 'the receiver is still between frames');
  observer.forward('toUpstream', frame.subarray(5, 20), out);
  assert.deepEqual(out.bytes, frame.subarray(0, 20));
  assert.equal(observer.atBoundary('toUpstream'), false);
  observer.forward('toUpstream', frame.subarray(20), out);
  assert.deepEqual(out.bytes, frame);
  assert.deepEqual(closing, []);
});

test('close mode: a requested cut stops at the next frame boundary, inside a chunk', () => {
  const big = encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(1000, 1) });
  const next = encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(10, 2) });
  const { observer, boundaries } = observe('close', 'meta', {
    ...LIMITS,
    maxFrameBytes: 1 << 20,
    maxMessageBytes: 1 << 20,
  });
  const out = new Written();
  observer.forward('toClient', big.subarray(0, 300), out);
  assert.equal(observer.atBoundary('toClient'), false);
  observer.requestCut('toClient');
  observer.forward('toClient', Buffer.concat([big.subarray(300), next]), out);
  assert.deepEqual(out.bytes, big);
  assert.deepEqual(boundaries, ['toClient']);
  assert.equal(observer.atBoundary('toClient'), true);
  // Once cut, nothing more is written, but close frames are still read.
  observer.forward('toClient', encodeFrame({ opcode: OPCODE.CLOSE, payload: Buffer.from([0x03, 0xe8]) }), out);
  assert.deepEqual(out.bytes, big);
  assert.equal(observer.closeSeen('toClient')?.code, 1000);
});

test('close mode: a violation in the frames that came with the 101 is delivered once a hook watches', () => {
  const events: WsEvent[] = [];
  const observer = new ConnectionObserver(
    { conn: 'w1', route: 'r' },
    { level: 'meta', previewBytes: 8, maxDecodedBytes: 1024, onViolation: 'close', limits: LIMITS },
    undefined,
    (e) => events.push(e),
  );
  observer.push('toClient', encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(101) }));
  const closing: ClosingViolation[] = [];
  observer.watchViolations((v) => closing.push(v));
  assert.deepEqual(
    closing.map((v) => [v.direction, v.violation.code]),
    [['toClient', 'WSG_WS_FRAME_TOO_LARGE']],
  );
  // The decoder stopped (a limit in close mode is fatal): no boundary can come in that direction.
  assert.equal(observer.canReachBoundary('toClient'), false);
});
