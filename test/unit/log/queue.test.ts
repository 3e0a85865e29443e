// LogQueue over a real loopback socket whose reader stops: sheddable lines are dropped past the cap, other lines
// kept up to four times the cap and dropped past it, and one report says so once the reader catches up.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import pino from 'pino';
import { DROP_REPORT_INTERVAL_MS, type DropReport, KEPT_LINES_FACTOR, LogQueue } from '../../../src/log/queue.ts';
import { tempDir } from '../../helpers/tls.ts';

/** A client socket to a server that does not read until `read()` is called. */
async function stalledPeer(t: TestContext): Promise<{ socket: net.Socket; read(): void }> {
  let accepted: net.Socket | undefined;
  const server = net.createServer((s) => {
    accepted = s;
    s.pause();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(socket, 'connect');
  while (accepted === undefined) await new Promise((r) => setTimeout(r, 5));
  t.after(() => {
    socket.destroy();
    accepted?.destroy();
    server.close();
  });
  return { socket, read: () => accepted!.resume() };
}

/** A queue of `maxBytes` over a stalled peer, its reports, and a line; `fill()` writes until past the cap. */
async function stalledQueue(t: TestContext, line: string) {
  const peer = await stalledPeer(t);
  const maxBytes = 64 * 1024;
  const queue = new LogQueue({ out: peer.socket, name: 'socket', maxBytes });
  const reports: DropReport[] = [];
  queue.reportTo((r) => reports.push(r));
  // Fill the kernel's buffers until the socket itself holds more than the cap.
  const fill = async () => {
    for (let written = 0; queue.pendingBytes() <= maxBytes; written += line.length) {
      assert.ok(written < 64 * 1024 * 1024, 'the peer stopped reading');
      queue.write(line);
      if (written % (256 * 1024) < line.length) await new Promise((r) => setImmediate(r));
    }
  };
  return { peer, maxBytes, queue, reports, fill };
}

test('past the cap sheddable lines are dropped, others kept up to the ceiling, and the drop is reported', async (t) => {
  const line = `${JSON.stringify({ event: 'http.access', pad: 'x'.repeat(200) })}\n`;
  const { peer, maxBytes, queue, reports, fill } = await stalledQueue(t, line);
  assert.equal(queue.shed(), false, 'nothing pending, nothing shed');
  await fill();
  assert.equal(queue.shed(), true);
  assert.equal(queue.shed(), true);

  const before = queue.pendingBytes();
  queue.write(line);
  assert.equal(queue.pendingBytes(), before + line.length, 'an access line is kept past the cap');
  while (queue.pendingBytes() <= maxBytes * KEPT_LINES_FACTOR) queue.write(line);
  const atCeiling = queue.pendingBytes();
  assert.equal(queue.write(line), false);
  assert.equal(queue.pendingBytes(), atCeiling, 'past the ceiling even an access line is dropped');
  assert.equal(reports.length, 0, 'nothing reported while still behind (the interval is 10 s)');

  peer.read();
  const deadline = Date.now() + 10_000;
  while (reports.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(reports.length, 1);
  assert.equal(reports[0]!.destination, 'socket');
  assert.equal(reports[0]!.dropped, 2);
  assert.equal(reports[0]!.droppedOther, 1);
  assert.equal(reports[0]!.recovered, true);
  assert.ok(reports[0]!.pendingBytes <= maxBytes / 2);
  assert.equal(queue.shed(), false, 'caught up: traffic lines are written again');
});

test('a sonic-boom destination: pending bytes follow its write events, close() writes everything', async (t) => {
  const file = join(tempDir(t, 'wsgate-queue-'), 'out.log');
  const out = pino.destination({ dest: file, sync: false, minLength: 4096 });
  const queue = new LogQueue({ out, name: file, maxBytes: 1024 });
  for (let i = 0; i < 100; i++) queue.write(`line ${i}\n`);
  assert.ok(queue.pendingBytes() > 0, 'batched in 4 KiB writes, so something is pending');
  await queue.close();
  assert.equal(queue.pendingBytes(), 0);
  assert.equal(readFileSync(file, 'utf8').split('\n').length, 101);
  await queue.close();
});

test('behind past the report interval: the drops are reported then, and catching up is reported after, with none', async (t) => {
  // Only the report interval is mocked: the bytes go through a real socket.
  t.mock.timers.enable({ apis: ['setInterval'] });
  const { peer, queue, reports, fill } = await stalledQueue(
    t,
    `${JSON.stringify({ event: 'ws.frame', pad: 'x'.repeat(200) })}\n`,
  );
  await fill();
  // Past the cap: a traffic line is shed (its caller asks shed() before building it).
  assert.equal(queue.shed(), true);
  assert.equal(queue.shed(), true);
  t.mock.timers.tick(DROP_REPORT_INTERVAL_MS);
  assert.deepEqual(
    reports.map((r) => [r.dropped, r.recovered]),
    [[2, false]],
  );

  peer.read();
  const deadline = Date.now() + 10_000;
  while (reports.length === 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  // Nothing was dropped after the first report, and still the end of the time behind is said.
  assert.deepEqual(
    reports.map((r) => [r.dropped, r.recovered]),
    [
      [2, false],
      [0, true],
    ],
  );
});
