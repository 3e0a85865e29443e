// A stdout whose reader stops (issue 11, item 4): a real `wsgate run` child with the frame tap on writes its log into
// a pipe this test stops reading, while WebSocket clients push small messages through it on loopback. The log
// queue is bounded (log.maxQueueBytes): the child's RSS stays far below what the traffic lines would need, it keeps
// serving HTTP and new WebSockets, and once the test reads again, a log.dropped line counts what was shed while every
// access line and every WebSocket close line is there.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type WebSocket from 'ws';
import { startEchoServer } from '../../../src/echo/server.ts';
import { startCli, writeOneRouteConfig } from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/tls.ts';
import { openWs, roundTrip } from '../../helpers/ws-client.ts';

const MAX_QUEUE = 1024 * 1024;

type LogLine = { event?: string; path?: string; destination?: string; dropped?: number; droppedOther?: number };

/** Resident memory of a process, from /proc (Linux, like the rest of the suite). */
function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

/** Sends `count` small messages with at most `window` unanswered, and waits for every echo. */
async function pump(ws: WebSocket, count: number, window = 500): Promise<void> {
  let sent = 0;
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    const fill = () => {
      while (sent < count && sent - received < window) ws.send(`m${sent++}`);
    };
    ws.on('message', () => {
      received++;
      if (received === count) resolve();
      else fill();
    });
    ws.once('close', () => reject(new Error(`closed after ${received} of ${count} echoes`)));
    fill();
  });
}

async function httpStatus(url: string): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  await res.arrayBuffer();
  return res.status;
}

test('a stalled stdout: traffic lines are shed within log.maxQueueBytes, the proxy keeps serving, the drop is reported', async (t) => {
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const dir = tempDir(t, 'wsgate-log-queue-');
  const file = writeOneRouteConfig(dir, `ws://127.0.0.1:${echo.address.port}`, [
    'log:',
    '  format: json',
    `  maxQueueBytes: ${MAX_QUEUE}`,
    'shutdown:',
    '  grace: 200ms',
  ]);
  // A small young generation: V8 otherwise grows it by tens of MiB under this allocation rate whatever the log
  // does, which would hide what is measured here (measured: +26 MiB with the default, +3 MiB with this).
  const cli = startCli(['run', '-c', file, '--tap', 'frames'], { env: { NODE_OPTIONS: '--max-semi-space-size=1' } });
  t.after(() => cli.child.kill('SIGKILL'));
  const [, port] = await cli.waitForOutput(/web listening on 127\.0\.0\.1:(\d+)/);
  const pid = cli.child.pid!;
  const base = `http://127.0.0.1:${port}`;
  const wsUrl = `ws://127.0.0.1:${port}/stream`;

  // Warm up while stdout is read, so the baseline includes a served WebSocket and its log lines.
  const warm = await openWs(wsUrl);
  await pump(warm, 2000);
  warm.close(1000);
  await once(warm, 'close');
  assert.equal(await httpStatus(`${base}/warm`), 200);
  await cli.waitForOutput(/"event":"ws\.close"/);
  const trafficLines = cli
    .stdout()
    .split('\n')
    .filter((l) => l.includes('"event":"ws.frame"') || l.includes('"event":"ws.message"'));
  const lineBytes = trafficLines.reduce((sum, l) => sum + l.length + 1, 0) / trafficLines.length;
  const baseline = rssBytes(pid);

  cli.child.stdout!.pause();
  const stalledAt = performance.now();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssBytes(pid));
  }, 50);
  t.after(() => clearInterval(sampler));

  const connections = 4;
  const messages = 10_000;
  const sockets = await Promise.all(Array.from({ length: connections }, () => openWs(wsUrl)));
  await Promise.all(sockets.map((ws) => pump(ws, messages)));
  // Still serving while its log is stalled: plain HTTP, and a new WebSocket with an echo.
  const statuses = await Promise.all(Array.from({ length: 5 }, (_, i) => httpStatus(`${base}/during-${i}`)));
  assert.deepEqual(statuses, [200, 200, 200, 200, 200]);
  const late = await openWs(wsUrl);
  assert.equal(String((await roundTrip(late, 'still serving')).data), 'still serving');
  for (const ws of [...sockets, late]) ws.close(1000);
  await Promise.all([...sockets, late].map((ws) => once(ws, 'close')));
  clearInterval(sampler);
  peak = Math.max(peak, rssBytes(pid));

  const grew = peak - baseline;
  t.diagnostic(
    `stalled for ${Math.round(performance.now() - stalledAt)} ms; RSS grew ${Math.round(grew / 2 ** 20)} MiB`,
  );
  cli.child.stdout!.resume();
  // The report that the destination caught up; reports made every 10 s while it was behind come before it.
  await cli.waitForOutput(/"event":"log\.dropped"[^\n]*"recovered":true/, 30_000);
  const lines = () =>
    cli
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);
  const deadline = Date.now() + 10_000;
  while (lines().filter((l) => l.event === 'ws.close').length < connections + 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const all = lines();
  const drops = all.filter((l) => l.event === 'log.dropped');
  assert.ok(drops.every((d) => d.destination === 'stdout'));
  const dropped = drops.reduce((sum, d) => sum + (d.dropped ?? 0), 0);
  assert.ok(dropped > 0, `dropped ${dropped}`);
  assert.ok(
    drops.every((d) => d.droppedOther === 0),
    'access and close lines are never dropped below the hard ceiling',
  );

  // Every access line and every WebSocket's open and close line made it, in spite of the drop.
  const accessPaths = all.filter((l) => l.event === 'http.access').map((l) => l.path);
  for (let i = 0; i < 5; i++) assert.ok(accessPaths.includes(`/during-${i}`), `access line for /during-${i}`);
  assert.equal(all.filter((l) => l.event === 'ws.close').length, connections + 2, 'one close line per WebSocket');
  assert.equal(all.filter((l) => l.event === 'ws.open').length, connections + 2, 'one open line per WebSocket');

  // Without the bound the shed lines would have been held in memory (as strings, more than their length in bytes):
  // with log.maxQueueBytes set to 1 GiB this test measured about 300 MiB of growth for 100,000 messages. With it
  // the process grows by a few MiB.
  const wouldNeed = dropped * lineBytes;
  t.diagnostic(`dropped ${dropped} lines of ~${Math.round(lineBytes)} bytes (${Math.round(wouldNeed / 2 ** 20)} MiB)`);
  assert.ok(wouldNeed > 32 * 2 ** 20, `the traffic would need more than 32 MiB of log (${wouldNeed} bytes)`);
  assert.ok(grew < 16 * 2 ** 20, `RSS grew by ${grew} bytes while the log was stalled: well below what it would need`);
});
