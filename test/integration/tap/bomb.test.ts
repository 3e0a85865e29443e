// A compression bomb through a tap at level "payload": 1 GiB of zeros, deflated (about 1 MiB on the wire), sent as
// one masked RSV1 frame. The tap must flag the message instead of inflating it, the process must not grow by more
// than 64 MiB at any point, the connection itself must carry on, and other connections must not notice.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type TestContext, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { constants, createDeflateRaw, deflateRawSync } from 'node:zlib';
import WebSocket from 'ws';
import { startEchoServer } from '../../../src/echo/server.ts';
import { encodeFrame } from '../../../src/websocket/encoder.ts';
import { OPCODE } from '../../../src/websocket/frame.ts';
import { RawWsClient, startRawUpstream, waitUntil } from '../../helpers/raw-ws.ts';
import { type LogLine, reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';
import { openLine } from './support.ts';

const GIB = 1024 * 1024 * 1024;
const MIB = 1024 * 1024;

let bomb: Promise<Buffer> | undefined;

/**
 * 1 GiB of zeros through a streaming raw deflater, 1 MiB at a time (the same zero chunk every time), ended with a
 * sync flush whose 00 00 ff ff tail is removed as RFC 7692 §7.2.1 asks. Only the compressed output is kept.
 */
function compressionBomb(): Promise<Buffer> {
  bomb ??= (async () => {
    const deflater = createDeflateRaw({ level: 6 });
    const out: Buffer[] = [];
    deflater.on('data', (c: Buffer) => out.push(c));
    const zeros = Buffer.alloc(MIB);
    for (let written = 0; written < GIB; written += zeros.length) {
      if (!deflater.write(zeros)) await once(deflater, 'drain');
    }
    await new Promise<void>((resolve) => deflater.flush(constants.Z_SYNC_FLUSH, () => resolve()));
    deflater.close();
    const all = Buffer.concat(out);
    assert.deepEqual([...all.subarray(-4)], [0x00, 0x00, 0xff, 0xff]);
    return all.subarray(0, all.length - 4);
  })();
  return bomb;
}

function gc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

async function settledRss(): Promise<number> {
  const collect = gc();
  for (let i = 0; i < 3; i++) {
    collect();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().rss;
}

async function waitForLine(lines: LogLine[], match: (l: LogLine) => boolean, what: string): Promise<LogLine> {
  await waitUntil(() => lines.some(match), what, 30_000);
  return lines.find(match)!;
}

/** The message lines of `conn` toward the upstream, in order. */
const clientMessages = (lines: LogLine[], conn: unknown) =>
  lines.filter((l) => l.event === 'ws.message' && l.conn === conn && l.dir === 'toUpstream' && l.kind !== 'close');

async function bombRun(
  t: TestContext,
  options: { opcode: number; extensions: string; tap: Record<string, unknown>; path: string },
) {
  const payload = await compressionBomb();
  assert.ok(payload.length < 2 * MIB, `the bomb is small on the wire (${payload.length} bytes)`);
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  // The upstream agrees to permessage-deflate, then only counts what it receives: it never inflates.
  const upstream = await startRawUpstream(t, { extensions: options.extensions, record: false, maxKeep: 64 * 1024 });
  const gw = await startTestWsgate(
    t,
    reverseConfig(
      [
        { match: { path: '/echo' }, upstream: echo.url },
        { upstream: upstream.url, tap: 'payload' },
      ],
      { tap: options.tap },
    ),
  );
  const client = await RawWsClient.connect(t, gw.port, {
    path: options.path,
    headers: ['Sec-WebSocket-Extensions: permessage-deflate'],
    record: false,
  });
  const server = await upstream.connection(options.path);
  const conn = (await openLine(gw.logs, options.path)).conn;
  const frame = encodeFrame({ opcode: options.opcode, rsv1: true, payload, maskKey: randomBytes(4) });

  const before = await settledRss();
  const peakBefore = process.resourceUsage().maxRSS * 1024;
  let sampledPeak = before;
  const sampler = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss);
  }, 2);
  t.after(() => clearInterval(sampler));
  await client.write(frame);
  const flagged = await waitForLine(
    gw.logs.lines,
    (l) => clientMessages([l], conn).length > 0,
    'the message line of the bomb',
  );
  await waitUntil(() => server.receivedLength >= frame.length, 'the bomb to reach the upstream', 30_000);
  clearInterval(sampler);
  const after = await settledRss();
  // maxRSS is the process's peak: it catches a spike that a synchronous inflate would free before any sample.
  const peak = Math.max(process.resourceUsage().maxRSS * 1024, peakBefore, sampledPeak);
  const grew = (n: number) => `${((n - before) / MIB).toFixed(1)} MiB`;
  assert.ok(after - before < 64 * MIB, `RSS after the bomb grew by ${grew(after)}`);
  assert.ok(peak - before < 64 * MIB, `RSS peaked ${grew(peak)} above its value before the bomb`);
  assert.equal(server.receivedLength, frame.length, 'the upstream received the whole frame');

  assert.equal(flagged.kind, options.opcode === OPCODE.TEXT ? 'text' : 'binary');
  assert.equal(flagged.compressed, true);
  assert.equal(flagged.size, payload.length);
  assert.equal(flagged.decodedSize, undefined);
  assert.match(String(flagged.note), /maxDecodedBytes|not decoded/);
  assert.ok(flagged.preview === undefined || String(flagged.preview).length <= 64 * 1024, 'no unbounded preview');

  // The connection carries on: an ordinary message after the bomb reaches the upstream unchanged.
  await client.send({ opcode: OPCODE.TEXT, payload: 'after the bomb' });
  await waitUntil(() => server.frames.some((f) => f.payload.toString() === 'after the bomb'), 'the next message');
  const bombFrame = server.frames[0]!;
  assert.equal(bombFrame.length, payload.length);
  assert.equal(bombFrame.rsv1, true);

  // Another connection through the same wsgate, to the built-in echo server, still works.
  const ws = new WebSocket(`${gw.ws}/echo`);
  t.after(() => ws.terminate());
  await once(ws, 'open');
  ws.send('still alive');
  const [reply] = (await once(ws, 'message')) as [Buffer];
  assert.equal(reply.toString(), 'still alive');
  ws.close();
  return { gw, client, server, conn };
}

