// `npm run bench`: wsgate against a direct connection and peer proxies, on 127.0.0.1, in ONE run.
// For each rep, for each scenario, for each proxy (order rotated per rep): start the proxy fresh, run one
// load.ts process against it, stop it. One echo server serves the whole run. Ratios to direct are taken
// within a rep and the median over reps is reported. See docs/benchmarks.md.
//
//   npm run bench                      full: 5 reps, 3 s windows, 200 handshakes, 2000 idle conns
//   BENCH_QUICK=1 npm run bench        quick: 1 rep, 1 s windows, 100 handshakes, 1000 idle (< 5 min)
//   npm run bench -- --quick           the same
//
// Environment: BENCH_REPS, BENCH_DURATION (s), BENCH_WARMUP (s), BENCH_HANDSHAKES, BENCH_IDLE_CONNS,
// BENCH_MAX_MINUTES (whole-run guard, default 45), PROXIES ("direct wsgate hp3 nginx haproxy", or variant
// names such as wsgate-frames), BENCH_TAPS (tap levels to run, default every level `run --help` lists),
// SCENARIOS (small, medium, large, throughput, handshake, idle or ids such as 64B-c50), BENCH_CODEC=1 (append
// the codec micro-bench), BENCH_TRAFFIC_LOG (tap levels that also run with the traffic log written to a file,
// default "frames payload", "none" for none), BENCH_CPU_PROF=1 (CPU profiles of every wsgate process),
// BENCH_WSGATE_DIR (run wsgate from another checkout, e.g. a snapshot of HEAD while the work tree changes),
// BENCH_CERTS=0 (skip the leaf certificate micro-bench), BENCH_INTERCEPT=1 (append the TLS interception
// throughput table, scripts/bench/intercept.ts), BENCH_LABEL (free text for the header), BENCH_RESULTS_DIR (default scripts/bench/results).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  allScenarios,
  type CertOutcome,
  type LoadResult,
  type RawEntry,
  rotation,
  type Scenario,
  selectScenarios,
  settingsFromEnv,
} from './model.ts';
import { freePort, waitForPort } from './net.ts';
import { ownOpenFileLimit } from './proc.ts';
import {
  BENCH_DIR,
  definitions,
  detectTapLevels,
  type ProxyDef,
  selectProxies,
  startProxy,
  TRAFFIC_LOG_TAPS,
  WSGATE_DIR,
  wsgateRevision,
} from './proxies.ts';
import { type Meta, markdown, summarize } from './report.ts';
import { fmt } from './stats.ts';
import { evaluateTargets, targetTally } from './targets.ts';
import { issue16Targets } from './targets-16.ts';

const env = process.env;
const { values: flags } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const settings = settingsFromEnv(env, flags.quick);
const notes: string[] = [];

// Each idle connection costs the proxy two descriptors (client and upstream side).
let idleConns = settings.idleConns;
const fdLimit = ownOpenFileLimit().soft;
if (fdLimit !== null && fdLimit < 2 * idleConns + 256) {
  idleConns = Math.max(100, Math.floor((fdLimit - 256) / 2));
  notes.push(
    `ulimit -n is ${fdLimit}: idle scenario lowered from ${settings.idleConns} to ${idleConns} connections ` +
      '(raise it with `ulimit -n` before `npm run bench`).',
  );
}

const tapsAvailable = detectTapLevels();
const tapFilter = (env['BENCH_TAPS'] ?? '').split(/[\s,]+/).filter(Boolean);
const taps = tapFilter.length > 0 ? tapsAvailable.filter((t) => tapFilter.includes(t)) : tapsAvailable;
if (tapsAvailable.length === 0) {
  notes.push(
    '`wsgate run --help` lists no --tap option yet: one plain wsgate row is measured, and it stands in for ' +
      'tap frames in the targets. The tap variants (off, meta, frames, payload) appear once --tap exists.',
  );
}
const scenarios: Scenario[] = selectScenarios(
  allScenarios({ handshakes: settings.handshakes, idleConns }),
  env['SCENARIOS'],
);
// "+log" variants write the traffic log to a file: what a tap costs when its lines are kept. BENCH_TRAFFIC_LOG
// lists the levels that get one (default "frames payload"; "none" for none).
const logSpec = (env['BENCH_TRAFFIC_LOG'] ?? TRAFFIC_LOG_TAPS.join(' ')).split(/[\s,]+/).filter(Boolean);
const { chosen, skipped } = selectProxies(definitions(taps, logSpec), env['PROXIES']);
for (const s of skipped) process.stderr.write(`skipping ${s.name}: ${s.why}\n`);

function runLoad(argv: string[], limitS: number): Promise<LoadResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(BENCH_DIR, 'load.ts'), ...argv, '--hard-limit', String(limitS)],
      { timeout: (limitS + 5) * 1000, maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        const line = String(stdout).trim().split('\n').pop() ?? '';
        try {
          resolve(JSON.parse(line) as LoadResult);
        } catch {
          resolve({ error: err?.message ?? (String(stderr).slice(-300) || 'no output') });
        }
      },
    );
  });
}

