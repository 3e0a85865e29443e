// WebSocket limits in the tap, over real sockets: frame length (limits.maxFrameBytes), message size
// (limits.maxMessageBytes), fragments per message (limits.maxFragments), pings the other side leaves unanswered
// (limits.maxPendingPings), and the protocol rules whose close codes RFC 6455 names (1002, 1007). With
// tap.onViolation "log" each is one coded ws.violation line and the bytes pass (the peers decide); with "close"
// wsgate stops the bad frame before it is forwarded and sends a Close with the violation's code to both sides
// (masked toward the upstream), ends both sockets, and says why in the ws.close line. Other connections carry on.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type TestContext, test } from 'node:test';
import { encodeFrame } from '../../src/websocket/encoder.ts';
import { ENTRY_KINDS } from '../helpers/entry-kinds.ts';
import {
  closeBody,
  FrameReader,
  OPCODE,
  type RawFrame,
  type RawUpstream,
  type RawUpstreamConnection,
  RawWsClient,
  startRawUpstream,
  waitUntil,
} from '../helpers/raw-ws.ts';
import { type LogCapture, type LogLine, reverseConfig, startTestWsgate } from '../helpers/wsgate.ts';
import { connectionLog } from '../integration/tap/support.ts';

const LIMITS = { maxFrameBytes: '1KiB', maxMessageBytes: '4KiB', maxFragments: 8, maxPendingPings: 4 };

const mask = () => randomBytes(4);
const clientFrame = (opcode: number, payload: Buffer | string, fin = true) =>
  encodeFrame({ opcode, payload, fin, maskKey: mask() });
const fragments = (count: number, size: number) =>
  Array.from({ length: count }, (_, i) =>
    clientFrame(i === 0 ? OPCODE.BINARY : OPCODE.CONTINUATION, Buffer.alloc(size, 0x61), i === count - 1),
  );

type Case = {
  name: string;
  code: string;
  closeCode: number;
  /** The config key named in the lines, for limits. */
  limit?: string;
  /** Which peer breaks the rule. */
  from: 'client' | 'upstream';
  /** The frames it sends; the last one breaks the rule. */
  frames: () => Buffer[];
};

const CASES: Case[] = [
  {
    name: 'a frame over limits.maxFrameBytes',
    code: 'WSG_WS_FRAME_TOO_LARGE',
    closeCode: 1009,
    limit: 'limits.maxFrameBytes',
    from: 'client',
    frames: () => [clientFrame(OPCODE.TEXT, 'fine'), clientFrame(OPCODE.BINARY, Buffer.alloc(2048, 1))],
  },
  {
    name: 'a message over limits.maxMessageBytes',
    code: 'WSG_WS_MESSAGE_TOO_LARGE',
    closeCode: 1009,
    limit: 'limits.maxMessageBytes',
    from: 'client',
    frames: () => fragments(5, 1000),
  },
  {
    name: 'a message in more than limits.maxFragments frames',
    code: 'WSG_WS_TOO_MANY_FRAGMENTS',
    closeCode: 1008,
    limit: 'limits.maxFragments',
    from: 'client',
    frames: () => fragments(9, 1),
  },
  {
    name: 'more than limits.maxPendingPings pings the upstream has not answered',
    code: 'WSG_WS_TOO_MANY_PENDING_PINGS',
    closeCode: 1008,
    limit: 'limits.maxPendingPings',
    from: 'client',
    frames: () => Array.from({ length: 5 }, (_, i) => clientFrame(OPCODE.PING, `p${i}`)),
  },
  {
    name: 'an unmasked client frame (protocol error)',
    code: 'WSG_WS_UNMASKED_FRAME',
    closeCode: 1002,
    from: 'client',
    frames: () => [clientFrame(OPCODE.TEXT, 'fine'), encodeFrame({ opcode: OPCODE.TEXT, payload: 'bare' })],
  },
  {
    name: 'invalid UTF-8 in a text message',
    code: 'WSG_WS_INVALID_UTF8',
    closeCode: 1007,
    from: 'client',
    frames: () => [clientFrame(OPCODE.TEXT, Buffer.from([0x68, 0x69, 0xc0, 0xaf]))],
  },
  {
    name: 'a frame over limits.maxFrameBytes from the upstream',
    code: 'WSG_WS_FRAME_TOO_LARGE',
    closeCode: 1009,
    limit: 'limits.maxFrameBytes',
    from: 'upstream',
    frames: () => [encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(4096, 2) })],
  },
];

const pathOf = (c: Case) => `/${c.code.toLowerCase()}-${c.from}`;

async function startGate(t: TestContext, onViolation: 'log' | 'close') {
  const upstream = await startRawUpstream(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: upstream.url }], { limits: LIMITS, tap: { level: 'meta', onViolation } }),
  );
  return { upstream, gw };
}

async function open(t: TestContext, port: number, upstream: RawUpstream, path: string) {
  const client = await RawWsClient.connect(t, port, { path });
  const server = await upstream.connection(path);
  return { client, server };
}

