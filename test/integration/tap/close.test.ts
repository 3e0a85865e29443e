// How a WebSocket connection ended, as the ws.close line tells it: who ended it first, how (close frame, FIN,
// reset), the close code a client would see, whether both close frames were exchanged, and the termination code.
// Also the RTT the tap reads from a ping and the pong that answers it.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { OPCODE, RawWsClient, startRawUpstream, waitUntil } from '../../helpers/raw-ws.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';
import { connectionLog, messages } from './support.ts';

async function setup(t: TestContext, tap = 'frames') {
  const upstream = await startRawUpstream(t);
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url }], { tap: { level: tap } }));
  let n = 0;
  const connect = async () => {
    const path = `/close-${n++}`;
    const client = await RawWsClient.connect(t, gw.port, { path });
    const server = await upstream.connection(path);
    // Some traffic first, so the connection is clearly established in both directions.
    await client.send({ opcode: OPCODE.TEXT, payload: 'hello' });
    await server.send({ opcode: OPCODE.TEXT, payload: 'hi' });
    await waitUntil(() => server.frames.length === 1 && client.frames.length === 1, 'the greetings');
    return { path, client, server };
  };
  return { gw, connect };
}

const endOf = (close: Record<string, unknown>) => ({
  endedBy: close.endedBy,
  how: close.how,
  closeCode: close.closeCode,
  closeReason: close.closeReason,
  termination: close.termination,
  clean: close.clean,
});

test('the client closes with 4000 "bye": endedBy client, CC, clean', async (t) => {
  const { gw, connect } = await setup(t);
  const { path, client, server } = await connect();
  await client.sendClose(4000, 'bye');
  await Promise.all([client.closed, server.closed]);
  const answer = client.frames.find((f) => f.opcode === OPCODE.CLOSE);
  assert.equal(answer?.payload.readUInt16BE(0), 4000, 'the upstream answered the close');
  const log = await connectionLog(gw.logs, path);
  assert.deepEqual(endOf(log.close), {
    endedBy: 'client',
    how: 'close',
    closeCode: 4000,
    closeReason: 'bye',
    termination: 'CC',
    clean: true,
  });
  const [closeFrame] = messages(log.lines, 'toUpstream', ['close']);
  assert.equal(closeFrame?.code, 4000);
  assert.equal(closeFrame?.reason, 'bye');
});

test('the upstream closes first: endedBy upstream, UC, clean', async (t) => {
  const { gw, connect } = await setup(t);
  const { path, client, server } = await connect();
  await server.sendClose(1000, 'server done');
  await Promise.all([client.closed, server.closed]);
  const answer = server.frames.find((f) => f.opcode === OPCODE.CLOSE);
  assert.equal(answer?.masked, true, 'the client answered the close, masked');
  const log = await connectionLog(gw.logs, path);
  assert.deepEqual(endOf(log.close), {
    endedBy: 'upstream',
    how: 'close',
    closeCode: 1000,
    closeReason: 'server done',
    termination: 'UC',
    clean: true,
  });
});

test('a close frame with no code is reported as 1005', async (t) => {
  const { gw, connect } = await setup(t);
  const { path, client, server } = await connect();
  await client.sendClose();
  await Promise.all([client.closed, server.closed]);
  const log = await connectionLog(gw.logs, path);
  assert.deepEqual(endOf(log.close), {
    endedBy: 'client',
    how: 'close',
    closeCode: 1005,
    closeReason: undefined,
    termination: 'CC',
    clean: true,
  });
});

test('an abrupt client TCP reset with no close frame: endedBy client, rst, 1006, CR', async (t) => {
  const { gw, connect } = await setup(t);
  const { path, client, server } = await connect();
  client.socket.resetAndDestroy();
  await server.closed;
  const log = await connectionLog(gw.logs, path);
  assert.deepEqual(endOf(log.close), {
    endedBy: 'client',
    how: 'rst',
    closeCode: 1006,
    closeReason: undefined,
    termination: 'CR',
    clean: false,
  });
});

test('an abrupt upstream TCP reset with no close frame: endedBy upstream, rst, 1006, UR', async (t) => {
  const { gw, connect } = await setup(t);
  const { path, client, server } = await connect();
  server.socket.resetAndDestroy();
  await client.closed;
  const log = await connectionLog(gw.logs, path);
  assert.deepEqual(endOf(log.close), {
    endedBy: 'upstream',
    how: 'rst',
    closeCode: 1006,
    closeReason: undefined,
    termination: 'UR',
    clean: false,
  });
});

