// wsgate run --workers as a process tree: connections spread over the workers with every connection's open and
// close line in the one log; SIGHUP replaces the workers one at a time while new connections keep being served and
// the old workers' WebSockets work until their worker closes them with 1001; an invalid config on SIGHUP leaves the
// workers alone; a killed worker is replaced; SIGTERM stops everything with exit 0.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import WebSocket from 'ws';
import { type RunningCli, runCli, startCli } from '../../helpers/cli.ts';
import { closedPort } from '../../helpers/servers.ts';
import { startEchoUpstream } from '../inspector/helpers.ts';

type Line = Record<string, unknown> & { event?: string; worker?: number; conn?: string };

/** Every stdout line is a whole JSON object: lines of different workers never interleave. */
function logLines(cli: RunningCli): Line[] {
  return cli
    .stdout()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Line;
      } catch {
        throw new Error(`a log line is not JSON (interleaved output?): ${l.slice(0, 300)}`);
      }
    });
}

function events(cli: RunningCli, name: string): Line[] {
  return logLines(cli).filter((l) => l.event === name);
}

/** Polls `cond`; a timeout says what the wsgate under test (`cli`) printed last, for a failure seen only in CI. */
async function waitUntil(what: string, cond: () => boolean, timeoutMs = 10_000, cli?: RunningCli): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) {
      const tail = cli === undefined ? '' : `; its output ended with:\n${(cli.stdout() + cli.stderr()).slice(-3000)}`;
      throw new Error(`timed out waiting for ${what}${tail}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function writeConfig(body: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'wsgate-workers-')), 'wsgate.yaml');
  writeFileSync(file, body);
  return file;
}

function configText(upstream: string, extra = ''): string {
  return `listeners:
  - name: web
    bind: 127.0.0.1:0
    routes:
      - match: { path: /echo }
        upstream: ${upstream}
log: { format: json }
shutdown: { grace: 3s }
${extra}`;
}

/** Starts wsgate; the cleanup asks for a graceful stop first so no worker outlives the test. */
async function start(t: TestContext, args: string[]) {
  const cli = startCli(['run', ...args]);
  t.after(async () => {
    if (cli.child.exitCode !== null || cli.child.signalCode !== null) return;
    cli.child.kill('SIGTERM');
    const timer = setTimeout(() => cli.child.kill('SIGKILL'), 10_000);
    await cli.exited;
    clearTimeout(timer);
  });
  const [, port] = await cli.waitForOutput(/web listening on 127\.0\.0\.1:(\d+)/, 20_000);
  const [, count] = await cli.waitForOutput(/(\d+) workers \(pids ([\d, ]+)\)/);
  // The announce goes to stderr at once; log lines are batched a few milliseconds apart: wait for theirs too.
  await waitUntil(
    'a worker.ready line from every worker',
    () => events(cli, 'worker.ready').length >= Number(count),
    10_000,
    cli,
  );
  return { cli, url: `ws://127.0.0.1:${port}/echo`, workers: Number(count) };
}

/** Opens a WebSocket and checks one echo round trip; rejects on any failure (with the close code), bounded in time. */
function openEcho(url: string, timeoutMs = 5000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const fail = (why: string) => {
      clearTimeout(timer);
      ws.terminate();
      reject(new Error(why));
    };
    const timer = setTimeout(() => fail('no echo in time'), timeoutMs);
    ws.once('open', () => ws.send('ping'));
    ws.once('message', (data) => {
      clearTimeout(timer);
      if (String(data) === 'ping') resolve(ws);
      else fail(`echo was ${String(data)}`);
    });
    ws.once('error', (err) => fail(`error: ${err.message}`));
    ws.once('close', (code, reason) => fail(`closed before the echo: ${code} ${String(reason)}`));
  });
}

async function closeWs(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  const closed = once(ws, 'close');
  ws.close(1000, 'done');
  await closed;
}

