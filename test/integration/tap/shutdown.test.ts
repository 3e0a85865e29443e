// Graceful shutdown with frames known: wsgate sends Close 1001 to both sides of every tapped WebSocket, between
// frames (never inside one), waits for the closing handshakes rather than for the grace period, and reports the
// connections as ended by wsgate on shutdown.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { encodeFrame } from '../../../src/websocket/encoder.ts';
import { closeBody, OPCODE, type RawFrame, RawWsClient, startRawUpstream, waitUntil } from '../../helpers/raw-ws.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';
import { connectionLog, openLine } from './support.ts';

const closeOf = (frames: RawFrame[]) => frames.find((f) => f.opcode === OPCODE.CLOSE);

test('shutdown sends Close 1001 to both sides between frames and finishes without waiting for the grace period', async (t) => {
  const upstream = await startRawUpstream(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: upstream.url }], { tap: { level: 'frames' }, shutdown: { grace: '10s' } }),
  );

  // An idle connection.
  const idle = await RawWsClient.connect(t, gw.port, { path: '/idle' });
  const idleUpstream = await upstream.connection('/idle');

  // A busy one: the upstream is half-way through a large fragmented message, and half-way through its second frame.
  const busy = await RawWsClient.connect(t, gw.port, { path: '/busy' });
  const busyUpstream = await upstream.connection('/busy');
  busyUpstream.autoClose = false; // it answers by hand, once its frame is complete
  const first = encodeFrame({ opcode: OPCODE.BINARY, fin: false, payload: Buffer.alloc(256 * 1024, 1) });
  const second = encodeFrame({ opcode: OPCODE.CONTINUATION, fin: false, payload: Buffer.alloc(256 * 1024, 2) });
  const half = Math.floor(second.length / 2);
  await busyUpstream.write(first);
  await busyUpstream.write(second.subarray(0, half));
  await waitUntil(() => busy.receivedLength === first.length + half, 'the first frame and a half at the client');

  // And one where the client is half-way through a frame toward the upstream.
  const sending = await RawWsClient.connect(t, gw.port, { path: '/sending' });
  const sendingUpstream = await upstream.connection('/sending');
  // Both answer by hand: the client once its frame is complete, the upstream once the client has answered.
  sending.autoClose = false;
  sendingUpstream.autoClose = false;
  const upFrame = encodeFrame({
    opcode: OPCODE.TEXT,
    payload: Buffer.alloc(200 * 1024, 0x61),
    maskKey: Buffer.from([1, 2, 3, 4]),
  });
  const upHalf = Math.floor(upFrame.length / 2);
  await sending.write(upFrame.subarray(0, upHalf));
  await waitUntil(() => sendingUpstream.receivedLength === upHalf, 'half a frame at the upstream');

  const started = performance.now();
  const stopping = gw.running.shutdown();

  // Toward these upstreams wsgate is between frames: the masked Close 1001 goes out at once.
  for (const peer of [idleUpstream, busyUpstream]) {
    const close = await peer.waitForClose();
    assert.equal(close.masked, true, `${peer.path}: the close toward the upstream is masked`);
    assert.equal(closeBody(close.payload).code, 1001, `${peer.path}: Close 1001 to the upstream`);
  }
  const idleClose = await idle.waitForClose();
  assert.equal(idleClose.masked, false);
  assert.equal(closeBody(idleClose.payload).code, 1001, 'Close 1001 to the idle client');

  // Toward the busy client a frame is in flight: nothing may be injected into it.
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(busy.receivedLength, first.length + half, 'nothing was written into the middle of the frame');
  assert.equal(closeOf(busy.frames), undefined);

  // The upstream finishes its frame; right after it comes the close. Only then does the upstream answer the close
  // (same-chunk answers: see the next test).
  await busyUpstream.write(second.subarray(half));
  const busyClose = await busy.waitForClose();
  await busyUpstream.sendClose(1001);
  assert.deepEqual(
    busy.frames.map((f) => [f.opcode, f.fin, f.masked, f.length]),
    [
      [OPCODE.BINARY, false, false, 256 * 1024],
      [OPCODE.CONTINUATION, false, false, 256 * 1024],
      [OPCODE.CLOSE, true, false, busyClose.length],
    ],
    'the busy client got both fragments whole, then the close',
  );
  assert.equal(closeBody(busyClose.payload).code, 1001);
  assert.ok(
    busy
      .received()
      .subarray(0, first.length + second.length)
      .equals(Buffer.concat([first, second])),
    'the fragments arrived byte for byte',
  );

  // The client sending a frame gets its close at once; the upstream only once that frame is complete.
  const sendingClose = await sending.waitForClose();
  assert.equal(closeBody(sendingClose.payload).code, 1001);
  assert.equal(sendingUpstream.receivedLength, upHalf, 'nothing was written into the middle of the frame');
  await sending.write(upFrame.subarray(upHalf));
  const sendingUpstreamClose = await sendingUpstream.waitForClose();
  await sending.sendClose(1001);
  const sendingConn = (await openLine(gw.logs, '/sending')).conn;
  await waitUntil(
    () =>
      gw.logs.lines.some(
        (l) => l.conn === sendingConn && l.event === 'ws.message' && l.kind === 'close' && l.dir === 'toUpstream',
      ),
    "wsgate to see the client's answer",
  );
  await sendingUpstream.sendClose(1001);
  assert.equal(sendingUpstreamClose.masked, true);
  assert.equal(closeBody(sendingUpstreamClose.payload).code, 1001);
  assert.deepEqual(
    sendingUpstream.frames.map((f) => [f.opcode, f.length]),
    [
      [OPCODE.TEXT, 200 * 1024],
      [OPCODE.CLOSE, sendingUpstreamClose.length],
    ],
    'the upstream got the whole frame, then the close',
  );

  await stopping;
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 3000, `shutdown took ${Math.round(elapsed)} ms with a 10 s grace period`);
  await Promise.all([idle.closed, busy.closed, sending.closed, idleUpstream.closed, busyUpstream.closed]);

  for (const p of ['/idle', '/busy', '/sending']) {
    const { close } = await connectionLog(gw.logs, p);
    assert.equal(close.endedBy, 'wsgate', p);
    assert.equal(close.how, 'shutdown', p);
    assert.equal(close.termination, 'WS', p);
    assert.equal(close.closeCode, 1001, p);
    assert.equal(close.clean, true, p);
  }
});

