// A client that sends CONNECT and half-closes at once (`printf 'CONNECT …' | nc -N`), before wsgate has dialled the
// target. Found by test/fuzz/connect.test.ts: the tunnel then waited for limits.tunnelIdleTimeout (1 h), holding the
// client socket and the dialled upstream connection. Now the FIN ends it at once: seen during the dial (client-watch:
// the dial is given up, no 200), or, when the dial won the race, as the tunnel opens (a 200, then the close). Either
// way nothing is held and the same proxy carries on.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { startRawSink } from '../helpers/raw.ts';
import { forwardConfig, startProxy } from '../integration/forward/helpers.ts';

test('CONNECT followed at once by FIN: the tunnel closes instead of waiting for the idle limit', async (t) => {
  const sink = await startRawSink(t);
  const gw = await startProxy(t, forwardConfig({}, {}));
  for (let i = 0; i < 3; i += 1) {
    const socket = net.connect(gw.port(), '127.0.0.1');
    socket.on('error', () => {});
    t.after(() => socket.destroy());
    await new Promise((resolve) => socket.once('connect', resolve));
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    const closed = new Promise<boolean>((resolve) => {
      socket.once('close', () => resolve(true));
      setTimeout(() => resolve(false), 3000).unref();
    });
    socket.end(`CONNECT 127.0.0.1:${sink.port} HTTP/1.1\r\nHost: 127.0.0.1:${sink.port}\r\n\r\n`);
    assert.equal(await closed, true, `tunnel ${i} still open 3 s after the client's FIN`);
    const answer = Buffer.concat(received).toString('latin1');
    assert.ok(answer === '' || /^HTTP\/1\.1 200 /.test(answer), answer);
  }
  const closes = gw.logs.events('connect.close');
  assert.equal(closes.length, 3);
  // 'none': the FIN was seen during the dial; 'closed': the dial was quicker and the tunnel saw it on opening.
  assert.ok(
    closes.every((l) => (l.content === 'none' && l.endedBy === 'client') || l.content === 'closed'),
    JSON.stringify(closes),
  );
  // The dialled upstream connections were let go as well.
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(
    sink.connections.every((c) => c.closed),
    'every upstream connection closed',
  );
});