test('--workers 2: connections spread over both workers; every connection has its open and close line', async (t) => {
  const echoPort = await closedPort();
  // The built-in echo server binds a fixed port, as the route must name it: one that was free a moment ago.
  const file = writeConfig(configText(`ws://127.0.0.1:${echoPort}`, `echo: { bind: "127.0.0.1:${echoPort}" }\n`));
  const { cli, url, workers } = await start(t, ['-c', file, '--workers', '2']);
  assert.equal(workers, 2);

  const sockets = await Promise.all(Array.from({ length: 20 }, () => openEcho(url)));
  await Promise.all(sockets.map(closeWs));
  await waitUntil('20 ws.close lines', () => events(cli, 'ws.close').length >= 20, 10_000, cli);

  const opens = events(cli, 'ws.open');
  const closes = events(cli, 'ws.close');
  const key = (l: Line) => `${l.worker}/${l.conn}`;
  assert.equal(opens.length, 20);
  assert.equal(closes.length, 20);
  for (const l of [...opens, ...closes]) assert.equal(typeof l.worker, 'number', 'every ws line names its worker');
  assert.deepEqual(new Set(closes.map(key)), new Set(opens.map(key)), 'each open has its close, same worker');
  assert.equal(new Set(opens.map(key)).size, 20, 'worker + conn identify a connection');
  assert.equal(new Set(opens.map((l) => l.worker)).size, 2, 'both workers handled connections');

  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exitedWithin(), { code: 0, signal: null });
  assert.equal(events(cli, 'worker.exit').length, 2);
  assert.ok(events(cli, 'shutdown.done').length >= 3, 'both workers and the primary shut down');
});

test('SIGHUP: rolling restart; open WebSockets work until their worker closes them with 1001; new connections are served throughout', async (t) => {
  const upstream = (await startEchoUpstream(t)).url;
  const file = writeConfig(configText(upstream));
  const { cli, url } = await start(t, ['-c', file, '--workers', '2']);
  const oldWorkers = new Set(events(cli, 'worker.ready').map((l) => l.worker));
  assert.equal(oldWorkers.size, 2);

  // Held connections, chatting every 25 ms until wsgate closes them.
  let hupAt = Number.POSITIVE_INFINITY;
  const held = await Promise.all(Array.from({ length: 4 }, () => openEcho(url)));
  const outcomes = held.map((ws) => {
    let echoesAfterHup = 0;
    ws.on('message', () => {
      if (Date.now() > hupAt) echoesAfterHup += 1;
    });
    const timer = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('still here'), 25);
    return once(ws, 'close').then(([code, reason]) => {
      clearInterval(timer);
      return { code: code as number, reason: String(reason), echoesAfterHup };
    });
  });
  hupAt = Date.now();
  cli.child.kill('SIGHUP');

  // New connections during the restart, one after another, until both old workers are gone (bounded). One that an
  // old worker accepted just before it was told to stop is closed by its shutdown like every other connection it
  // holds (1001, at most one per old worker as the loop is sequential); anything else is a failure.
  const failures: string[] = [];
  let served = 0;
  let goingAway = 0;
  const oldGone = () => events(cli, 'worker.exit').filter((l) => oldWorkers.has(l.worker)).length === 2;
  const deadline = Date.now() + 20_000;
  for (let i = 0; i < 400 && Date.now() < deadline && !(oldGone() && served > 5); i++) {
    try {
      await closeWs(await openEcho(url));
      served += 1;
    } catch (err) {
      const message = (err as Error).message;
      if (message === 'closed before the echo: 1001 wsgate is shutting down') goingAway += 1;
      else failures.push(message);
    }
  }
  assert.deepEqual(failures, [], 'no new connection failed during the restart');
  assert.ok(goingAway <= 2, `${goingAway} new connections were closed by a stopping worker`);
  assert.ok(oldGone(), 'both old workers exited');
  assert.ok(served > 5);

  for (const outcome of await Promise.all(outcomes)) {
    assert.equal(outcome.code, 1001, 'closed by its draining worker, not dropped');
    assert.equal(outcome.reason, 'wsgate is shutting down');
    assert.ok(outcome.echoesAfterHup > 0, 'the connection kept working after SIGHUP');
  }
  const readyNew = () =>
    new Set(
      events(cli, 'worker.ready')
        .map((l) => l.worker)
        .filter((w) => !oldWorkers.has(w)),
    );
  // Lines are written in batches a few milliseconds apart, each process its own: wait for the lines, not the order.
  await waitUntil(
    'both new workers ready and the restart logged',
    () => {
      return readyNew().size === 2 && events(cli, 'workers.restarted').length === 1;
    },
    10_000,
    cli,
  );
  const newWorkers = readyNew();
  assert.equal(newWorkers.size, 2);
  // One at a time: the primary's own lines show a new worker listening before each old one is told to stop.
  const primary = logLines(cli).filter((l) => l['pid'] === cli.child.pid);
  let listening = 0;
  for (const l of primary) {
    if (l.event === 'worker.ready' && newWorkers.has(l.worker)) listening += 1;
    if (l.event === 'worker.stopping' && oldWorkers.has(l.worker)) {
      assert.ok(listening >= 1, `a new worker listened before old worker ${l.worker} was stopped`);
      assert.equal(l['reason'], 'rolling restart');
      listening -= 1;
    }
  }
  // Once the old workers are gone, every connection goes to a new one.
  const sockets = await Promise.all(Array.from({ length: 6 }, () => openEcho(url)));
  await Promise.all(sockets.map(closeWs));
  await waitUntil('the last ws.close lines', () => events(cli, 'ws.close').length >= 4 + served + 6, 10_000, cli);
  const lastOpens = events(cli, 'ws.open').slice(-6);
  for (const l of lastOpens) assert.ok(newWorkers.has(l.worker), `worker ${l.worker} is a new one`);

  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exitedWithin(), { code: 0, signal: null });
});

