// Starts wsgate in-process for a test, from a config object, with its log captured as parsed JSON lines.
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import { type RunningWsgate, startWsgate } from '../../src/app/app.ts';
import { configFromObject } from '../../src/config/load.ts';
import { createLogger } from '../../src/log/logger.ts';

export type LogLine = Record<string, unknown> & { event?: string; msg?: string; level?: string };

export class LogCapture extends Writable {
  readonly lines: LogLine[] = [];
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      this.raw.push(line);
      this.lines.push(JSON.parse(line) as LogLine);
    }
    done();
  }
  events(name: string): LogLine[] {
    return this.lines.filter((l) => l.event === name);
  }
  /** Waits until a line with this event appears (log lines after a socket closes may trail the test's view). */
  async waitFor(name: string, timeoutMs = 5000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = this.lines.find((l) => l.event === name);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(
      `no log line with event "${name}" within ${timeoutMs} ms; saw: ${this.lines.map((l) => l.event).join(', ')}`,
    );
  }
}

export type TestWsgate = {
  running: RunningWsgate;
  logs: LogCapture;
  /** http://127.0.0.1:PORT of the first listener */
  http: string;
  /** ws://127.0.0.1:PORT of the first listener */
  ws: string;
  port: number;
};

export async function startTestWsgate(t: TestContext, config: Record<string, unknown>): Promise<TestWsgate> {
  const logs = new LogCapture();
  const resolved = configFromObject(config, '<test>');
  const log = createLogger({ level: 'debug', format: 'json', stream: logs });
  const running = await startWsgate(resolved, log);
  t.after(() => running.shutdown());
  const first = [...running.listeners.values()][0]!;
  return {
    running,
    logs,
    port: first.port,
    http: `http://127.0.0.1:${first.port}`,
    ws: `ws://127.0.0.1:${first.port}`,
  };
}

/** A one-listener config on 127.0.0.1 port 0 with the given routes and a short grace period. */
export function reverseConfig(routes: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listeners: [{ name: 'test', bind: '127.0.0.1:0', routes }],
    shutdown: { grace: '200ms' },
    ...extra,
  };
}
