// Fuzzing frame streams through a joined WebSocket, both directions at once: any opcode, FIN and RSV bits, masks
// right or wrong, payloads from empty to past the limits (invalid UTF-8 and close bodies among them), lengths that
// lie (up to 2^63), permessage-deflate negotiated or not, and each stream cut at arbitrary points. The peers only
// record. Properties, with tap.onViolation "log": every byte reaches the other side unchanged (passthrough);
// with "close": each side receives a prefix of what the other sent and at most one Close frame from wsgate after
// it, and when wsgate closes both sockets end. Either way the connection closes within the bound once the client
// half-closes, no handler throws, a healthy connection works after each batch, and the heap stays bounded.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import fc from 'fast-check';
import { FrameDecoder } from '../../src/websocket/decoder.ts';
import {
  FrameReader,
  type RawFrame,
  type RawUpstream,
  type RawUpstreamConnection,
  RawWsClient,
  startRawUpstream,
  waitUntil,
} from '../helpers/raw-ws.ts';
import { type LogCapture, reverseConfig, startTestWsgate } from '../helpers/wsgate.ts';
import { encodeFrameSpec, type FrameSpec, frameSpec, splitAt } from './arbitraries.ts';
import { budget, forget, fuzz, show, untracked } from './support.ts';

const SETTLE_MS = 5000;
const CLOSE_MS = 5000;
const LIMITS = { maxFrameBytes: '64KiB', maxMessageBytes: '96KiB', maxFragments: 4, maxPendingPings: 3 };

type Streams = {
  deflate: boolean;
  toUpstream: FrameSpec[];
  toClient: FrameSpec[];
  cutsUp: number[];
  cutsDown: number[];
};

const streams: fc.Arbitrary<Streams> = fc.record({
  deflate: fc.boolean(),
  toUpstream: fc.array(frameSpec(true), { maxLength: 8 }),
  toClient: fc.array(frameSpec(false), { maxLength: 8 }),
  cutsUp: fc.array(fc.nat(), { maxLength: 6 }),
  cutsDown: fc.array(fc.nat(), { maxLength: 6 }),
});

type Setup = { mode: 'log' | 'close'; port: number; plain: RawUpstream; deflate: RawUpstream; logs: LogCapture };

async function setup(t: TestContext, mode: 'log' | 'close'): Promise<Setup> {
  // The peers only record: no close frame is answered, so what arrives is exactly what was sent (or cut).
  const plain = await startRawUpstream(t, { autoClose: false });
  const deflate = await startRawUpstream(t, { autoClose: false, extensions: 'permessage-deflate' });
  const gw = await startTestWsgate(
    t,
    reverseConfig(
      [
        { match: { pathPrefix: '/deflate' }, upstream: deflate.url, tap: 'payload' },
        { upstream: plain.url, tap: 'frames' },
      ],
      { limits: LIMITS, tap: { onViolation: mode, previewBytes: 64 } },
    ),
  );
  return { mode, port: gw.port, plain, deflate, logs: gw.logs };
}

function frames(bytes: Buffer): RawFrame[] {
  const out: RawFrame[] = [];
  new FrameReader((f) => out.push(f)).push(bytes);
  return out;
}

/**
 * Close mode: `received` is `sent` whole, or a prefix of it, followed by one close frame wsgate wrote (masked toward
 * the upstream) unless the prefix already holds the sender's own close. Returns the prefix length when wsgate cut
 * the stream.
 */
function prefixThenClose(received: Buffer, sent: Buffer, masked: boolean, what: string): number | undefined {
  if (received.equals(sent)) return undefined;
  if (received.length < sent.length && received.equals(sent.subarray(0, received.length))) {
    assert.ok(
      frames(received).some((f) => f.opcode === 0x8),
      `${what}: cut after ${received.length} bytes with no close frame`,
    );
    return received.length;
  }
  // A close frame is at most 2 + 4 + 125 bytes.
  for (let k = Math.min(received.length, sent.length); k >= Math.max(0, received.length - 131); k--) {
    if (!received.subarray(0, k).equals(sent.subarray(0, k))) continue;
    const tail = frames(received.subarray(k));
    const one = tail.length === 1 && tail[0]!.opcode === 0x8 && tail[0]!.masked === masked;
    if (one && received.length - k === 2 + (masked ? 4 : 0) + tail[0]!.length) return k;
  }
  assert.fail(`${what}: not a prefix of what was sent plus one close frame: ${show(received.subarray(0, 200))}`);
}

/**
 * What wsgate let through before its Close ends on a frame boundary and breaks no rule the decoder checks, except
 * invalid UTF-8 (known only at a frame's end, when the frame may already have begun to leave).
 */
function assertCleanPrefix(prefix: Buffer, fromClient: boolean, deflate: boolean, what: string): void {
  const found: string[] = [];
  const decoder = new FrameDecoder(
    {
      expectMasked: fromClient,
      allowRsv1: deflate,
      maxFrameBytes: 64 * 1024,
      maxMessageBytes: 96 * 1024,
      maxFragments: 4,
    },
    { onFrameHeader: () => {}, onFrameEnd: () => {}, onViolation: (v) => found.push(v.code) },
  );
  decoder.push(prefix);
  assert.deepEqual(
    found.filter((code) => code !== 'WSG_WS_INVALID_UTF8'),
    [],
    `${what}: forwarded before wsgate's close`,
  );
  assert.equal(decoder.midFrame, false, `${what}: wsgate's close frame does not follow a frame boundary`);
}