test('workers from the config: SIGHUP with a config that is invalid or cannot start leaves the workers alone; a killed worker is replaced', async (t) => {
  const upstream = (await startEchoUpstream(t)).url;
  const file = writeConfig(configText(upstream, 'workers: 2\n'));
  const { cli, url, workers } = await start(t, ['-c', file]);
  assert.equal(workers, 2);
  const ready = events(cli, 'worker.ready');

  writeFileSync(file, configText(upstream, 'workers: 2\nlimits: { idleTimout: 5s }\n'));
  cli.child.kill('SIGHUP');
  await cli.waitForOutput(/keeping the running config and workers/);
  assert.match(cli.stdout(), /idleTimout: unknown key/);
  assert.equal(events(cli, 'worker.start').length, 2, 'no worker was started');
  await closeWs(await openEcho(url));

  // Valid, but its certificate cannot be read: refused before any worker sees it.
  const tls = '    tls: { cert: /nonexistent/wsgate.pem, key: /nonexistent/wsgate-key.pem }\n    routes:';
  writeFileSync(file, configText(upstream, 'workers: 2\n').replace('    routes:', tls));
  cli.child.kill('SIGHUP');
  await waitUntil(
    'the refusal',
    () => events(cli, 'config.reload_failed').some((l) => String(l['msg']).includes('/nonexistent/wsgate.pem')),
    10_000,
    cli,
  );
  assert.equal(events(cli, 'worker.start').length, 2, 'no worker was started');
  writeFileSync(file, configText(upstream, 'workers: 2\n'));
  await closeWs(await openEcho(url));

  const victim = ready[0]!;
  process.kill(victim['workerPid'] as number, 'SIGKILL');
  await waitUntil('a replacement worker', () => events(cli, 'worker.ready').length === 3, 10_000, cli);
  const exit = events(cli, 'worker.exit').find((l) => l.worker === victim.worker);
  assert.equal(exit?.['signal'], 'SIGKILL');
  assert.equal(exit?.['unexpected'], true);
  assert.equal(events(cli, 'worker.restart').length, 1);
  for (let i = 0; i < 4; i++) await closeWs(await openEcho(url));

  // A config whose new listener cannot bind: the first new worker fails, the rolling restart stops there.
  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.after(() => busy.close());
  const busyPort = (busy.address() as net.AddressInfo).port;
  const extra = `  - name: extra\n    bind: 127.0.0.1:${busyPort}\n    routes: [{ upstream: "${upstream}" }]\nlog:`;
  writeFileSync(file, configText(upstream, 'workers: 2\n').replace('log:', extra));
  const running = new Set(events(cli, 'worker.ready').map((l) => l.worker));
  cli.child.kill('SIGHUP');
  await waitUntil('the failed restart', () => events(cli, 'workers.restart_failed').length === 1, 10_000, cli);
  assert.match(String(events(cli, 'workers.restart_failed')[0]!['msg']), /EADDRINUSE/);
  const stopped = events(cli, 'worker.stopping').filter((l) => running.has(l.worker));
  assert.deepEqual(stopped, [], 'the running workers were not stopped');
  for (let i = 0; i < 4; i++) await closeWs(await openEcho(url));

  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exitedWithin(), { code: 0, signal: null });
});

