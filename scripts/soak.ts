// `npm run soak`: many concurrent WebSocket connections through one wsgate for a minute, every echo checked.
// It starts a `ws` echo server (scripts/bench/echo-server.ts) and wsgate (`src/cli/main.ts run` with a generated config:
// one reverse listener on 127.0.0.1 port 0, tap `frames`, the default log level, lines to a log file as a user would
// run it), ramps up SOAK_CONNS connections from several client processes (scripts/soak/client.ts), has each send a
// sequence-numbered text message every second for SOAK_SECONDS, then closes them all and waits. wsgate's RSS is read
// from /proc (its whole process tree) idle, with everything open, at its peak, at the end and after the close; the V8
// heap beside it comes from a preloaded probe (scripts/soak/probe.ts). Prints a markdown table and PASS/FAIL lines.
//
//   npm run soak                                   10,000 connections × 60 s (≈ 2–3 minutes in all)
//   SOAK_CONNS=200 SOAK_SECONDS=10 npm run soak    a quick try
//   other variables: SOAK_SIZE (64 B), SOAK_BATCH (100 handshakes at once per client), SOAK_SETTLE (15 s after the
//   close), SOAK_CLIENTS, SOAK_WORKERS (default: what the descriptor limit needs), SOAK_LOG (a path, or `null` for
//   /dev/null; default a file in the temp dir), SOAK_KEEP=1 (keep the temp dir), SOAK_TAP (frames),
//   SOAK_ALLOCATOR (jemalloc, preloaded as the Docker image does, when the machine has it; glibc to compare),
//   SOAK_WSGATE_ENV ("NAME=value …" for wsgate only, e.g. MALLOC_ARENA_MAX=2)
//
// Only 127.0.0.1. Every wait is bounded, the run has an overall deadline, and every process it started (each in its
// own process group) is stopped on exit, on SIGINT/SIGTERM and on failure. Every child gets the same descriptor
// limit (`ulimit -n` in a `sh -c` wrapper): enough for wsgate to hold all connections in one process if the hard
// limit allows, else the hard limit, and then the plan adds wsgate workers so none needs more than that.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliNodeFlags } from './bench/cli-flags.ts';
import { sleep } from './bench/net.ts';
import { treeCpuMicros, treeRssKiB } from './bench/proc.ts';
import { chooseAllocator } from './soak/allocator.ts';
import { achievableFdLimit, Children, waitForLine, waitForMessage } from './soak/children.ts';
import type { OrchestratorMessage } from './soak/client.ts';
import { Histogram } from './soak/histogram.ts';
import { listenDrops, loadavg, memory, tallyLog } from './soak/measure.ts';
import { planProcesses, settingsFromEnv, splitConnections } from './soak/plan.ts';
import { renderReport, type SoakResult } from './soak/report.ts';
import { addTotals, emptyTotals } from './soak/sequence.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const settings = settingsFromEnv(process.env);
const t0 = Date.now();
const log = (msg: string) => process.stderr.write(`[soak ${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);

const children = new Children(REPO);
const stopAll = (signal: NodeJS.Signals) => children.stopAll(signal);
let tmp = '';

function cleanupTmp(): void {
  if (tmp && !settings.keep) rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', () => {
  stopAll('SIGKILL');
  cleanupTmp();
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    log(`${sig}: stopping everything`);
    stopAll('SIGTERM');
    setTimeout(() => process.exit(130), 1500);
  });
}

const tell = (c: ChildProcess, m: OrchestratorMessage) => c.send(m);

async function main(): Promise<void> {
  const { conns, seconds } = settings;
  const fdLimit = achievableFdLimit(2 * conns + 1000);
  const plan = planProcesses(conns, fdLimit, { workers: settings.workers, clients: settings.clients });
  const notes = [...plan.notes];
  const allocator = chooseAllocator(process.env['SOAK_ALLOCATOR']);
  if (allocator.note !== undefined) notes.push(allocator.note);
  const wsgateEnv = { ...allocator.env, ...settings.wsgateEnv };
  const extraEnv = Object.entries(settings.wsgateEnv).map(([k, v]) => `${k}=${v}`);
  if (extraEnv.length > 0) notes.push(`wsgate ran with ${extraEnv.join(' ')}`);
  if (fdLimit < 2 * conns + 1000) {
    notes.push(`children's descriptor limit: ${fdLimit} (the hard limit; raising it needs CAP_SYS_RESOURCE)`);
  }
  tmp = mkdtempSync(path.join(os.tmpdir(), 'wsgate-soak-'));
  const probeDir = path.join(tmp, 'probe');
  mkdirSync(probeDir);
  log(
    `${conns} connections × ${seconds} s, ${plan.workers} wsgate worker(s), ${plan.clients} clients, fd limit ${fdLimit}`,
  );
  const loadStart = loadavg();
  const deadline = setTimeout(
    () => {
      log('overall deadline reached: stopping everything');
      process.exit(1);
    },
    (400 + seconds + settings.settle) * 1000,
  );
  deadline.unref();

  const echo = children.spawnNode([path.join(REPO, 'scripts', 'bench', 'echo-server.ts'), '--port', '0'], fdLimit, {});
  const echoPort = Number((await waitForLine(echo, /READY (\d+)/, 20_000))[1]);

  const logFile = settings.logFile ?? path.join(tmp, 'wsgate.log');
  const perWorker = Math.ceil(conns / plan.workers);
  // A listener's default limits.maxConnections is 10,000 per process; only raised when one worker would reach it.
  const maxConnections = perWorker + 100 > 10_000 ? `\nlimits: { maxConnections: ${perWorker + 100} }` : '';
  const config = path.join(tmp, 'wsgate.yaml');
  writeFileSync(
    config,
    `listeners:
  - name: soak
    bind: 127.0.0.1:0
    routes:
      - upstream: ws://127.0.0.1:${echoPort}
tap: { level: ${settings.tap} }
log: { file: ${JSON.stringify(logFile)} }
workers: ${plan.workers}${maxConnections}
`,
  );
  const cli = path.join(REPO, 'src', 'cli', 'main.ts');
  const wsgate = children.spawnNode(
    [
      // The bin's own Node flags (its shebang's), so the soak measures what users run.
      ...cliNodeFlags(cli),
      '--import',
      path.join(REPO, 'scripts', 'soak', 'probe.ts'),
      cli,
      'run',
      '-c',
      config,
    ],
    fdLimit,
    { env: { ...wsgateEnv, SOAK_PROBE_DIR: probeDir } },
  );
  // With workers, the primary names them after the listener line, often in the same chunk: wait for both at once.
  const ready =
    plan.workers > 1 ? /listening on 127\.0\.0\.1:(\d+)[\s\S]*\d+ workers \(pids/ : /listening on 127\.0\.0\.1:(\d+)/;
  const wsgatePort = Number((await waitForLine(wsgate, ready, 30_000))[1]);
  // Keep reading its output so a full pipe never blocks wsgate; the tail goes into error reports.
  let wsgateTail = '';
  for (const s of [wsgate.stdout, wsgate.stderr])
    s?.on('data', (b: Buffer) => (wsgateTail = (wsgateTail + b).slice(-2000)));
  for (const s of [echo.stdout, echo.stderr]) s?.resume();
  const wsgatePid = wsgate.pid!;
  log(`echo on 127.0.0.1:${echoPort}, wsgate (pid ${wsgatePid}) on 127.0.0.1:${wsgatePort}, log ${logFile}`);

  await sleep(3000);
  const idle = await memory(wsgatePid, probeDir);
  log(`idle RSS ${(idle.rssKiB / 1024).toFixed(1)} MiB`);

  const shares = splitConnections(conns, plan.clients);
  const hardLimit = 400 + seconds + settings.settle;
  const clients = shares.map((n, i) =>
    children.spawnNode(
      [
        path.join(REPO, 'scripts', 'soak', 'client.ts'),
        '--url',
        `ws://127.0.0.1:${wsgatePort}/soak`,
        '--conns',
        String(n),
        '--first',
        String(shares.slice(0, i).reduce((a, b) => a + b, 0)),
        '--size',
        String(settings.size),
        '--batch',
        String(settings.batch),
        '--seconds',
        String(seconds),
        '--hard-limit',
        String(hardLimit),
      ],
      fdLimit,
      { ipc: true },
    ),
  );
  await sleep(500); // the clients load their modules
  const dropsBefore = listenDrops();
  const rampStart = Date.now();
  const openedP = clients.map((c) => waitForMessage(c, 'opened', 200_000));
  for (const c of clients) tell(c, { type: 'open' });
  const opened = await Promise.all(openedP);
  const rampSeconds = (Date.now() - rampStart) / 1000;
  const dropsAfter = listenDrops();
  const rampDrops =
    dropsBefore && dropsAfter
      ? Math.max(
          dropsAfter.listenOverflows - dropsBefore.listenOverflows,
          dropsAfter.listenDrops - dropsBefore.listenDrops,
        )
      : null;
  const openedCount = opened.reduce((a, m) => a + m.opened, 0);
  const openFailures = opened.reduce((a, m) => a + m.failed, 0);
  const handshake = new Histogram();
  for (const m of opened) handshake.merge(m.handshake);
  log(
    `${openedCount} open in ${rampSeconds.toFixed(1)} s${openFailures ? `, ${openFailures} failed (${opened.find((m) => m.lastError)?.lastError})` : ''}`,
  );

  await sleep(2000);
  const open = await memory(wsgatePid, probeDir);
  log(`all open: RSS ${(open.rssKiB / 1024).toFixed(1)} MiB`);

  const cpu0 = {
    wsgate: treeCpuMicros(wsgatePid),
    echo: treeCpuMicros(echo.pid!),
    clients: clients.map((c) => treeCpuMicros(c.pid!)),
  };
  const at = Date.now() + 500;
  const doneP = clients.map((c) => waitForMessage(c, 'done', (seconds + 60) * 1000));
  for (const c of clients) tell(c, { type: 'start', at });
  let peakRssKiB = open.rssKiB;
  let finished = false;
  const sampler = (async () => {
    // Bounded by the done messages, which arrive within seconds + 60 s or fail the run.
    while (!finished) {
      peakRssKiB = Math.max(peakRssKiB, treeRssKiB(wsgatePid));
      await sleep(1000);
    }
  })();
  const windowStart = Date.now();
  const done = await Promise.all(doneP);
  const cpu = {
    wsgate: (treeCpuMicros(wsgatePid) - cpu0.wsgate) / 1e6,
    echo: (treeCpuMicros(echo.pid!) - cpu0.echo) / 1e6,
    clients: clients.map((c, i) => (treeCpuMicros(c.pid!) - cpu0.clients[i]!) / 1e6),
    windowSeconds: (Date.now() - windowStart) / 1000,
  };
  finished = true;
  await sampler;
  const end = await memory(wsgatePid, probeDir);
  peakRssKiB = Math.max(peakRssKiB, end.rssKiB);
  const loadEnd = loadavg();
  log(`sending done (${cpu.windowSeconds.toFixed(1)} s window); RSS ${(end.rssKiB / 1024).toFixed(1)} MiB`);

  const closedP = clients.map((c) => waitForMessage(c, 'closed', 60_000));
  for (const c of clients) tell(c, { type: 'close' });
  const closed = await Promise.all(closedP);
  log(`all closed; settling ${settings.settle} s`);
  const settleTrace: string[] = [];
  for (let i = 1; i <= settings.settle; i++) {
    await sleep(1000);
    if (i % 5 === 0 || i === settings.settle) settleTrace.push(`${i} s ${(treeRssKiB(wsgatePid) / 1024).toFixed(0)}`);
  }
  if (settleTrace.length > 0) log(`RSS while settling (MiB): ${settleTrace.join(', ')}`);
  const afterClose = await memory(wsgatePid, probeDir);
  const afterGc = await memory(wsgatePid, probeDir, true);
  log(
    `after close RSS ${(afterClose.rssKiB / 1024).toFixed(1)} MiB (LazyFree ${((afterClose.lazyFreeKiB ?? 0) / 1024).toFixed(1)}), after GC ${(afterGc.rssKiB / 1024).toFixed(1)} MiB (LazyFree ${((afterGc.lazyFreeKiB ?? 0) / 1024).toFixed(1)})`,
  );

  if (wsgate.exitCode !== null || wsgate.signalCode !== null) notes.push(`wsgate exited during the run: ${wsgateTail}`);
  for (const c of clients) tell(c, { type: 'exit' });
  stopAll('SIGTERM');
  await sleep(1000);

  const rtt = new Histogram();
  const lateness = new Histogram();
  let totals = emptyTotals();
  const closeCodes: Record<string, number> = {};
  for (const d of done) {
    rtt.merge(d.rtt);
    lateness.merge(d.lateness);
    totals = addTotals(totals, d.totals);
    for (const [code, n] of Object.entries(d.closeCodes)) closeCodes[code] = (closeCodes[code] ?? 0) + n;
  }
  const worst = Array.from({ length: Math.max(...done.map((d) => d.worstBySecond.length)) }, (_, i) =>
    Math.max(...done.map((d) => d.worstBySecond[i] ?? 0)),
  );
  log(`longest round trip in each second of the run (ms): ${worst.map((x) => Math.round(x)).join(' ')}`);
  const clientErrors = done.reduce((a, d) => a + d.errors, 0);
  if (clientErrors > 0) {
    notes.push(`${clientErrors} socket errors on the clients (last: ${done.find((d) => d.lastError)?.lastError})`);
  }
  const logged = logFile !== '/dev/null' && existsSync(logFile);
  const result: SoakResult = {
    conns,
    opened: openedCount,
    openFailures,
    seconds,
    rampSeconds,
    listenDrops: rampDrops,
    handshake: { p50: handshake.percentile(50), p99: handshake.percentile(99), max: handshake.max() },
    size: settings.size,
    workers: plan.workers,
    allocator: allocator.name,
    tap: settings.tap,
    clients: plan.clients,
    totals,
    corrupt: done.reduce((a, d) => a + d.corrupt, 0),
    skipped: done.reduce((a, d) => a + d.skipped, 0),
    unexpectedCloses:
      done.reduce((a, d) => a + d.unexpectedCloses, 0) + closed.reduce((a, c) => a + c.unexpectedCloses, 0),
    closeCodes,
    rtt: { p50: rtt.percentile(50), p99: rtt.percentile(99), max: rtt.max() },
    worstBySecond: worst,
    lateness: { p99: lateness.percentile(99), max: lateness.max() },
    memory: { idle, open, peakRssKiB, end, afterClose },
    afterGc,
    settleSeconds: settings.settle,
    cpu,
    load: { start: loadStart, end: loadEnd },
    cpus: os.cpus().length,
    log: {
      file: settings.logFile ?? 'a file in the temp dir',
      bytes: logged ? statSync(logFile).size : null,
      counts: logged ? await tallyLog(logFile) : null,
    },
    notes: [
      ...notes,
      `${os.cpus().length} CPUs, Node ${process.version}, ${new Date(t0).toISOString().slice(0, 16)} UTC, ${((Date.now() - t0) / 1000).toFixed(0)} s in all`,
    ],
  };
  process.stdout.write(`${renderReport(result)}\n`);
  const failed = renderReport(result).includes('\nFAIL ');
  process.exitCode = failed ? 1 : 0;
}

main()
  .catch((e) => {
    log(`failed: ${(e as Error).stack ?? e}`);
    process.exitCode = 2;
  })
  .finally(() => {
    stopAll('SIGTERM');
    setTimeout(() => process.exit(), 1500).unref();
  });
