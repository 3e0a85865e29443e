// The same short exchange at each tap level: off shows only the open and close lines, meta adds close frames and
// RTTs but no frames or data messages, frames adds every frame and message without payload, payload adds
// previews (redacted as configured). The counters of the close line are right at every level that decodes.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { startWsgate } from '../../../src/app/app.ts';
import { configFromObject } from '../../../src/config/load.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { encodeFrame } from '../../../src/websocket/encoder.ts';
import { OPCODE, type RawUpstream, RawWsClient, startRawUpstream, waitUntil } from '../../helpers/raw-ws.ts';
import { LogCapture, type LogLine, reverseConfig, startTestWsgate, type TestWsgate } from '../../helpers/wsgate.ts';
import { byEvent, type Counters, connectionLog, DATA, messages } from './support.ts';

const KEY = Buffer.from([0x12, 0x34, 0x56, 0x78]);
const JSON_TEXT = '{"user":"ann","token":"s3cret-value","n":1}';
const BINARY = Buffer.from([1, 2, 3, 4, 5]);
const BIG_BINARY = Buffer.alloc(300, 0xab);

// What the client sends (masked) and what the upstream sends, frame by frame; the close frames follow.
const FROM_CLIENT = [
  encodeFrame({ opcode: OPCODE.TEXT, payload: JSON_TEXT, maskKey: KEY }),
  encodeFrame({ opcode: OPCODE.BINARY, payload: BINARY, maskKey: KEY }),
  encodeFrame({ opcode: OPCODE.TEXT, fin: false, payload: 'frag', maskKey: KEY }),
  encodeFrame({ opcode: OPCODE.CONTINUATION, payload: 'mented', maskKey: KEY }),
  encodeFrame({ opcode: OPCODE.PING, payload: 'p1', maskKey: KEY }),
];
const FROM_UPSTREAM = [
  encodeFrame({ opcode: OPCODE.TEXT, payload: 'welcome' }),
  encodeFrame({ opcode: OPCODE.PONG, payload: 'p1' }),
  encodeFrame({ opcode: OPCODE.BINARY, payload: BIG_BINARY }),
];
const sum = (frames: Buffer[]) => frames.reduce((n, f) => n + f.length, 0);
// 1000 "done": a 6-byte body; the client's is masked.
const CLOSE_FROM_CLIENT = 2 + 4 + 6;
const CLOSE_FROM_UPSTREAM = 2 + 6;

const EXPECTED: { toUpstream: Counters; toClient: Counters } = {
  toUpstream: { frames: FROM_CLIENT.length + 1, messages: 3, bytes: sum(FROM_CLIENT) + CLOSE_FROM_CLIENT },
  toClient: { frames: FROM_UPSTREAM.length + 1, messages: 2, bytes: sum(FROM_UPSTREAM) + CLOSE_FROM_UPSTREAM },
};

/** Runs the exchange on `path` and returns the connection's traffic lines. */
async function exchange(t: TestContext, gw: TestWsgate, upstream: RawUpstream, urlPath: string) {
  const client = await RawWsClient.connect(t, gw.port, { path: urlPath });
  const server = await upstream.connection(urlPath);
  for (const f of FROM_CLIENT) await client.write(f);
  await waitUntil(() => server.frames.length === FROM_CLIENT.length, 'the client frames upstream');
  for (const f of FROM_UPSTREAM) await server.write(f);
  await waitUntil(() => client.frames.length === FROM_UPSTREAM.length, 'the upstream frames at the client');
  await client.sendClose(1000, 'done');
  await Promise.all([client.closed, server.closed]);
  return connectionLog(gw.logs, urlPath);
}

const LEVELS = ['off', 'meta', 'frames', 'payload'] as const;

async function allLevels(t: TestContext, tap: Record<string, unknown>) {
  const upstream = await startRawUpstream(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig(
      LEVELS.map((level) => ({ match: { pathPrefix: `/${level}` }, upstream: upstream.url, tap: level })),
      { tap },
    ),
  );
  const logs: Record<string, Awaited<ReturnType<typeof exchange>>> = {};
  for (const level of LEVELS) logs[level] = await exchange(t, gw, upstream, `/${level}`);
  return { gw, logs };
}

function assertCounters(close: LogLine, level: string): void {
  for (const dir of ['toUpstream', 'toClient'] as const) {
    const got = close[dir] as Counters;
    if (level === 'off') {
      // Without a decoder wsgate counts bytes only.
      assert.equal(got.bytes, EXPECTED[dir].bytes, `${level} ${dir} bytes`);
    } else {
      assert.deepEqual(got, EXPECTED[dir], `${level} ${dir} counters`);
    }
  }
}

function assertCloseInfo(close: LogLine, level: string): void {
  assert.equal(close.endedBy, 'client', level);
  assert.equal(close.how, 'close', level);
  assert.equal(close.closeCode, 1000, level);
  assert.equal(close.closeReason, 'done', level);
  assert.equal(close.termination, 'CC', level);
  assert.equal(close.clean, true, level);
}