/** A connection opened before the bad one still carries messages both ways after it. */
async function assertCarriesOn(pair: { client: RawWsClient; server: RawUpstreamConnection }, what: string) {
  const before = { up: pair.server.frames.length, down: pair.client.frames.length };
  await pair.client.send({ opcode: OPCODE.TEXT, payload: `still here: ${what}` });
  await pair.server.send({ opcode: OPCODE.TEXT, payload: 'and back' });
  await waitUntil(() => pair.server.frames.length === before.up + 1, `${what}: the parallel message upstream`);
  await waitUntil(() => pair.client.frames.length === before.down + 1, `${what}: the parallel message back`);
  assert.equal(pair.server.frames.at(-1)?.payload.toString(), `still here: ${what}`);
}

function violationLine(logs: LogCapture, conn: string): LogLine | undefined {
  return logs.events('ws.violation').find((l) => l.conn === conn);
}

test('tap.onViolation log: each violation is one coded line, and the bytes pass unchanged', async (t) => {
  const { upstream, gw } = await startGate(t, 'log');
  const parallel = await open(t, gw.port, upstream, '/parallel');
  for (const c of CASES) {
    const path = pathOf(c);
    const { client, server } = await open(t, gw.port, upstream, path);
    const [sender, receiver] = c.from === 'client' ? [client, server] : [server, client];
    const frames = c.frames();
    for (const frame of frames) await sender.write(frame);
    const sent = Buffer.concat(frames);
    await waitUntil(() => receiver.receivedLength >= sent.length, `${c.name}: every byte at the receiver`);
    assert.deepEqual(receiver.received(), sent, `${c.name}: passed unchanged`);
    // Still open: a normal message goes through, then the peers close as they like.
    await client.send({ opcode: OPCODE.TEXT, payload: 'after' });
    await waitUntil(() => server.frames.some((f) => f.payload.toString() === 'after'), `${c.name}: traffic goes on`);
    await client.sendClose(1000, 'done');
    await Promise.all([client.closed, server.closed]);
    const log = await connectionLog(gw.logs, path);
    const lines = log.lines.filter((l) => l.event === 'ws.violation');
    assert.equal(lines.length, 1, `${c.name}: one violation line, got ${JSON.stringify(lines)}`);
    const line = lines[0]!;
    assert.equal(line.code, c.code, c.name);
    assert.equal(line.closeCode, c.closeCode, c.name);
    assert.equal(line.limit, c.limit, c.name);
    assert.equal(line.dir, c.from === 'client' ? 'toUpstream' : 'toClient', c.name);
    assert.equal(log.close.closeCode, 1000, `${c.name}: the peers' own close`);
    assert.equal(log.close.endedBy, 'client', c.name);
    await assertCarriesOn(parallel, c.name);
  }
});

test('tap.onViolation close: the bad frame is stopped, both sides get the close code, both sockets end', async (t) => {
  const { upstream, gw } = await startGate(t, 'close');
  const parallel = await open(t, gw.port, upstream, '/parallel');
  for (const c of CASES) {
    const path = pathOf(c);
    const { client, server } = await open(t, gw.port, upstream, path);
    const [sender, receiver] = c.from === 'client' ? [client, server] : [server, client];
    const frames = c.frames();
    for (const frame of frames) await sender.write(frame);
    const [clientClose, serverClose] = await Promise.all([client.waitForClose(), server.waitForClose()]);
    assert.equal(closeBody(clientClose.payload).code, c.closeCode, `${c.name}: close code to the client`);
    assert.equal(closeBody(serverClose.payload).code, c.closeCode, `${c.name}: close code to the upstream`);
    assert.equal(clientClose.masked, false, `${c.name}: unmasked toward the client`);
    assert.equal(serverClose.masked, true, `${c.name}: masked toward the upstream`);
    // Everything before the bad frame arrived; the bad frame did not (the close frame is the last thing).
    const good = frames.slice(0, -1).map((f) => f.length);
    const before = receiver.frames.slice(0, -1);
    assert.deepEqual(
      before.map((f) => f.length + (f.masked ? 4 : 0) + (f.length < 126 ? 2 : f.length < 65536 ? 4 : 10)),
      good,
      `${c.name}: the frames before the bad one, and nothing else`,
    );
    await Promise.all([client.closed, server.closed]);
    const log = await connectionLog(gw.logs, path);
    assert.equal(log.close.endedBy, 'wsgate', c.name);
    assert.equal(log.close.how, c.limit === undefined ? 'violation' : 'limit', c.name);
    assert.equal(log.close.closeCode, c.closeCode, c.name);
    assert.match(String(log.close.detail), new RegExp(`^${c.code}${c.limit ? ` \\(${c.limit}\\)` : ''}: `), c.name);
    assert.equal(violationLine(gw.logs, log.conn)?.code, c.code, `${c.name}: the ws.violation line`);
    await assertCarriesOn(parallel, c.name);
  }
});

