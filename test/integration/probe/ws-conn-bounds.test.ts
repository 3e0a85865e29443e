// The probe's WebSocket client keeps bounded memory whatever the server sends: at most 1 MiB of a message (the
// rest read and dropped, a deflate bomb included) and at most 256 messages waiting for a step, the oldest dropped.
import assert from 'node:assert/strict';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import zlib from 'node:zlib';
import { WsConn } from '../../../src/probe/ws-conn.ts';
import { encodeFrame } from '../../../src/websocket/encoder.ts';
import { OPCODE } from '../../../src/websocket/frame.ts';

/** A server socket and the probe's WsConn on the client end of one loopback connection. */
async function pair(t: TestContext, deflate = false): Promise<{ server: net.Socket; conn: WsConn }> {
  const accepted = new Promise<net.Socket>((resolve) => {
    const listener = net.createServer((s) => resolve(s));
    listener.listen(0, '127.0.0.1', () => {
      const { port } = listener.address() as net.AddressInfo;
      const client = net.connect(port, '127.0.0.1');
      client.on('error', () => {});
      clientSocket = client;
    });
    t.after(() => listener.close());
  });
  let clientSocket: net.Socket | undefined;
  const server = await accepted;
  server.on('error', () => {});
  const conn = new WsConn(clientSocket!, Buffer.alloc(0), deflate);
  t.after(() => {
    conn.destroy();
    server.destroy();
  });
  return { server, conn };
}

test('a server streaming thousands of messages: 256 wait, the oldest are dropped, the newest kept in order', async (t) => {
  const { server, conn } = await pair(t);
  const frames = Array.from({ length: 1000 }, (_, i) => encodeFrame({ opcode: OPCODE.TEXT, payload: `m${i}` }));
  server.write(Buffer.concat(frames));
  const deadline = Date.now() + 5000;
  // The last message arriving is the sign all were read.
  let last: string | undefined;
  while (Date.now() < deadline && conn.waitingMessages < 256) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(conn.waitingMessages, 256);
  const first = await conn.next((e) => e.type === 'message', 100);
  assert.equal(first?.type === 'message' ? first.data.toString() : undefined, 'm744', 'the oldest kept is the 745th');
  for (let i = 0; i < 255; i++) {
    const e = await conn.next((x) => x.type === 'message', 100);
    last = e?.type === 'message' ? e.data.toString() : undefined;
  }
  assert.equal(last, 'm999');
  assert.equal(conn.waitingMessages, 0);
});

test('a 3 MiB message keeps its first 1 MiB; a compressed one inflating to 8 MiB keeps 1 MiB too', async (t) => {
  const { server, conn } = await pair(t);
  server.write(encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(3 * 1024 * 1024, 7) }));
  const big = await conn.next((e) => e.type === 'message', 5000);
  assert.equal(big?.type === 'message' ? big.data.length : -1, 1024 * 1024);

  const inflating = await pair(t, true);
  const plain = Buffer.alloc(8 * 1024 * 1024, 0x61);
  const deflated = zlib.deflateRawSync(plain, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  // RFC 7692: the message is the deflate stream without its 00 00 ff ff tail, RSV1 on the first frame.
  const payload = deflated.subarray(0, deflated.length - 4);
  const frame = encodeFrame({ opcode: OPCODE.TEXT, payload });
  frame[0] = frame[0]! | 0x40;
  inflating.server.write(frame);
  const bomb = await inflating.conn.next((e) => e.type === 'message', 5000);
  assert.equal(bomb?.type === 'message' ? bomb.data.length : -1, 1024 * 1024);
  assert.equal(bomb?.type === 'message' ? bomb.data.every((b) => b === 0x61) : false, true);
});
