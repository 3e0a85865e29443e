// watchClientLeaving on real sockets: a client's end of stream is seen while wsgate waits for the upstream, without
// consuming bytes the client sent early (they reach the joiner's 'data' listener once the watch stops, in order).
import assert from 'node:assert/strict';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { watchClientLeaving } from '../../../src/websocket/client-watch.ts';

/** A connected pair on 127.0.0.1: the server's side (paused, as Node hands an upgraded socket) and the client's. */
async function pair(t: TestContext): Promise<{ server: net.Socket; client: net.Socket }> {
  // allowHalfOpen as Node's HTTP server has it: the client's FIN alone does not close the server's side.
  const listener = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  const server = await accepted;
  t.after(() => {
    client.destroy();
    server.destroy();
    listener.close();
  });
  return { server, client };
}

const tick = (ms = 50) => new Promise((resolve) => setTimeout(resolve, ms));

test('a client that ends its side is seen as gone', async (t) => {
  const { server, client } = await pair(t);
  const gone = new Promise<void>((resolve) => watchClientLeaving(server, resolve));
  client.end();
  await gone;
});

test('bytes sent early are not consumed: after the watch stops, a data listener gets them, then the rest', async (t) => {
  const { server, client } = await pair(t);
  let gone = false;
  const stop = watchClientLeaving(server, () => {
    gone = true;
  });
  client.write('early ');
  await tick();
  assert.equal(server.readableLength, 6, 'read into the buffer, not consumed');
  stop();
  const got: Buffer[] = [];
  const ended = new Promise<void>((resolve) => server.on('end', resolve));
  server.on('data', (chunk: Buffer) => got.push(chunk));
  client.end('and late');
  await ended;
  assert.equal(Buffer.concat(got).toString(), 'early and late');
  assert.equal(gone, false, 'an end behind early bytes is the joiner’s to see');
});

test('after the watch stops, the end is not reported', async (t) => {
  const { server, client } = await pair(t);
  let gone = false;
  const stop = watchClientLeaving(server, () => {
    gone = true;
  });
  stop();
  client.end();
  await tick();
  assert.equal(gone, false);
});
