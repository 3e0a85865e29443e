// The tap observer is sans-I/O: frames in as chunks, events out. These tests script both directions of a
// connection and check events, counters, close bookkeeping and frame boundaries, with every chunking.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WsEvent, WsMessageEvent } from '../../../src/events.ts';
import { encodeClose, encodeFrame } from '../../../src/websocket/encoder.ts';
import { OPCODE } from '../../../src/websocket/frame.ts';
import { ConnectionObserver, type TapSettings } from '../../../src/websocket/observer.ts';
import { describeEnd } from '../../../src/websocket/session-report.ts';

const KEY = Uint8Array.from([0x37, 0xfa, 0x21, 0x3d]);

function observe(level: TapSettings['level'], extra: Partial<TapSettings> = {}) {
  const events: WsEvent[] = [];
  const observer = new ConnectionObserver(
    { conn: 'w1', route: 'r' },
    { level, previewBytes: 8, maxDecodedBytes: 1 << 20, ...extra },
    undefined,
    (e) => events.push(e),
  );
  return { observer, events };
}

const messages = (events: WsEvent[]) => events.filter((e): e is WsMessageEvent => e.type === 'message');

/** Client → upstream: a masked text in two fragments with a ping between them, then a binary. */
const clientStream = Buffer.concat([
  encodeFrame({ fin: false, opcode: OPCODE.TEXT, payload: 'hello ', maskKey: KEY }),
  encodeFrame({ opcode: OPCODE.PING, payload: 'p1', maskKey: KEY }),
  encodeFrame({ opcode: OPCODE.CONTINUATION, payload: 'wsgate, a long text', maskKey: KEY }),
  encodeFrame({ opcode: OPCODE.BINARY, payload: Uint8Array.from([0, 1, 2, 255]), maskKey: KEY }),
]);

function strip(events: WsEvent[]) {
  return events.map(({ time: _t, ...rest }) => rest);
}

test('payload level: messages are reassembled, unmasked and previewed the same for every chunking', () => {
  const whole = observe('payload');
  whole.observer.push('toUpstream', clientStream);
  const expected = strip(whole.events);
  const msgs = messages(whole.events);
  assert.deepEqual(
    msgs.map((m) => [m.kind, m.size, m.fragments, m.preview, m.truncated]),
    [
      ['ping', 2, 1, '7031', undefined],
      ['text', 25, 2, 'hello ws', true],
      ['binary', 4, 1, '000102ff', false],
    ],
  );
  for (let cut = 1; cut < clientStream.length; cut++) {
    const split = observe('payload');
    split.observer.push('toUpstream', clientStream.subarray(0, cut));
    split.observer.push('toUpstream', clientStream.subarray(cut));
    assert.deepEqual(strip(split.events), expected, `cut at ${cut}`);
  }
  assert.deepEqual(whole.observer.counters('toUpstream'), { frames: 4, messages: 2, bytes: clientStream.length });
});

test('the forwarded bytes are never changed by the observer', () => {
  const copy = Buffer.from(clientStream);
  observe('payload').observer.push('toUpstream', copy);
  assert.deepEqual(copy, clientStream);
});

test('levels: meta reports no frames or data messages, frames reports them without previews', () => {
  const meta = observe('meta');
  meta.observer.push('toUpstream', clientStream);
  assert.equal(meta.events.length, 0);
  assert.deepEqual(meta.observer.counters('toUpstream').messages, 2);
  const frames = observe('frames');
  frames.observer.push('toUpstream', clientStream);
  assert.equal(frames.events.filter((e) => e.type === 'frame').length, 4);
  assert.ok(messages(frames.events).every((m) => m.preview === undefined));
});