async function measure(
  def: ProxyDef,
  sc: Scenario,
  echoPort: number,
  workDir: string,
  profileDir: string | undefined,
): Promise<LoadResult> {
  const target = `127.0.0.1:${echoPort}`;
  let running: Awaited<ReturnType<typeof startProxy>>;
  try {
    running = await startProxy(def, target, workDir, profileDir);
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0] ?? 'failed to start' };
  }
  let result: LoadResult = { error: 'not measured' };
  try {
    result = await runScenario(sc, running.port ?? echoPort, running.pid);
    if ('error' in result) {
      // The proxy's own account (e.g. the log line behind a 502) goes with the error.
      const last = running.logTail().split('\n').filter(Boolean).pop();
      if (last) result = { error: `${result.error}; proxy log: ${last.slice(0, 300)}` };
    }
  } finally {
    const died = await running.stop();
    if (died !== null) result = { error: died };
  }
  return result;
}

function runScenario(sc: Scenario, port: number, pid: number | null): Promise<LoadResult> {
  const argv = [sc.kind, '--url', `ws://127.0.0.1:${port}/`];
  if (pid !== null) argv.push('--pid', String(pid));
  if (sc.kind === 'pingpong') {
    argv.push(
      '--conns',
      String(sc.conns),
      '--size',
      String(sc.size),
      '--duration',
      String(settings.durationS),
      '--warmup',
      String(settings.warmupS),
    );
    return runLoad(argv, Math.ceil(settings.durationS + settings.warmupS + 30));
  }
  if (sc.kind === 'handshake') {
    argv.push('--count', String(sc.count), '--max-time', '60');
    return coldAndWarm(argv);
  }
  argv.push('--count', String(sc.count));
  return runLoad(argv, 120);
}

/** Handshakes a proxy process runs before the warm measurement (nginx has no JIT; Node proxies do). */
const WARM_HANDSHAKES = 1000;

/** The handshake scenario on a fresh proxy (cold), then again on the same process after WARM_HANDSHAKES. */
async function coldAndWarm(argv: string[]): Promise<LoadResult> {
  const cold = await runLoad(argv, 75);
  if ('error' in cold || cold.mode !== 'handshake') return cold;
  const warm = await runLoad([...argv, '--warmup-count', String(WARM_HANDSHAKES)], 75);
  return { ...cold, warmP50Ms: 'error' in warm || warm.mode !== 'handshake' ? null : warm.p50Ms };
}

function brief(sc: Scenario, r: LoadResult): string {
  if ('error' in r) return `ERROR ${r.error}`;
  if (r.mode === 'pingpong') {
    return `${fmt(r.msgsPerSec)} rt/s p50 ${fmt(r.p50Ms, 3)} ms p99 ${fmt(r.p99Ms, 3)} ms cpu ${fmt(r.proxyCpuUsPerMsg)} µs/rt`;
  }
  if (r.mode === 'handshake') {
    return `p50 ${fmt(r.p50Ms, 3)} ms p99 ${fmt(r.p99Ms, 3)} ms (${r.count} ok, ${r.failures} failed), warm p50 ${fmt(r.warmP50Ms ?? null, 3)} ms`;
  }
  return `${fmt(r.kibPerConn)} KiB/conn (${r.opened}/${r.requested} opened in ${r.openS} s${sc.kind === 'idle' && r.failures ? `, ${r.failures} failed` : ''})`;
}

/** The leaf certificate micro-bench in its own process (skipped by itself when the checkout has no TLS code). */
function runCerts(): Promise<CertOutcome> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(BENCH_DIR, 'certs.ts'), settings.quick ? '100' : '200'],
      { timeout: 90_000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        try {
          resolve(JSON.parse(String(stdout).trim().split('\n').pop() ?? '') as CertOutcome);
        } catch {
          resolve({ error: err?.message ?? (String(stderr).slice(-300) || 'no output') });
        }
      },
    );
  });
}

/** BENCH_INTERCEPT=1: wss through wsgate's TLS interception vs direct wss (its own processes and reps). */
function interceptSection(): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(BENCH_DIR, 'intercept.ts'), ...(settings.quick ? ['--quick'] : [])],
      { timeout: 15 * 60_000, maxBuffer: 1 << 20 },
      (err, stdout) => {
        resolve(
          String(stdout).trim()
            ? `${String(stdout).trim()}\n`
            : `intercept bench failed: ${err?.message ?? 'no output'}\n`,
        );
      },
    );
  });
}

