// The proxies the benchmark compares, each a command line started fresh per measurement in its own process
// group (so nginx's worker or wsgate's future workers are measured and stopped together), on 127.0.0.1 only.
//
//   direct   no proxy: the client talks to the echo server; every ratio is against this row
//   wsgate   `node src/cli/main.ts run --listen … --upstream ws://…`, one variant per tap level when
//            `run --help` lists --tap (wsgate-off, wsgate-meta, wsgate-frames, wsgate-payload), else one row
//   hp3      http-proxy-3 createProxyServer({ ws: true }) + 'upgrade' handler (peers/hp3.ts)
//   nginx    1 worker, proxy_buffering off (as in the shared reference harness), when installed
//   haproxy  nbthread 1, mode http, when installed
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { wsgateNodeCommandArgs, wsgateNodeFlagsText } from './cli-flags.ts';
import { freePort, sleep, waitForPort } from './net.ts';
import { relayDefinitions } from './relay-variants.ts';
import { storeDefinition } from './store-variant.ts';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = path.resolve(BENCH_DIR, '..', '..');
/**
 * The wsgate checkout to run: this repo, or BENCH_WSGATE_DIR (a snapshot such as `git archive HEAD | tar -x -C DIR`
 * with node_modules linked, or an older commit to compare against). The bench itself always runs from this repo.
 */
export const WSGATE_DIR = path.resolve(process.env['BENCH_WSGATE_DIR'] || REPO_DIR);
const CLI = path.join(WSGATE_DIR, 'src', 'cli', 'main.ts');

