// Runs the wsgate CLI as a real child process (the same Node that runs the tests), for exit codes,
// signals and output as a user sees them.
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export type CliResult = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

/** Runs a command to completion (bounded by timeoutMs, after which it is killed). */
export async function runCli(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  const cli = startCli(args, options);
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
  const { code, signal } = await cli.exited;
  clearTimeout(timer);
  return { code, signal, stdout: cli.stdout(), stderr: cli.stderr() };
}

export type RunningCli = {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the first match of the pattern in stdout+stderr. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** `exited`, or after timeoutMs the child killed and an error with its output (a hang says where it stopped). */
  exitedWithin(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
};

/** Starts a long-running command; the caller stops it (the test's after hook kills it if still running). */
export function startCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): RunningCli {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    async exitedWithin(timeoutMs = 30_000) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`wsgate did not exit within ${timeoutMs} ms; its output:\n${stdout}\n${stderr}`));
        }, timeoutMs);
      });
      try {
        return await Promise.race([exited, late]);
      } finally {
        clearTimeout(timer);
      }
    },
    async waitForOutput(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const m = (stdout + stderr).match(pattern);
        if (m) return m;
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(
        `output did not match ${pattern} within ${timeoutMs} ms (exit ${child.exitCode}, signal ${child.signalCode}):\n${stdout}\n${stderr}`,
      );
    },
  };
}

/**
 * Writes DIR/wsgate.yaml for `wsgate run -c`: one listener "web" on 127.0.0.1 port 0 with one route to `upstream`,
 * then the top-level YAML lines given. Returns the file.
 */
export function writeOneRouteConfig(dir: string, upstream: string, lines: string[]): string {
  const file = join(dir, 'wsgate.yaml');
  writeFileSync(
    file,
    [
      'listeners:',
      '  - name: web',
      '    bind: 127.0.0.1:0',
      '    routes:',
      `      - upstream: "${upstream}"`,
      ...lines,
      '',
    ].join('\n'),
  );
  return file;
}