for (const side of ['client', 'upstream'] as const) {
  test(`a ${side} that ends its frame and answers the Close 1001 in one write: the other side gets one close frame`, async (t) => {
    const upstream = await startRawUpstream(t, { autoClose: false });
    const gw = await startTestWsgate(
      t,
      reverseConfig([{ upstream: upstream.url }], { tap: { level: 'frames' }, shutdown: { grace: '10s' } }),
    );
    const path = `/same-chunk-${side}`;
    const client = await RawWsClient.connect(t, gw.port, { path, autoClose: false });
    const server = await upstream.connection(path);
    const [sender, receiver] = side === 'client' ? [client, server] : [server, client];
    const frame = encodeFrame({
      opcode: OPCODE.BINARY,
      payload: Buffer.alloc(100 * 1024, 7),
      maskKey: side === 'client' ? Buffer.from([9, 8, 7, 6]) : undefined,
    });
    const half = Math.floor(frame.length / 2);
    await sender.write(frame.subarray(0, half));
    await waitUntil(() => receiver.receivedLength === half, 'half a frame');
    const stopping = gw.running.shutdown();
    // The sender is told at once (its direction is between frames)...
    assert.equal(closeBody((await sender.waitForClose()).payload).code, 1001);
    // ...and, like many implementations, writes the rest of its frame and its answering close together.
    const answer = encodeFrame({
      opcode: OPCODE.CLOSE,
      payload: Buffer.from([0x03, 0xe9]),
      maskKey: side === 'client' ? Buffer.from([1, 1, 1, 1]) : undefined,
    });
    await sender.write(Buffer.concat([frame.subarray(half), answer]));
    await receiver.waitForClose();
    // Whatever wsgate does next, this side ends within the grace period; give extra frames time to arrive.
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(
      receiver.frames.map((f) => f.opcode),
      [OPCODE.BINARY, OPCODE.CLOSE],
      `the ${side === 'client' ? 'upstream' : 'client'} got the frame and exactly one close frame; got closes ${receiver.frames
        .filter((f) => f.opcode === OPCODE.CLOSE)
        .map((f) => JSON.stringify(closeBody(f.payload)))
        .join(', ')}`,
    );
    await receiver.sendClose(1001);
    await stopping;
  });
}

test('peers that never answer the Close 1001 are cut off at the end of the grace period', async (t) => {
  const upstream = await startRawUpstream(t, { autoClose: false });
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: upstream.url }], { tap: { level: 'meta' }, shutdown: { grace: '500ms' } }),
  );
  const client = await RawWsClient.connect(t, gw.port, { path: '/deaf', autoClose: false });
  const server = await upstream.connection('/deaf');
  const started = performance.now();
  await gw.running.shutdown();
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 450 && elapsed < 3000, `shutdown took ${Math.round(elapsed)} ms with a 500 ms grace period`);
  await Promise.all([client.closed, server.closed]);
  assert.equal(closeBody((await client.waitForClose()).payload).code, 1001);
  assert.equal(closeBody((await server.waitForClose()).payload).code, 1001);
  const { close } = await connectionLog(gw.logs, '/deaf');
  assert.equal(close.endedBy, 'wsgate');
  assert.equal(close.how, 'shutdown');
  assert.equal(close.termination, 'WS');
  assert.equal(close.clean, false);
  assert.equal(close.closeCode, 1006, 'no close frame came from either peer');
});

test('shutdown() can be called a second time with log.traffic set (startTestWsgate cleanup does)', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'wsgate-tap-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const upstream = await startRawUpstream(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: upstream.url }], { log: { traffic: path.join(dir, 'traffic.jsonl') } }),
  );
  await gw.running.shutdown();
  await gw.running.shutdown();
});
