// A traffic log file that stops taking writes (issue 11, item 4): log.traffic is a FIFO whose reader this test
// pauses, standing in for a disk that does not keep up. Its queue is bounded like stdout's: frame and message lines
// are shed, the WebSocket's open and close lines are kept, and the main log says how many were dropped from which
// file once the reader catches up.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startWsgate } from '../../../src/app/app.ts';
import { configFromObject } from '../../../src/config/load.ts';
import { startEchoServer } from '../../../src/echo/server.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { waitForLine } from '../../helpers/entry-kinds.ts';
import { tempDir } from '../../helpers/tls.ts';
import { openWs } from '../../helpers/ws-client.ts';
import { LogCapture } from '../../helpers/wsgate.ts';

test('a stalled log.traffic file: frame lines shed, open and close kept, log.dropped in the main log', async (t) => {
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const fifo = join(tempDir(t, 'wsgate-traffic-fifo-'), 'traffic.jsonl');
  execFileSync('mkfifo', [fifo]);
  // Opened for reading before wsgate opens it for writing (each open of a FIFO waits for the other side), and not
  // read yet: once the pipe's buffer is full, the traffic log's writes stall.
  const reader = createReadStream(fifo);
  let traffic = '';
  reader.on('data', (c) => {
    traffic += c.toString();
  });
  reader.pause();
  t.after(() => reader.destroy());

  const logs = new LogCapture();
  const config = configFromObject(
    {
      listeners: [{ name: 'rev', bind: '127.0.0.1:0', routes: [{ upstream: `ws://127.0.0.1:${echo.address.port}` }] }],
      tap: { level: 'frames' },
      log: { traffic: fifo, maxQueueBytes: '64KiB' },
      shutdown: { grace: '200ms' },
    },
    '<test>',
  );
  const running = await startWsgate(
    config,
    createLogger({ ...config.log, level: 'debug', format: 'json', stream: logs }),
  );
  let stopped = false;
  t.after(() => (stopped ? undefined : running.shutdown()));
  const port = [...running.listeners.values()][0]!.port;

  const ws = await openWs(`ws://127.0.0.1:${port}/fifo`);

  // 4,000 echoed messages are 16,000 frame and message lines, about 4 MiB against a 64 KiB cap.
  const count = 4000;
  let received = 0;
  const done = new Promise<void>((resolve) =>
    ws.on('message', () => {
      if (++received === count) resolve();
    }),
  );
  for (let i = 0; i < count; i++) ws.send(`m${i}`);
  await done;
  ws.close(1000);
  await once(ws, 'close');

  reader.resume();
  // The report once the reader caught up (one made every 10 s while it had not may come first).
  await waitForLine(logs, 'log.dropped', (l) => l.recovered === true, 20_000);
  const drops = logs.events('log.dropped');
  assert.ok(drops.every((d) => d.destination === fifo && d.droppedOther === 0));
  const dropped = drops.reduce((sum, l) => sum + Number(l.dropped), 0);
  assert.ok(dropped > 0, `dropped ${dropped}`);
  stopped = true;
  await running.shutdown();
  // The last lines may still sit in the pipe: read it to its end (wsgate closed its side on shutdown).
  if (!reader.readableEnded) await once(reader, 'end');
  const lines = traffic
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { event: string });
  assert.equal(lines.filter((l) => l.event === 'ws.open').length, 1);
  assert.equal(lines.filter((l) => l.event === 'ws.close').length, 1, 'the close line is never shed');
  const written = lines.filter((l) => l.event === 'ws.frame' || l.event === 'ws.message').length;
  assert.ok(written < count * 4, `some lines were shed (${written} of ${count * 4} written)`);
  assert.equal(written + dropped, count * 4 + 4, 'every line is either written or counted (+ the close frames)');
});