test('each tap level shows what it promises, and the counters match', async (t) => {
  const { logs } = await allLevels(t, { level: 'off', redactJsonKeys: ['token'] });

  // off: the open and the close line, nothing in between.
  const off = logs.off!;
  assert.deepEqual(
    off.lines.map((l) => l.event),
    ['ws.open', 'ws.close'],
  );
  assert.equal(off.open.tap, 'off');
  assertCounters(off.close, 'off');

  // meta: close frames and the pong's RTT, no frames and no data messages.
  const meta = logs.meta!;
  assert.equal(meta.open.tap, 'meta');
  assert.equal(byEvent(meta.lines, 'ws.frame').length, 0, 'meta: no frame lines');
  assert.equal(messages(meta.lines, 'toUpstream', [...DATA, 'ping', 'pong']).length, 0, 'meta: nothing to upstream');
  assert.deepEqual(messages(meta.lines, 'toClient', [...DATA, 'ping']), [], 'meta: no data messages to the client');
  const [metaPong, ...metaPongs] = messages(meta.lines, 'toClient', ['pong']);
  assert.equal(metaPongs.length, 0);
  assert.equal(typeof metaPong?.rttMs, 'number', 'meta: the pong that answers a ping, with its RTT');
  assert.deepEqual(
    [...messages(meta.lines, 'toUpstream', ['close']), ...messages(meta.lines, 'toClient', ['close'])].map((l) => [
      l.code,
      l.reason,
    ]),
    [
      [1000, 'done'],
      [1000, 'done'],
    ],
  );
  assertCloseInfo(meta.close, 'meta');
  assertCounters(meta.close, 'meta');

  // frames: every frame and message, no previews.
  const frames = logs.frames!;
  assert.deepEqual(
    byEvent(frames.lines, 'ws.frame').map((l) => [l.dir, l.opcode, l.fin, l.masked, l.length]),
    [
      ['toUpstream', 'text', true, true, Buffer.byteLength(JSON_TEXT)],
      ['toUpstream', 'binary', true, true, 5],
      ['toUpstream', 'text', false, true, 4],
      ['toUpstream', 'continuation', true, true, 6],
      ['toUpstream', 'ping', true, true, 2],
      ['toClient', 'text', true, false, 7],
      ['toClient', 'pong', true, false, 2],
      ['toClient', 'binary', true, false, 300],
      ['toUpstream', 'close', true, true, 6],
      ['toClient', 'close', true, false, 6],
    ],
  );
  const dataOf = (lines: LogLine[], dir: 'toUpstream' | 'toClient') =>
    messages(lines, dir, DATA).map((l) => ({ kind: l.kind, size: l.size, fragments: l.fragments, preview: l.preview }));
  assert.deepEqual(dataOf(frames.lines, 'toUpstream'), [
    { kind: 'text', size: Buffer.byteLength(JSON_TEXT), fragments: 1, preview: undefined },
    { kind: 'binary', size: 5, fragments: 1, preview: undefined },
    { kind: 'text', size: 10, fragments: 2, preview: undefined },
  ]);
  assert.deepEqual(dataOf(frames.lines, 'toClient'), [
    { kind: 'text', size: 7, fragments: 1, preview: undefined },
    { kind: 'binary', size: 300, fragments: 1, preview: undefined },
  ]);
  assert.ok(
    frames.lines.every((l) => l.preview === undefined),
    'frames: no previews at all',
  );
  assertCloseInfo(frames.close, 'frames');
  assertCounters(frames.close, 'frames');

  // payload: previews, with the token's value redacted.
  const payload = logs.payload!;
  assert.deepEqual(dataOf(payload.lines, 'toUpstream'), [
    {
      kind: 'text',
      size: Buffer.byteLength(JSON_TEXT),
      fragments: 1,
      preview: '{"user":"ann","token":"[redacted]","n":1}',
    },
    { kind: 'binary', size: 5, fragments: 1, preview: '0102030405' },
    { kind: 'text', size: 10, fragments: 2, preview: 'fragmented' },
  ]);
  assert.deepEqual(dataOf(payload.lines, 'toClient'), [
    { kind: 'text', size: 7, fragments: 1, preview: 'welcome' },
    { kind: 'binary', size: 300, fragments: 1, preview: BIG_BINARY.toString('hex') },
  ]);
  assertCloseInfo(payload.close, 'payload');
  assertCounters(payload.close, 'payload');
});

test('the secret appears in no log line when redacted by key or by pattern, and does without redaction', async (t) => {
  for (const [label, tap, shown] of [
    ['redactJsonKeys', { redactJsonKeys: ['token'] }, false],
    ['redactPatterns', { redactPatterns: ['s3cret-[a-z]+'] }, false],
    ['no redaction', {}, true],
  ] as const) {
    const upstream = await startRawUpstream(t);
    const gw = await startTestWsgate(
      t,
      reverseConfig([{ upstream: upstream.url }], { tap: { level: 'payload', ...tap } }),
    );
    const log = await exchange(t, gw, upstream, `/secret`);
    const text = messages(log.lines, 'toUpstream', ['text'])[0];
    assert.equal(String(text?.preview).includes('s3cret-value'), shown, `${label}: ${text?.preview}`);
    assert.equal(
      gw.logs.raw.some((l) => l.includes('s3cret')),
      shown,
      `${label}: the raw log lines`,
    );
    if (label === 'redactPatterns') assert.equal(text?.preview, '{"user":"ann","token":"[redacted]","n":1}');
  }
});

