// The processes the soak starts: each node child in its own process group (so wsgate's workers are stopped with it),
// its descriptor limit raised in a `sh -c 'ulimit -n …; exec node …'` wrapper where the hard limit allows, and the
// waits on what a child prints or sends, each bounded in time. stopAll() reaches every group it started and nothing
// else.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import type { ClientMessage } from './client.ts';

/** The descriptor limit a child gets when it asks for `want`: want itself if allowed, else the hard limit. */
export function achievableFdLimit(want: number): number {
  const r = spawnSync('sh', ['-c', `ulimit -n ${want} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; ulimit -n`], {
    encoding: 'utf8',
    timeout: 5000,
  });
  const n = Number(r.stdout.trim());
  if (!Number.isFinite(n) || n <= 0) throw new Error(`cannot read the descriptor limit: ${r.stderr}`);
  return n;
}

export class Children {
  #started: ChildProcess[] = [];
  #cwd: string;

  constructor(cwd: string) {
    this.#cwd = cwd;
  }

  /** Starts node (this process's binary) with args, with the descriptor limit raised to `fds` where allowed. */
  spawnNode(args: string[], fds: number, opts: { env?: NodeJS.ProcessEnv; ipc?: boolean }): ChildProcess {
    const script = `ulimit -n ${fds} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`;
    const child = spawn('sh', ['-c', script, process.execPath, ...args], {
      cwd: this.#cwd,
      detached: true,
      env: { ...process.env, ...opts.env },
      stdio: opts.ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    });
    this.#started.push(child);
    return child;
  }

  /** Signals the process group of every child still running. */
  stopAll(signal: NodeJS.Signals): void {
    for (const c of this.#started) {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(-c.pid, signal);
        } catch {
          // gone
        }
      }
    }
  }
}

/** Resolves with the first match of re in the child's stdout or stderr; rejects on exit or after timeoutMs. */
export function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => done(new Error(`no line matching ${re} after ${timeoutMs} ms:\n${seen}`)),
      timeoutMs,
    );
    const onData = (b: Buffer) => {
      seen = (seen + b.toString()).slice(-4000);
      const m = re.exec(seen);
      if (m) done(null, m);
    };
    const onExit = (code: number | null) => done(new Error(`exited (code ${code}) before ${re}:\n${seen}`));
    const done = (err: Error | null, m?: RegExpExecArray) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m!);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

export function waitForMessage<T extends ClientMessage['type']>(
  child: ChildProcess,
  type: T,
  timeoutMs: number,
): Promise<Extract<ClientMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => done(new Error(`client ${child.pid}: no "${type}" after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onMessage = (m: ClientMessage) => {
      if (m.type === type) done(null, m as Extract<ClientMessage, { type: T }>);
    };
    const onExit = (code: number | null) =>
      done(new Error(`client ${child.pid} exited (code ${code}) before "${type}"`));
    const done = (err: Error | null, m?: Extract<ClientMessage, { type: T }>) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m!);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