test('a pong answering a ping from the other side gets an RTT; closes are recorded with who closed first', () => {
  const { observer, events } = observe('meta');
  observer.push('toUpstream', encodeFrame({ opcode: OPCODE.PING, payload: 'abc', maskKey: KEY }));
  observer.push('toClient', encodeFrame({ opcode: OPCODE.PONG, payload: 'abc' }));
  const pong = messages(events).find((m) => m.kind === 'pong');
  assert.ok(pong && typeof pong.rttMs === 'number' && pong.rttMs >= 0);
  observer.push('toClient', encodeClose(4001, 'server says bye'));
  observer.push('toUpstream', encodeClose(4001, '', KEY));
  assert.equal(observer.firstClose, 'toClient');
  const end = describeEnd(
    { bytesToUpstream: 1, bytesToClient: 1, durationMs: 5, cause: { by: 'client', how: 'fin' } },
    observer,
  );
  assert.deepEqual(end, {
    endedBy: 'upstream',
    how: 'close',
    termination: 'UC',
    closeCode: 4001,
    closeReason: 'server says bye',
    clean: true,
  });
});

test('no close frame: the connection ended abnormally (1006), with the TCP cause', () => {
  const { observer } = observe('meta');
  const end = describeEnd(
    { bytesToUpstream: 0, bytesToClient: 0, durationMs: 1, cause: { by: 'client', how: 'rst', detail: 'ECONNRESET' } },
    observer,
  );
  assert.deepEqual(end, {
    endedBy: 'client',
    how: 'rst',
    termination: 'CR',
    closeCode: 1006,
    clean: false,
    detail: 'ECONNRESET',
  });
  assert.equal(
    describeEnd(
      { bytesToUpstream: 0, bytesToClient: 0, durationMs: 1, cause: { by: 'wsgate', how: 'idle' } },
      undefined,
    ).termination,
    'WI',
  );
});

test('frame boundaries are known per direction, and reported after each chunk while shutdown waits', () => {
  const { observer } = observe('meta');
  const big = encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(1000) });
  const seen: string[] = [];
  observer.onBoundary = (d) => seen.push(d);
  observer.push('toClient', big.subarray(0, 500));
  assert.equal(observer.atBoundary('toClient'), false);
  assert.equal(observer.atBoundary('toUpstream'), true);
  observer.push('toClient', big.subarray(500));
  assert.equal(observer.atBoundary('toClient'), true);
  assert.deepEqual(seen, ['toClient']);
});

test('protocol violations are reported with their rule, and a flood is capped', () => {
  const { observer, events } = observe('meta');
  // Unmasked frames from the client break RFC 6455 §5.1.
  const bad = encodeFrame({ opcode: OPCODE.TEXT, payload: 'x' });
  for (let i = 0; i < 100; i++) observer.push('toUpstream', bad);
  const violations = events.filter((e) => e.type === 'violation');
  assert.equal(violations.length, 20);
  assert.equal(violations[0]?.type === 'violation' && violations[0].code, 'WSG_WS_UNMASKED_FRAME');
  assert.equal(observer.violations('toUpstream'), 100);
});

test('payload previews go through the redactor', () => {
  const { observer, events } = observe('payload', {
    previewBytes: 100,
    redactText: (t) => t.replace(/s3cret/g, '[redacted]'),
  });
  observer.push('toUpstream', encodeFrame({ opcode: OPCODE.TEXT, payload: '{"token":"s3cret"}', maskKey: KEY }));
  assert.equal(messages(events)[0]?.preview, '{"token":"[redacted]"}');
});

test('when nobody listens, frames and messages are counted but no events are built', () => {
  let listening = false;
  const { observer, events } = observe('frames', { active: () => listening });
  observer.push('toUpstream', clientStream);
  assert.equal(events.filter((e) => e.type === 'frame' || (e.type === 'message' && e.kind !== 'ping')).length, 0);
  assert.deepEqual(observer.counters('toUpstream').messages, 2);
  listening = true;
  observer.push('toUpstream', encodeFrame({ opcode: OPCODE.TEXT, payload: 'now', maskKey: KEY }));
  assert.equal(messages(events).at(-1)?.kind, 'text');
});
