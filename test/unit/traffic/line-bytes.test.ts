// Frame and message lines written as bytes (line-bytes.ts) must be byte for byte what eventLine's string encodes to
// (and eventLine's lines parse to pino's: event-line.test.ts), for a traffic file's shape and the main log's, and
// every line they cannot write must be left to eventLine with nothing written.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { type TestContext, test } from 'node:test';
import type { Direction, WsEvent, WsFrameEvent, WsMessageEvent } from '../../../src/events.ts';
import { lineShapeOf } from '../../../src/log/line-shape.ts';
import { createFileLogger, createLogger, createTimelessSibling, logQueueOf } from '../../../src/log/logger.ts';
import { lineBytesOf } from '../../../src/traffic/line-bytes.ts';
import { createTrafficLog, eventLine } from '../../../src/traffic/traffic-log.ts';
import { encodeFrame } from '../../../src/websocket/encoder.ts';
import type { FrameHeader } from '../../../src/websocket/frame.ts';
import { ConnectionObserver } from '../../../src/websocket/observer.ts';
import { RelayEvents } from '../../../src/websocket/relay-events.ts';
import type { SessionInfo } from '../../../src/websocket/session.ts';
import { tempDir } from '../../helpers/tls.ts';

const DIRS: Direction[] = ['toUpstream', 'toClient'];
const NUMBERS = [0, 1, 9, 10, 99, 125, 126, 65_535, 65_536, 1_000_000, 2 ** 32, Number.MAX_SAFE_INTEGER];
const base = { conn: 'w12', route: 'api-v2.example_1:8080/x+y', time: '2026-12-02T04:00:00.000Z' };

function frames(): WsFrameEvent[] {
  const out: WsFrameEvent[] = [];
  for (const opcode of ['text', 'binary', 'continuation', 'close', 'ping', 'pong', 'reserved-3']) {
    for (const dir of DIRS) {
      for (let bits = 0; bits < 8; bits++) {
        const length = NUMBERS[(bits + opcode.length) % NUMBERS.length]!;
        out.push({
          ...base,
          type: 'frame',
          dir,
          opcode,
          fin: (bits & 4) !== 0,
          rsv1: (bits & 2) !== 0,
          masked: (bits & 1) !== 0,
          length,
        });
      }
    }
  }
  for (const length of NUMBERS) out.push({ ...out[0]!, length });
  return out;
}

function messages(): WsMessageEvent[] {
  const out: WsMessageEvent[] = [];
  for (const kind of ['text', 'binary', 'ping', 'pong', 'close']) {
    for (const dir of DIRS) {
      for (const compressed of [false, true]) {
        for (const size of [0, 64, 70_000]) {
          out.push({ ...base, type: 'message', dir, kind, size, fragments: size === 0 ? 1 : 12, compressed });
        }
      }
    }
  }
  const previews = [
    '',
    '00ff10',
    'plain words: a/b.c+d-e_f',
    '{"type":"msg","id":12}',
    'héllo → wörld \u2028 \n\t "q" \\',
  ];
  for (const preview of previews) {
    for (const truncated of [undefined, false, true]) {
      for (const dir of DIRS) {
        out.push({
          ...base,
          type: 'message',
          dir,
          kind: 'text',
          size: 90,
          fragments: 1,
          compressed: false,
          truncated,
          preview,
        });
        out.push({
          ...base,
          type: 'message',
          dir,
          kind: 'binary',
          size: 40,
          fragments: 3,
          compressed: true,
          decodedSize: 70_000,
          truncated,
          preview,
        });
      }
    }
  }
  // Key order as the producers build them: optional fields that are absent are not keys at all.
  return out.map((m) => JSON.parse(JSON.stringify(m)) as WsMessageEvent);
}

/**
 * Writes `events` as bytes into a traffic file of its own (no time, `base` bound) and checks the file holds exactly
 * what eventLine builds for them; every event must take the byte path.
 */