test('--workers takes a count or auto; anything else is a usage error', async () => {
  const file = writeConfig(configText('ws://127.0.0.1:9'));
  for (const bad of ['0', 'many', '1.5']) {
    const r = await runCli(['run', '-c', file, '--workers', bad]);
    assert.equal(r.code, 2, bad);
    assert.match(r.stderr, /--workers: expected a number of worker processes/);
  }
  const r = await runCli(['check', '-c', writeConfig(configText('ws://127.0.0.1:9', 'workers: none\n'))]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /workers: expected a number of worker processes from 1 to 1024, or "auto"/);
});

test('--workers 2: limits.maxHandshakesPerSecond is the listener’s rate, each worker taking its share', async (t) => {
  const echoPort = await closedPort();
  const file = writeConfig(
    configText(
      `ws://127.0.0.1:${echoPort}`,
      `echo: { bind: "127.0.0.1:${echoPort}" }\nlimits: { maxHandshakesPerSecond: 6 }\n`,
    ),
  );
  const { cli, url } = await start(t, ['-c', file, '--workers', '2']);
  const outcomes = await Promise.all(
    Array.from(
      { length: 30 },
      () =>
        new Promise<number>((resolve) => {
          const ws = new WebSocket(url);
          ws.on('open', () => {
            resolve(101);
            ws.close();
          });
          ws.on('unexpected-response', (_req, res) => {
            resolve(res.statusCode ?? 0);
            res.resume();
          });
          ws.on('error', () => resolve(0));
        }),
    ),
  );
  const opened = outcomes.filter((s) => s === 101).length;
  // 3 a second each (6 for two, not 6 each): a second's worth at once, and at most a token more in the meantime.
  assert.ok(opened >= 3 && opened <= 8, `${opened} opened`);
  assert.equal(outcomes.filter((s) => s === 503).length, 30 - opened);
  await waitUntil('a rate_limited line', () => events(cli, 'upgrade.rate_limited').length >= 1, 10_000, cli);
  for (const line of events(cli, 'upgrade.rate_limited')) assert.equal(line.limit, 3, 'each worker’s share');
});

test('workers: a file edit a worker cannot apply (a busy port) is kept by none; replacements start from the running config', async (t) => {
  const upstream = (await startEchoUpstream(t)).url;
  const file = writeConfig(configText(upstream, 'workers: 2\n'));
  const { cli, url } = await start(t, ['-c', file]);
  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.after(() => busy.close());
  const busyPort = (busy.address() as net.AddressInfo).port;
  const extra = `  - name: extra\n    bind: 127.0.0.1:${busyPort}\n    routes: [{ upstream: "${upstream}" }]\nlog:`;
  // The same edit moves the route: were it adopted anywhere, /echo would stop answering there.
  writeFileSync(file, configText(upstream, 'workers: 2\n').replace('log:', extra).replace('/echo', '/moved'));
  await waitUntil(
    "the primary's refusal",
    () => events(cli, 'config.reload_failed').some((l) => l['code'] === 'WSG_WORKER_RELOAD_REFUSED'),
    15_000,
    cli,
  );
  assert.equal(events(cli, 'config.reloaded').length, 0, 'no worker kept the new config');
  for (let i = 0; i < 4; i++) await closeWs(await openEcho(url));

  // A replacement starts from what runs, not from the refused config (whose port is still busy).
  const victim = events(cli, 'worker.ready')[0]!;
  process.kill(victim['workerPid'] as number, 'SIGKILL');
  await waitUntil('a replacement worker', () => events(cli, 'worker.ready').length === 3, 15_000, cli);
  assert.deepEqual(events(cli, 'worker.start_failed'), []);
  for (let i = 0; i < 4; i++) await closeWs(await openEcho(url));

  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exitedWithin(), { code: 0, signal: null });
});