test('listener and route tap levels override the global level', async (t) => {
  const upstream = await startRawUpstream(t);
  const gw = await startTestWsgate(t, {
    listeners: [
      {
        name: 'a',
        bind: '127.0.0.1:0',
        tap: 'frames',
        routes: [
          { match: { pathPrefix: '/route-off' }, upstream: upstream.url, tap: 'off' },
          { upstream: upstream.url },
        ],
      },
    ],
    tap: { level: 'meta' },
    shutdown: { grace: '200ms' },
  });
  const listener = await exchange(t, gw, upstream, '/listener');
  assert.equal(listener.open.tap, 'frames');
  assert.equal(byEvent(listener.lines, 'ws.frame').length, 10);
  const route = await exchange(t, gw, upstream, '/route-off');
  assert.equal(route.open.tap, 'off');
  assert.deepEqual(
    route.lines.map((l) => l.event),
    ['ws.open', 'ws.close'],
  );
});

test('log.traffic sends the tap events to their own file', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'wsgate-tap-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'traffic.jsonl');
  const upstream = await startRawUpstream(t);
  // Started by hand rather than with startTestWsgate, whose cleanup would call shutdown() a second time (see
  // shutdown.test.ts for what that does with log.traffic set).
  const logs = new LogCapture();
  const running = await startWsgate(
    configFromObject(
      reverseConfig([{ upstream: upstream.url }], { tap: { level: 'payload' }, log: { traffic: file } }),
      '<test>',
    ),
    createLogger({ level: 'debug', format: 'json', stream: logs }),
  );
  let stopped = false;
  t.after(() => (stopped ? undefined : running.shutdown()));
  const port = [...running.listeners.values()][0]!.port;
  const client = await RawWsClient.connect(t, port, { path: '/to-file' });
  const server = await upstream.connection('/to-file');
  await client.send({ opcode: OPCODE.TEXT, payload: 'into the file' });
  await waitUntil(() => server.frames.length === 1, 'the message upstream');
  // A quiet connection's lines reach the file while it is open (for `wsgate tail -f`), not only at shutdown: the
  // file once waited for 4 KiB of lines before its first write.
  const written = Date.now();
  await waitUntil(
    () => existsSync(file) && readFileSync(file, 'utf8').includes('into the file'),
    'the message line in the file while the connection is open',
    2000,
  );
  assert.ok(Date.now() - written < 1000, `written within a second (${Date.now() - written} ms)`);
  await client.sendClose(1000);
  await Promise.all([client.closed, server.closed]);
  stopped = true;
  await running.shutdown(); // flushes the traffic file
  const lines = (await readFile(file, 'utf8'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as LogLine);
  assert.deepEqual(
    lines.map((l) => [l.event, l.dir, l.kind ?? l.opcode]),
    [
      ['ws.open', undefined, undefined],
      ['ws.frame', 'toUpstream', 'text'],
      ['ws.message', 'toUpstream', 'text'],
      ['ws.frame', 'toUpstream', 'close'],
      ['ws.message', 'toUpstream', 'close'],
      ['ws.frame', 'toClient', 'close'],
      ['ws.message', 'toClient', 'close'],
      ['ws.close', undefined, undefined],
    ],
  );
  assert.equal(lines[2]?.preview, 'into the file');
  assert.equal(logs.lines.filter((l) => String(l.event).startsWith('ws.')).length, 0, 'no tap events in the main log');
});

test('frames the upstream sends together with its 101 are shown and counted like any others', async (t) => {
  const greeting = encodeFrame({ opcode: OPCODE.TEXT, payload: 'sent with the 101' });
  const upstream = await startRawUpstream(t, { greeting });
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url }], { tap: { level: 'payload' } }));
  const client = await RawWsClient.connect(t, gw.port, { path: '/greeting' });
  const server = await upstream.connection('/greeting');
  await waitUntil(() => client.frames.length === 1, 'the greeting at the client');
  await server.send({ opcode: OPCODE.TEXT, payload: 'and one after' });
  await waitUntil(() => client.frames.length === 2, 'the second message at the client');
  await client.sendClose(1000, 'done');
  await Promise.all([client.closed, server.closed]);
  assert.ok(client.received().equals(server.sentBytes()), 'the client got every byte the upstream sent');
  const log = await connectionLog(gw.logs, '/greeting');
  assert.deepEqual(
    messages(log.lines, 'toClient', DATA).map((l) => l.preview),
    ['sent with the 101', 'and one after'],
  );
  assert.deepEqual(
    log.close.toClient,
    { frames: 3, messages: 2, bytes: client.receivedLength },
    'toClient counters: the greeting, the second message and the close',
  );
});