function codecSection(): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(BENCH_DIR, 'codec.ts'), settings.quick ? '0.3' : '1'],
      { timeout: 120_000, maxBuffer: 1 << 20 },
      (err, stdout) => {
        const body = String(stdout).trim() || `codec bench failed: ${err?.message ?? 'no output'}`;
        resolve(`**Codec micro-bench** (scripts/bench/codec.ts, no proxies running)\n\n\`\`\`\n${body}\n\`\`\`\n`);
      },
    );
  });
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/\.\d+Z$/, 'Z');
  const deadline = Date.now() + settings.maxMinutes * 60_000;
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'wsgate-bench-'));
  const meta: Meta = {
    startedAt: stamp,
    host: {
      cpus: os.cpus().length,
      node: process.version,
      kernel: os.release(),
      loadavgStart: os.loadavg().map((x) => +x.toFixed(2)),
    },
    settings,
    idleConns,
    label: env['BENCH_LABEL'] || undefined,
    wsgate: { dir: WSGATE_DIR, revision: wsgateRevision() },
    proxyInfo: Object.fromEntries(chosen.map((p) => [p.name, p.info()])),
    skipped,
    notes,
  };
  if ((meta.host.loadavgStart[0] ?? 0) > 0.7) {
    process.stderr.write(`warning: loadavg ${meta.host.loadavgStart[0]} at start; the machine is busy, expect noise\n`);
  }

  const echoPort = await freePort();
  const echo: ChildProcess = spawn(
    process.execPath,
    [path.join(BENCH_DIR, 'echo-server.ts'), '--port', String(echoPort)],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  let current: Promise<LoadResult> | null = null;
  const cleanup = () => {
    if (echo.exitCode === null) echo.kill('SIGTERM');
    rmSync(workDir, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n${sig}: stopping after the current measurement\n`);
      void (current ?? Promise.resolve()).finally(() => {
        cleanup();
        process.exit(130);
      });
    });
  }

  const outDir = env['BENCH_RESULTS_DIR'] ?? path.join(BENCH_DIR, 'results');
  const fileStamp = stamp.replace(/:/g, '-');
  // BENCH_CPU_PROF=1: every wsgate process writes a V8 CPU profile (node --cpu-prof) on exit, one directory per
  // variant and scenario; summarise with profile-summary.ts. Profiling costs a few per cent, so compare with care.
  const profileRoot = env['BENCH_CPU_PROF'] === '1' ? path.join(outDir, `${fileStamp}-profiles`) : undefined;
  if (profileRoot) notes.push(`wsgate ran with --cpu-prof (BENCH_CPU_PROF=1): profiles in ${profileRoot}`);
  const raw: RawEntry[] = [];
  try {
    await waitForPort(echoPort, 10_000);
    const total = settings.reps * scenarios.length * chosen.length;
    let done = 0;
    outer: for (let rep = 1; rep <= settings.reps; rep++) {
      for (const sc of scenarios) {
        for (const p of rotation(chosen, rep)) {
          if (Date.now() > deadline) {
            notes.push(`BENCH_MAX_MINUTES=${settings.maxMinutes} reached: the run stopped early.`);
            break outer;
          }
          const loadavg1 = +(os.loadavg()[0] ?? 0).toFixed(2);
          const profileDir = profileRoot && p.kind === 'wsgate' ? path.join(profileRoot, p.name, sc.id) : undefined;
          current = measure(p, sc, echoPort, workDir, profileDir);
          const result = await current;
          current = null;
          done++;
          raw.push({ rep, scenario: sc.id, proxy: p.name, at: new Date().toISOString(), loadavg1, result });
          process.stderr.write(
            `[${String(done).padStart(3)}/${total}] rep ${rep} ${sc.id.padEnd(9)} ${p.name.padEnd(14)} ${brief(sc, result)}\n`,
          );
        }
      }
    }
  } finally {
    cleanup();
  }

  meta.finishedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  meta.elapsedS = Math.round((Date.now() - startedAt.getTime()) / 1000);
  meta.host.loadavgEnd = os.loadavg().map((x) => +x.toFixed(2));
  const names = chosen.map((p) => p.name);
  const summary = summarize(raw, names, scenarios);
  const certs = env['BENCH_CERTS'] === '0' ? undefined : await runCerts();
  const targetInput = { summary, raw, proxies: names, scenarios, skipped, certs };
  const targets7 = evaluateTargets(targetInput);
  const targets16 = issue16Targets(targetInput);
  const targets = [...targets7, ...targets16];
  let md = markdown(meta, summary, names, scenarios, targets, certs);
  if (env['BENCH_CODEC'] === '1') md += `\n${await codecSection()}`;
  if (env['BENCH_INTERCEPT'] === '1') md += `\n${await interceptSection()}`;

  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${fileStamp}.json`);
  writeFileSync(file, `${JSON.stringify({ meta, summary, certs, targets, raw }, null, 1)}\n`);
  writeFileSync(file.replace(/\.json$/, '.md'), md);
  process.stdout.write(`\n${md}\n`);
  process.stderr.write(
    `targets: issue 7 ${targetTally(targets7)}; issue 16 ${targetTally(targets16)}\nwrote ${path.relative(process.cwd(), file)} (+ .md) in ${meta.elapsedS} s\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exit(1);
});