async function assertBytesAreEventLines(
  t: TestContext,
  events: (WsFrameEvent | WsMessageEvent)[],
  base: Record<string, unknown> | null,
): Promise<void> {
  const dir = tempDir(t, 'wsgate-line-bytes-');
  const main = createLogger({ level: 'info', format: 'json', file: join(dir, 'main.log') });
  const { logger, queue } = createFileLogger(main, join(dir, 'traffic.log'), { base, timestamp: false });
  const shape = lineShapeOf(logger)!;
  const bytes = lineBytesOf(shape, queue);
  assert.ok(bytes, 'a file queue takes lines as bytes');
  const expected: string[] = [];
  for (const event of events) {
    assert.equal(bytes.write(event), true, JSON.stringify(event));
    expected.push(eventLine(shape, event));
  }
  await queue.close();
  await logQueueOf(main)!.close();
  assert.equal(readFileSync(join(dir, 'traffic.log'), 'latin1'), expected.join(''));
}

test("a traffic file's frame and message lines as bytes are eventLine's, byte for byte", async (t) => {
  await assertBytesAreEventLines(t, [...frames(), ...messages()], { worker: 2 });
});

test("the main log's traffic lines as bytes are eventLine's: one time, the event's, and pid (batches of many lines)", async (t) => {
  const dir = tempDir(t, 'wsgate-line-bytes-main-');
  const main = createLogger({ level: 'info', format: 'json', file: join(dir, 'main.log') });
  const shape = lineShapeOf(createTimelessSibling(main))!;
  const bytes = lineBytesOf(shape, logQueueOf(main)!)!;
  assert.ok(bytes, "the main log's queue takes lines as bytes");
  const events = [...frames(), ...messages()];
  const expected: string[] = [];
  // More than a 64 KiB batch: lines keep their order across batches handed over.
  for (let round = 0; round < 4; round++) {
    for (const event of events) {
      assert.equal(bytes.write(event), true);
      expected.push(eventLine(shape, event));
    }
  }
  await logQueueOf(main)!.close();
  const written = readFileSync(join(dir, 'main.log'), 'latin1').split(/(?<=\n)/);
  assert.equal(written.length, expected.length);
  assert.match(written[0]!, /^\{"level":"info","pid":\d+,"event":"ws\.frame","conn":"[^"]+","route":"[^"]*","time":"/);
  assert.equal(written[0]!.match(/"time":/g)?.length, 1);
  assert.deepEqual(written, expected);
});

test('a logger with a clock of its own gets no byte writer (its time would be stale in a cached head)', async (t) => {
  const dir = tempDir(t, 'wsgate-line-bytes-clock-');
  const main = createLogger({ level: 'info', format: 'json', file: join(dir, 'main.log') });
  assert.equal(lineBytesOf(lineShapeOf(main.child({}))!, logQueueOf(main)!), undefined);
  await logQueueOf(main)!.close();
});

test('lines bytes cannot write are left to eventLine, and nothing of them is written', async (t) => {
  const dir = tempDir(t, 'wsgate-line-bytes-no-');
  const main = createLogger({ level: 'info', format: 'json', file: join(dir, 'main.log') });
  const { logger, queue } = createFileLogger(main, join(dir, 'traffic.log'), { base: null, timestamp: false });
  const bytes = lineBytesOf(lineShapeOf(logger)!, queue)!;
  const frame = frames()[0]!;
  const message = messages()[0]!;
  const refused: (WsFrameEvent | WsMessageEvent)[] = [
    { ...frame, conn: 'w@1' },
    { ...frame, route: 'r=1' },
    { ...frame, route: 'café' },
    { ...frame, conn: 'a"b' },
    { ...frame, time: 'now\u2028' },
    { ...frame, length: -1 },
    { ...frame, length: 1.5 },
    { ...frame, length: 2 ** 53 },
    { ...frame, opcode: 'x=y' },
    // Previews the line hook would change (URL credentials, query tokens, the subprotocol pass, DEL).
    { ...message, preview: 'wss://user:pw@example.com/' },
    { ...message, preview: '/x?token=abc' },
    { ...message, preview: '{"Protocol":"v1"}' },
    { ...message, preview: 'a\u007fb' },
    { ...message, preview: '{"a":1}', route: 'protocol' },
    { ...message, decodedSize: -1 },
    { ...message, note: 'compressed; no inflater' },
    { ...message, rttMs: 0.5 },
    { ...message, code: 1000 },
    { ...message, reason: 'bye' },
    { ...message, origin: 'wsgate' },
    { ...message, kind: 'a b"' },
    { ...message, conn: 'w\u00e91' },
  ];
  for (const event of refused) {
    const before = queue.pendingBytes();
    assert.equal(bytes.write(event), false, JSON.stringify(event));
    assert.equal(queue.pendingBytes(), before, 'nothing written');
  }
  // A line after a refused one starts where the refused one would have.
  assert.equal(bytes.write(frame), true);
  await queue.close();
  await logQueueOf(main)!.close();
  assert.equal(readFileSync(join(dir, 'traffic.log'), 'latin1'), eventLine(lineShapeOf(logger)!, frame));
});

test('destinations that take strings only get no byte writer: a stream, pino-pretty', async (t) => {
  const stream = new Writable({ write: (_c, _e, cb) => cb() });
  const streamed = createLogger({ level: 'info', format: 'json', stream });
  assert.equal(lineBytesOf(lineShapeOf(streamed)!, logQueueOf(streamed)!), undefined);
  const dir = tempDir(t, 'wsgate-line-bytes-pretty-');
  const pretty = createLogger({ level: 'info', format: 'pretty', file: join(dir, 'p.log') });
  const shape = lineShapeOf(pretty);
  assert.ok(shape === undefined || lineBytesOf(shape, logQueueOf(pretty)!) === undefined);
  await logQueueOf(pretty)!.close();
});

test('the traffic log keeps the order of byte lines and string lines in one file', async (t) => {
  const dir = tempDir(t, 'wsgate-line-bytes-order-');
  const main = createLogger({ level: 'info', format: 'json', file: join(dir, 'main.log') });
  const traffic = createTrafficLog({ file: join(dir, 'traffic.log'), main });
  const frame = frames()[0]!;
  const message = messages()[0]!;
  const events: (WsFrameEvent | WsMessageEvent)[] = [
    frame,
    { ...message, preview: 'a "quoted" é preview' },
    { ...frame, conn: 'w@7' },
    message,
    { ...message, code: 1001, reason: 'going away', kind: 'close' },
    { ...frame, length: 3 },
  ];
  for (const event of events) traffic.emit(event);
  await traffic.close();
  await logQueueOf(main)!.close();
  const lines = readFileSync(join(dir, 'traffic.log'), 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, events.length);
  lines.forEach((line, i) => {
    const parsed = JSON.parse(line) as Record<string, unknown>;
    const { type, ...fields } = events[i]!;
    assert.equal(parsed['event'], `ws.${type}`);
    for (const [key, value] of Object.entries(fields)) assert.deepEqual(parsed[key], value, `${i} ${key}`);
  });
});

test("the observer's and the relay's own events at tap payload are written as bytes, as eventLine writes them", async (t) => {
  const events: (WsFrameEvent | WsMessageEvent)[] = [];
  const sink = (e: WsEvent) => {
    if (e.type === 'frame' || e.type === 'message') events.push(e);
  };
  const settings = {
    level: 'payload' as const,
    previewBytes: 8,
    maxDecodedBytes: 1 << 20,
    onViolation: 'log' as const,
  };
  const observer = new ConnectionObserver({ conn: 'w3', route: 'api' }, settings, undefined, sink);
  const mask = Uint8Array.from([1, 2, 3, 4]);
  observer.push(
    'toUpstream',
    encodeFrame({ opcode: 1, payload: Buffer.from('{"a":1,"b":"long text"}'), maskKey: mask }),
  );
  observer.push('toClient', encodeFrame({ opcode: 2, payload: Buffer.from([0, 1, 2, 255]) }));
  observer.push('toClient', encodeFrame({ opcode: 1, payload: Buffer.alloc(0) }));
  observer.push('toUpstream', encodeFrame({ opcode: 9, payload: Buffer.from('hi'), maskKey: mask }));
  const info = { conn: 'w4', route: 'api' } as SessionInfo;
  const relay = new RelayEvents(info, settings, sink);
  relay.frame('toUpstream', {
    fin: true,
    rsv1: false,
    rsv2: false,
    rsv3: false,
    opcode: 1,
    masked: true,
    payloadLength: 20,
  } as FrameHeader);
  relay.message('toUpstream', 'text', Buffer.from('{"a":1,"b":"long text"}'));
  relay.message('toClient', 'binary', Buffer.from([7, 8]));
  assert.ok(events.filter((e) => e.type === 'message' && e.preview !== undefined).length >= 4, 'previews seen');
  await assertBytesAreEventLines(t, events, null);
});