test('tap.onViolation close applies at tap level off too', async (t) => {
  const upstream = await startRawUpstream(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: upstream.url }], { limits: LIMITS, tap: { level: 'off', onViolation: 'close' } }),
  );
  const { client, server } = await open(t, gw.port, upstream, '/off');
  await client.write(clientFrame(OPCODE.BINARY, Buffer.alloc(2048)));
  assert.equal(closeBody((await client.waitForClose()).payload).code, 1009);
  assert.equal(closeBody((await server.waitForClose()).payload).code, 1009);
  assert.equal(server.frames.length, 1, 'only the close frame reached the upstream');
  const log = await connectionLog(gw.logs, '/off');
  assert.deepEqual(
    log.lines.map((l) => l.event),
    ['ws.open', 'ws.violation', 'ws.close'],
  );
});

test('tap.onViolation close: shutdown still closes with 1001 at a frame boundary, cut inside a chunk', async (t) => {
  const upstream = await startRawUpstream(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: upstream.url }], {
      limits: { maxFrameBytes: '1MiB' },
      tap: { onViolation: 'close' },
      shutdown: { grace: '10s' },
    }),
  );
  const { client, server } = await open(t, gw.port, upstream, '/busy');
  server.autoClose = false;
  const frame = encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(256 * 1024, 1) });
  const next = encodeFrame({ opcode: OPCODE.TEXT, payload: 'after the frame' });
  const half = Math.floor(frame.length / 2);
  await server.write(frame.subarray(0, half));
  await waitUntil(() => client.receivedLength === half, 'half a frame at the client');
  const stopping = gw.running.shutdown();
  const upstreamClose = await server.waitForClose();
  assert.equal(closeBody(upstreamClose.payload).code, 1001);
  assert.equal(upstreamClose.masked, true);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(client.receivedLength, half, 'nothing injected into the frame in flight');
  // The rest of the frame and a whole next frame in one chunk: the Close goes between them, the next frame never.
  await server.write(Buffer.concat([frame.subarray(half), next]));
  const clientClose = await client.waitForClose();
  assert.equal(closeBody(clientClose.payload).code, 1001);
  assert.deepEqual(
    client.frames.map((f) => [f.opcode, f.length]),
    [
      [OPCODE.BINARY, frame.length - 10],
      [OPCODE.CLOSE, clientClose.length],
    ],
  );
  await server.sendClose(1001);
  await stopping;
  await Promise.all([client.closed, server.closed]);
  const log = await connectionLog(gw.logs, '/busy');
  assert.equal(log.close.how, 'shutdown');
});

/** Frames in what a raw sink received after the 101 (the sink only records). */
function framesAfterHandshake(text: string): RawFrame[] {
  const bytes = Buffer.from(text, 'latin1');
  const end = bytes.indexOf('\r\n\r\n');
  const frames: RawFrame[] = [];
  if (end !== -1) new FrameReader((f) => frames.push(f)).push(bytes.subarray(end + 4));
  return frames;
}

for (const kind of ENTRY_KINDS) {
  test(`${kind.name}: a frame over limits.maxFrameBytes closes with 1009 to both sides`, async (t) => {
    const entry = await kind.start(t, LIMITS, { config: { tap: { onViolation: 'close' } } });
    const channel = await entry.open(t);
    const key = randomBytes(16).toString('base64');
    channel.write(
      [
        `GET ${entry.target('/ws')} HTTP/1.1`,
        `Host: ${entry.host}`,
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 13',
        `Sec-WebSocket-Key: ${key}`,
        '',
        '',
      ].join('\r\n'),
    );
    await waitUntil(() => channel.received.includes('\r\n\r\n'), `${kind.name}: the 101`, 5000);
    assert.match(channel.received.toString('latin1'), /^HTTP\/1\.1 101 /);
    channel.write(clientFrame(OPCODE.TEXT, 'fine'));
    channel.write(clientFrame(OPCODE.BINARY, Buffer.alloc(2048)));
    const toClient = () => framesAfterHandshake(channel.received.toString('latin1'));
    await waitUntil(() => toClient().some((f) => f.opcode === OPCODE.CLOSE), `${kind.name}: a close frame`, 5000);
    assert.equal(closeBody(toClient()[0]!.payload).code, 1009);
    const upstreamClose = () => framesAfterHandshake(entry.upstreamText()).find((f) => f.opcode === OPCODE.CLOSE);
    await waitUntil(() => upstreamClose() !== undefined, `${kind.name}: a close frame upstream`, 5000);
    assert.equal(closeBody(upstreamClose()!.payload).code, 1009);
    assert.equal(upstreamClose()!.masked, true);
    assert.deepEqual(
      framesAfterHandshake(entry.upstreamText()).map((f) => f.opcode),
      [OPCODE.TEXT, OPCODE.CLOSE],
      'the big frame never reached the upstream',
    );
    assert.equal(await channel.waitClosed(5000), true, `${kind.name}: the client connection ends`);
    const close = await entry.logs.waitFor('ws.close');
    assert.equal(close.how, 'limit');
    assert.equal(close.closeCode, 1009);
  });
}