let runId = 0;

async function exchange(t: TestContext, s: Setup, input: Streams): Promise<void> {
  runId += 1;
  const path = `/${input.deflate ? 'deflate' : 'plain'}/run-${runId}`;
  const upstream = input.deflate ? s.deflate : s.plain;
  const client = await RawWsClient.connect(untracked(t), s.port, {
    path,
    autoClose: false,
    headers: input.deflate ? ['Sec-WebSocket-Extensions: permessage-deflate'] : [],
  });
  const server = await upstream.connection(path);
  const up = Buffer.concat(input.toUpstream.map(encodeFrameSpec));
  const down = Buffer.concat(input.toClient.map(encodeFrameSpec));
  const upParts = splitAt(up, input.cutsUp);
  const downParts = splitAt(down, input.cutsDown);
  for (let i = 0; i < Math.max(upParts.length, downParts.length); i++) {
    if (i < upParts.length) await client.write(upParts[i]!);
    if (i < downParts.length) await server.write(downParts[i]!);
  }
  const bothArrived = () => server.receivedLength === up.length && client.receivedLength === down.length;
  const bothClosed = () => client.socket.destroyed && server.socket.destroyed;
  const settled = s.mode === 'log' ? bothArrived : () => bothArrived() || bothClosed();
  try {
    await waitUntil(settled, 'every byte at the other side (or, in close mode, both sockets closed)', SETTLE_MS);
  } catch {
    throw new Error(
      `${s.mode}: after ${SETTLE_MS} ms the upstream has ${server.receivedLength} of ${up.length} bytes, the client ${client.receivedLength} of ${down.length}; closed: client ${client.socket.destroyed}, upstream ${server.socket.destroyed}`,
    );
  }
  if (s.mode === 'log') {
    assert.deepEqual(server.received(), up, 'passthrough: the upstream got exactly what the client sent');
    assert.deepEqual(client.received(), down, 'passthrough: the client got exactly what the upstream sent');
  } else {
    const upCut = prefixThenClose(server.received(), up, true, 'toward the upstream');
    const downCut = prefixThenClose(client.received(), down, false, 'toward the client');
    if (upCut !== undefined) assertCleanPrefix(up.subarray(0, upCut), true, input.deflate, 'toward the upstream');
    if (downCut !== undefined) assertCleanPrefix(down.subarray(0, downCut), false, input.deflate, 'toward the client');
  }
  if (!client.socket.destroyed) client.socket.end();
  const closed = await Promise.race([
    Promise.all([client.closed, server.closed]).then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), CLOSE_MS).unref()),
  ]);
  client.socket.destroy();
  server.socket.destroy();
  release(upstream, client, server);
  assert.ok(closed, `not closed within ${CLOSE_MS} ms after the client's FIN`);
}

/** Drops what the test itself keeps of a finished connection, so the heap check sees wsgate's memory. */
function release(upstream: RawUpstream, client: RawWsClient, server: RawUpstreamConnection): void {
  forget(client.socket);
  forget(server.socket);
  const at = upstream.connections.indexOf(server);
  if (at !== -1) upstream.connections.splice(at, 1);
}

async function healthy(t: TestContext, s: Setup): Promise<void> {
  runId += 1;
  const path = `/plain/healthy-${runId}`;
  const client = await RawWsClient.connect(untracked(t), s.port, { path, autoClose: false });
  const server = await s.plain.connection(path);
  await client.send({ opcode: 0x1, payload: 'ping?' });
  await server.send({ opcode: 0x1, payload: 'pong!' });
  await waitUntil(() => server.frames.length === 1 && client.frames.length === 1, 'a healthy exchange', 3000);
  assert.equal(server.frames[0]!.payload.toString(), 'ping?');
  client.socket.destroy();
  await server.closed;
  release(s.plain, client, server);
}

const render = (input: Streams) => {
  const up = Buffer.concat(input.toUpstream.map(encodeFrameSpec));
  const down = Buffer.concat(input.toClient.map(encodeFrameSpec));
  const cut = (b: Buffer, points: number[]) => splitAt(b, points).map((p) => p.length);
  return [
    `deflate: ${input.deflate}`,
    `client → upstream ${show(up.subarray(0, 400))}${up.length > 400 ? `… (${up.length} bytes)` : ''} in chunks of ${cut(up, input.cutsUp).join(',')}`,
    `upstream → client ${show(down.subarray(0, 400))}${down.length > 400 ? `… (${down.length} bytes)` : ''} in chunks of ${cut(down, input.cutsDown).join(',')}`,
  ].join('\n');
};

for (const mode of ['log', 'close'] as const) {
  test(`fuzz frame streams, tap.onViolation ${mode}`, async (t) => {
    const s = await setup(t, mode);
    const { runs, seconds } = budget(60, 2);
    const result = await fuzz({
      name: `frame streams (${mode})`,
      arbitrary: streams,
      runs,
      seconds,
      logs: [s.logs],
      render,
      property: (input) => exchange(t, s, input),
      healthy: () => healthy(t, s),
    });
    assert.ok(result.runs > 0);
    t.diagnostic(result.summary);
  });
}