test('a 1 GiB deflate bomb in one text frame is flagged, not inflated, and nothing else notices', {
  timeout: 120_000,
}, async (t) => {
  const { gw, client, conn } = await bombRun(t, {
    opcode: OPCODE.TEXT,
    extensions: 'permessage-deflate',
    tap: { level: 'meta' },
    path: '/bomb-text',
  });
  // With context takeover the next compressed message shares the bomb's window, so it cannot be shown either;
  // the tap says why instead of showing garbage.
  const next = deflateRawSync('a normal message', { finishFlush: constants.Z_SYNC_FLUSH });
  await client.send({ opcode: OPCODE.TEXT, rsv1: true, payload: next.subarray(0, next.length - 4) });
  const [, , third] = await (async () => {
    await waitUntil(() => clientMessages(gw.logs.lines, conn).length >= 3, 'the third message line');
    return clientMessages(gw.logs.lines, conn);
  })();
  assert.equal(third?.compressed, true);
  assert.equal(third?.preview, undefined);
  assert.match(String(third?.note), /earlier message/);
});

test('a bomb larger than maxDecodedBytes even compressed is not collected, and later messages still decode without context takeover', {
  timeout: 120_000,
}, async (t) => {
  const { gw, client, conn } = await bombRun(t, {
    opcode: OPCODE.BINARY,
    extensions: 'permessage-deflate; client_no_context_takeover',
    tap: { level: 'meta', maxDecodedBytes: '256KiB' },
    path: '/bomb-binary',
  });
  const next = deflateRawSync('a normal message', { finishFlush: constants.Z_SYNC_FLUSH });
  await client.send({ opcode: OPCODE.TEXT, rsv1: true, payload: next.subarray(0, next.length - 4) });
  await waitUntil(() => clientMessages(gw.logs.lines, conn).length >= 3, 'the third message line');
  const third = clientMessages(gw.logs.lines, conn)[2];
  assert.equal(third?.compressed, true);
  assert.equal(third?.note, undefined);
  assert.equal(third?.preview, 'a normal message');
});