test('a client that half-closes (FIN) without a close frame: endedBy client, fin, 1006, CF', async (t) => {
  const { gw, connect } = await setup(t);
  const { path, client, server } = await connect();
  client.socket.end();
  await Promise.all([client.closed, server.closed]);
  const log = await connectionLog(gw.logs, path);
  assert.deepEqual(endOf(log.close), {
    endedBy: 'client',
    how: 'fin',
    closeCode: 1006,
    closeReason: undefined,
    termination: 'CF',
    clean: false,
  });
});

test('a close frame that is never answered before a reset: the close is reported, not clean', async (t) => {
  const { gw, connect } = await setup(t);
  const { path, client, server } = await connect();
  server.autoClose = false;
  await client.sendClose(1000, 'leaving');
  await waitUntil(() => server.frames.some((f) => f.opcode === OPCODE.CLOSE), 'the close to reach the upstream');
  client.socket.resetAndDestroy();
  await server.closed;
  const log = await connectionLog(gw.logs, path);
  assert.deepEqual(endOf(log.close), {
    endedBy: 'client',
    how: 'close',
    closeCode: 1000,
    closeReason: 'leaving',
    termination: 'CC',
    clean: false,
  });
});

test('an idle timeout ends the connection: endedBy wsgate, idle, WI', async (t) => {
  const upstream = await startRawUpstream(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: upstream.url }], { tap: { level: 'meta' }, limits: { idleTimeout: '300ms' } }),
  );
  const client = await RawWsClient.connect(t, gw.port, { path: '/idle' });
  const server = await upstream.connection('/idle');
  await Promise.all([client.closed, server.closed]);
  const log = await connectionLog(gw.logs, '/idle');
  assert.deepEqual(endOf(log.close), {
    endedBy: 'wsgate',
    how: 'idle',
    closeCode: 1006,
    closeReason: undefined,
    termination: 'WI',
    clean: false,
  });
});

for (const level of ['frames', 'meta', 'payload']) {
  test(`ping and pong carry an RTT (tap ${level})`, async (t) => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    t.after(() => {
      for (const c of server.clients) c.terminate();
      server.close();
    });
    await once(server, 'listening');
    const sockets: WebSocket[] = [];
    server.on('connection', (s) => sockets.push(s));
    const port = (server.address() as AddressInfo).port;
    const gw = await startTestWsgate(t, reverseConfig([{ upstream: `ws://127.0.0.1:${port}` }], { tap: { level } }));
    const path = `/rtt-${level}`;
    const ws = new WebSocket(`${gw.ws}${path}`);
    t.after(() => ws.terminate());
    await once(ws, 'open');
    // The client pings with a payload; ws on the upstream answers with a pong carrying the same payload.
    ws.ping(Buffer.from('client probe'));
    await once(ws, 'pong');
    // And the other way: the upstream pings, the client's ws answers.
    await waitUntil(() => sockets.length === 1, 'the upstream socket');
    sockets[0]!.ping(Buffer.from('server probe'));
    await once(sockets[0]!, 'pong');
    ws.close(1000);
    await once(ws, 'close');
    const log = await connectionLog(gw.logs, path);

    const [pongToClient, ...morePongs] = messages(log.lines, 'toClient', ['pong']);
    assert.equal(morePongs.length, 0);
    assert.equal(typeof pongToClient?.rttMs, 'number', `the pong answering the client's ping has an RTT`);
    assert.ok(Number(pongToClient?.rttMs) >= 0);
    const [pongToUpstream] = messages(log.lines, 'toUpstream', ['pong']);
    assert.equal(typeof pongToUpstream?.rttMs, 'number', `the pong answering the upstream's ping has an RTT`);
    assert.ok(Number(pongToUpstream?.rttMs) >= 0);

    const pings = [...messages(log.lines, 'toUpstream', ['ping']), ...messages(log.lines, 'toClient', ['ping'])];
    if (level === 'meta') {
      assert.equal(pings.length, 0, 'meta logs pongs with an RTT, not pings');
    } else {
      assert.equal(pings.length, 2);
      assert.ok(pings.every((p) => p.rttMs === undefined && p.size === 12));
    }
    if (level === 'payload') {
      assert.equal(pongToClient?.preview, Buffer.from('client probe').toString('hex'));
    } else {
      assert.equal(pongToClient?.preview, undefined);
    }
    // Control frames are counted as frames, never as messages.
    const up = log.close.toUpstream as { frames: number; messages: number };
    const down = log.close.toClient as { frames: number; messages: number };
    assert.deepEqual([up.frames, up.messages], [3, 0], 'ping, pong and close toward the upstream');
    assert.deepEqual([down.frames, down.messages], [3, 0], 'pong, ping and close toward the client');
  });
}