/** `git describe --always --dirty` of the wsgate checkout, or a note when it is not a git work tree. */
export function wsgateRevision(): string {
  const r = spawnSync('git', ['-C', WSGATE_DIR, 'describe', '--always', '--dirty'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return r.status === 0 ? r.stdout.trim() : 'not a git work tree';
}

export type Command = { cmd: string; args: string[] };
export type ProxyDef = {
  name: string;
  kind: 'direct' | 'wsgate' | 'peer';
  /** wsgate's tap level, when the variant sets one. */
  tap?: string;
  /** Why this proxy cannot run here, or null. */
  missing(): string | null;
  info(): string;
  /** profileDir: where a Node proxy writes a --cpu-prof profile (BENCH_CPU_PROF=1); others ignore it. */
  command?(ctx: { port: number; target: string; dir: string; profileDir?: string | undefined }): Command;
  /** Pause after the port accepts (nginx binds in the master, then forks its worker). */
  settleMs: number;
};

export const TAP_LEVELS = ['off', 'meta', 'frames', 'payload'] as const;

function which(bin: string): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    if (!dir) continue;
    const p = path.join(dir, bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

function versionOf(cmd: string, args: string[], re: RegExp): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return re.exec(out)?.[0]?.trim() ?? (out.trim().split('\n')[0] || '?');
}

function packageVersion(name: string): string {
  try {
    const pkg = JSON.parse(readFileSync(path.join(REPO_DIR, 'node_modules', name, 'package.json'), 'utf8'));
    return String(pkg.version);
  } catch {
    return '?';
  }
}

/** The tap levels `wsgate run` accepts, read from `run --help`; [] while it has no --tap option. */
export function detectTapLevels(): string[] {
  const r = spawnSync(process.execPath, [CLI, 'run', '--help'], { encoding: 'utf8', timeout: 20_000, cwd: WSGATE_DIR });
  return parseTapHelp(`${r.stdout ?? ''}${r.stderr ?? ''}`);
}

/** Pure part of detectTapLevels: [] unless the help text has a --tap option. */
export function parseTapHelp(help: string): string[] {
  const line = help.split('\n').find((l) => /^\s*(-\w,\s*)?--tap\b/.test(l));
  if (!line) return [];
  const listed = TAP_LEVELS.filter((lvl) => new RegExp(`\\b${lvl}\\b`).test(line));
  // The option exists but its line does not list the levels: assume the four documented ones.
  return listed.length > 0 ? [...listed] : [...TAP_LEVELS];
}

export function nginxConf(port: number, target: string, dir: string, root: boolean): string {
  return `${root ? 'user root root;\n' : ''}worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy_temp;
  fastcgi_temp_path ${dir}/fastcgi_temp;
  uwsgi_temp_path ${dir}/uwsgi_temp;
  scgi_temp_path ${dir}/scgi_temp;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://${target};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_buffering off;
      proxy_request_buffering off;
      tcp_nodelay on;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }
  }
}
`;
}

export function haproxyConf(port: number, target: string): string {
  return `global
  maxconn 8000
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  server echo ${target}
`;
}

/** The config file of a "+log" variant: one route, the tap level, and the traffic log written to a file. */
export function wsgateTrafficConfig(port: number, target: string, tap: string, trafficFile: string): string {
  return `listeners:
  - name: bench
    bind: 127.0.0.1:${port}
    routes:
      - upstream: ws://${target}
tap: { level: ${tap} }
log: { level: warn, traffic: ${JSON.stringify(trafficFile)} }
`;
}

/**
 * wsgate with one reverse route. tap undefined: no --tap option (the CLI had none before the tap landed).
 * trafficLog: the traffic log is written to a file in the proxy's temp dir (a config file, since the CLI has no
 * option for it); without it, --log-level warn also silences the traffic lines (they are info), so those
 * variants measure the tap's decoding and event building but not the writing.
 */
function wsgateDef(tap: string | undefined, trafficLog = false): ProxyDef {
  const name = tap === undefined ? 'wsgate' : `wsgate-${tap}${trafficLog ? '+log' : ''}`;
  return {
    name,
    kind: 'wsgate',
    ...(tap === undefined ? {} : { tap }),
    missing: () => null,
    info: () =>
      trafficLog
        ? `node ${wsgateNodeFlagsText(CLI)}src/cli/main.ts run -c wsgate.yaml (one route, tap.level ${tap}, log.level warn, log.traffic to a file in the temp dir) on ${process.version}`
        : `node ${wsgateNodeFlagsText(CLI)}src/cli/main.ts run --listen --upstream --log-level warn${tap === undefined ? '' : ` --tap ${tap}`} on ${process.version}`,
    command: ({ port, target, dir, profileDir }) => {
      const node = wsgateNodeCommandArgs(CLI, profileDir);
      if (trafficLog && tap !== undefined) {
        const config = path.join(dir, 'wsgate.yaml');
        writeFileSync(config, wsgateTrafficConfig(port, target, tap, path.join(dir, 'traffic.jsonl')));
        return { cmd: process.execPath, args: [...node, CLI, 'run', '-c', config] };
      }
      return {
        cmd: process.execPath,
        args: [
          ...node,
          CLI,
          'run',
          '--listen',
          `127.0.0.1:${port}`,
          '--upstream',
          `ws://${target}`,
          '--log-level',
          'warn',
          ...(tap === undefined ? [] : ['--tap', tap]),
        ],
      };
    },
    settleMs: 0,
  };
}

/** Tap levels whose "+log" variant (traffic log written to a file) runs by default. */
export const TRAFFIC_LOG_TAPS = ['frames', 'payload'] as const;

/**
 * Every proxy the bench knows, in table order. tapLevels: what `run --help` offers (see detectTapLevels);
 * logTaps: the levels that also get a "+log" variant.
 */
export function definitions(tapLevels: readonly string[], logTaps: readonly string[] = []): ProxyDef[] {
  const root = process.getuid?.() === 0;
  const wsgate =
    tapLevels.length === 0
      ? [wsgateDef(undefined)]
      : [
          ...tapLevels.map((t) => wsgateDef(t)),
          ...tapLevels.filter((t) => logTaps.includes(t)).map((t) => wsgateDef(t, true)),
        ];
  return [
    {
      name: 'direct',
      kind: 'direct',
      missing: () => null,
      info: () => 'no proxy (client → echo server)',
      settleMs: 0,
    },
    ...wsgate,
    // Rules variants (issue 12: relay mode, rules on another route), compared with wsgate-off.
    ...(tapLevels.includes('off') ? relayDefinitions(CLI) : []),
    // The traffic store and session file of the admin API (issue 13), compared with wsgate-off.
    ...(tapLevels.includes('payload') ? [storeDefinition(CLI)] : []),
    {
      name: 'hp3',
      kind: 'peer',
      missing: () => (packageVersion('http-proxy-3') === '?' ? 'http-proxy-3 not in node_modules (npm install)' : null),
      info: () => `http-proxy-3 ${packageVersion('http-proxy-3')} (peers/hp3.ts) on ${process.version}`,
      command: ({ port, target }) => ({
        cmd: process.execPath,
        args: [path.join(BENCH_DIR, 'peers', 'hp3.ts'), String(port), target],
      }),
      settleMs: 0,
    },
    {
      name: 'node-pipe',
      kind: 'peer',
      missing: () => null,
      info: () => `a bare Node \`net\` pipe, the floor of any Node proxy (peers/node-pipe.ts) on ${process.version}`,
      command: ({ port, target }) => ({
        cmd: process.execPath,
        args: [path.join(BENCH_DIR, 'peers', 'node-pipe.ts'), String(port), target],
      }),
      settleMs: 0,
    },
    {
      name: 'nginx',
      kind: 'peer',
      missing: () => (which('nginx') ? null : 'nginx not installed (apt-get install -y nginx-light)'),
      info: () => `${versionOf('nginx', ['-v'], /nginx\/\S+/)}, worker_processes 1, proxy_buffering off`,
      command: ({ port, target, dir }) => {
        writeFileSync(path.join(dir, 'nginx.conf'), nginxConf(port, target, dir, root));
        return {
          cmd: which('nginx')!,
          args: ['-p', dir, '-e', path.join(dir, 'nginx-error.log'), '-c', path.join(dir, 'nginx.conf')],
        };
      },
      settleMs: 200,
    },
    {
      name: 'haproxy',
      kind: 'peer',
      missing: () => (which('haproxy') ? null : 'haproxy not installed (apt-get install -y haproxy)'),
      info: () => `${versionOf('haproxy', ['-v'], /HAProxy version \S+/)}, nbthread 1, mode http`,
      command: ({ port, target, dir }) => {
        writeFileSync(path.join(dir, 'haproxy.cfg'), haproxyConf(port, target));
        return { cmd: which('haproxy')!, args: ['-db', '-f', path.join(dir, 'haproxy.cfg')] };
      },
      settleMs: 50,
    },
  ];
}

/**
 * PROXIES: names separated by spaces or commas ("wsgate" selects every wsgate variant). Default: all.
 * "direct" is always included because the ratios need it. Proxies that cannot run here are skipped.
 */
export function selectProxies(
  defs: readonly ProxyDef[],
  spec: string | undefined,
): { chosen: ProxyDef[]; skipped: { name: string; why: string }[] } {
  const want = (spec ?? '').split(/[\s,]+/).filter(Boolean);
  for (const w of want) {
    if (!defs.some((d) => d.name === w || (w === 'wsgate' && d.kind === 'wsgate'))) {
      throw new Error(`unknown proxy "${w}"; known: ${defs.map((d) => d.name).join(' ')}`);
    }
  }
  const picked = defs.filter(
    (d) =>
      want.length === 0 ||
      d.kind === 'direct' ||
      want.includes(d.name) ||
      (d.kind === 'wsgate' && want.includes('wsgate')),
  );
  const chosen: ProxyDef[] = [];
  const skipped: { name: string; why: string }[] = [];
  for (const d of picked) {
    const why = d.missing();
    if (why) skipped.push({ name: d.name, why });
    else chosen.push(d);
  }
  return { chosen, skipped };
}

/** stop() ends the proxy's process group; it returns why, when the proxy had died on its own before. */
export type Running = {
  pid: number | null;
  port: number | null;
  /** The last lines the proxy wrote (stdout and stderr), for error reports. */
  logTail(): string;
  stop(): Promise<string | null>;
};

/** Starts def in front of target (127.0.0.1:port), waits until it accepts, returns how to stop it. */
export async function startProxy(
  def: ProxyDef,
  target: string,
  workDir: string,
  profileDir?: string,
): Promise<Running> {
  if (!def.command) return { pid: null, port: null, logTail: () => '', stop: async () => null };
  const port = await freePort();
  const dir = mkdtempSync(path.join(workDir, `${def.name}-`));
  const { cmd, args } = def.command({ port, target, dir, profileDir });
  const logFile = path.join(dir, 'proxy.log');
  const log = openSync(logFile, 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', log, log], cwd: REPO_DIR });
  closeSync(log);
  let exited: string | null = null;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = `code ${code} signal ${signal}`;
      resolve();
    });
    child.once('error', (err) => {
      exited = err.message;
      resolve();
    });
  });
  const group = child.pid;
  const tail = () => {
    try {
      return readFileSync(logFile, 'utf8').slice(-600).trim();
    } catch {
      return '';
    }
  };
  const kill = async () => {
    if (group === undefined) return;
    if (exited === null) {
      try {
        process.kill(-group, 'SIGTERM');
      } catch {
        // gone
      }
      await Promise.race([exit, sleep(3000)]);
    }
    try {
      process.kill(-group, 'SIGKILL'); // the whole group: an nginx worker outlives a dead master
    } catch {
      // gone
    }
    await Promise.race([exit, sleep(1000)]);
  };
  try {
    await Promise.race([
      waitForPort(port, 20_000),
      exit.then(() => {
        throw new Error(`exited early (${exited})`);
      }),
    ]);
  } catch (e) {
    await kill();
    const log = tail();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${def.name} failed to start: ${(e as Error).message}${log ? `\n${log}` : ''}`);
  }
  if (def.settleMs > 0) await sleep(def.settleMs);
  const stop = async () => {
    const died = exited === null ? null : `${def.name} exited during the measurement (${exited}): ${tail()}`;
    await kill();
    // Traffic logs of "+log" variants can reach tens of MB per measurement.
    rmSync(dir, { recursive: true, force: true });
    return died;
  };
  return { pid: group ?? null, port, logTail: tail, stop };
}
