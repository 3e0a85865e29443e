// What every fuzzer shares: fast-check properties run in batches against an in-process wsgate over real sockets,
// a healthy request after each batch, a bound on every exchange (a hang fails), a heap check at the end, and a
// report that names the shrunk input so it can be replayed.
//
// In `npm test` each fuzzer is bounded to a few seconds (its own `runs` and `seconds`); `npm run fuzz` runs the
// same properties longer: FUZZ_RUNS and FUZZ_SECONDS set the runs and the wall-clock budget of each fuzzer,
// FUZZ_SEED replays a run (the seed is printed with every failure). A crash of the in-process wsgate ends the test
// process, which fails the run.
import assert from 'node:assert/strict';
import type net from 'node:net';
import { type TestContext, test } from 'node:test';
import fc from 'fast-check';
import { assertHealthy, type Channel, ENTRY_KINDS, type Entry } from '../helpers/entry-kinds.ts';
import { gcFunction, settledMemory } from '../helpers/raw.ts';
import type { LogCapture } from '../helpers/wsgate.ts';

function envNumber(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number, got ${JSON.stringify(raw)}`);
  return n;
}

/** Runs and seconds for this fuzzer: its own bounds in `npm test`, FUZZ_RUNS / FUZZ_SECONDS when set. */
export function budget(runs: number, seconds: number): { runs: number; seconds: number } {
  return { runs: envNumber('FUZZ_RUNS') ?? runs, seconds: envNumber('FUZZ_SECONDS') ?? seconds };
}

const ESCAPES: Record<number, string> = { 13: '\\r', 10: '\\n', 9: '\\t', 34: '\\"', 92: '\\\\' };

/**
 * Bytes as a double-quoted string a person can read and paste into JavaScript: printable ASCII as it is, every
 * other byte escaped (\xNN), so nothing is lost to a terminal (JSON would leave C1 controls raw).
 */
export function show(bytes: Buffer | string): string {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  let out = '"';
  for (const byte of b) {
    out +=
      ESCAPES[byte] ??
      (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`);
  }
  return `${out}"`;
}

export type FuzzOptions<T> = {
  name: string;
  arbitrary: fc.Arbitrary<T>;
  /** One exchange over real sockets; throws when the property does not hold. */
  property: (input: T) => Promise<void>;
  runs: number;
  seconds: number;
  /** Runs between two healthy checks. */
  batch?: number;
  /** A healthy request through the same wsgate; throws if it is not served. */
  healthy: () => Promise<void>;
  /** How a failing input is shown (default: fast-check's own rendering). */
  render?: (input: T) => string;
  /** Where wsgate logs: WSG_INTERNAL lines (a handler that threw) fail the run that caused them. */
  logs?: LogCapture[];
};

/** The heap may grow this much over the fuzzer's first batch before the check fails. */
const HEAP_MARGIN_RATIO = 0.1;
const HEAP_MARGIN_BYTES = 8 * 1024 * 1024;
// Shrinking re-runs the property; a failure that hangs takes the exchange bound per try, so it gets its own budget,
// short enough in `npm test` that the shrunk input is reported before the runner's per-test timeout.
const SHRINK_BUDGET_MS = envNumber('FUZZ_RUNS') === undefined ? 30_000 : 120_000;

function internalLines(logs: LogCapture[]): number {
  let n = 0;
  for (const capture of logs) for (const line of capture.lines) if (line.code === 'WSG_INTERNAL') n += 1;
  return n;
}

export type FuzzResult = { runs: number; summary: string };

/**
 * Runs `property` on generated inputs, `batch` at a time, until `runs` or `seconds` are used up, checking a
 * healthy request after each batch and the heap at the end. Returns the number of runs and a line to report.
 */
export async function fuzz<T>(options: FuzzOptions<T>): Promise<FuzzResult> {
  // Small batches keep a short `npm test` budget close to its seconds; long runs check health less often.
  const batch = options.batch ?? (envNumber('FUZZ_RUNS') === undefined ? 10 : 50);
  const started = Date.now();
  const deadline = started + options.seconds * 1000;
  const seed = envNumber('FUZZ_SEED') ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
  const logs = options.logs ?? [];
  const gc = gcFunction();
  let done = 0;
  let round = 0;
  let baseline: NodeJS.MemoryUsage | undefined;
  const property = async (input: T) => {
    const before = internalLines(logs);
    await options.property(input);
    // Log lines of a socket's end can trail its close by a tick.
    await new Promise((r) => setImmediate(r));
    const internal = internalLines(logs) - before;
    if (internal > 0) {
      const lines = logs.flatMap((l) => l.lines).filter((l) => l.code === 'WSG_INTERNAL');
      const line = lines.findLast((l) => l.err !== undefined) ?? lines.at(-1);
      const stack = String((line?.err as { stack?: string } | undefined)?.stack ?? '');
      throw new Error(
        `a handler threw (WSG_INTERNAL): ${String(line?.msg)}\n${stack.split('\n').slice(0, 8).join('\n')}`,
      );
    }
  };
  while (done < options.runs && (round === 0 || Date.now() < deadline)) {
    const numRuns = Math.min(batch, options.runs - done);
    const batchSeed = (seed + round) | 0;
    const details = await fc.check(fc.asyncProperty(options.arbitrary, property), {
      numRuns,
      seed: batchSeed,
      interruptAfterTimeLimit: Math.max(0, deadline - Date.now()) + SHRINK_BUDGET_MS,
      markInterruptAsFailure: false,
    });
    if (details.failed) {
      const input = details.counterexample?.[0] as T | undefined;
      const shown = input === undefined ? '(none)' : options.render ? options.render(input) : fc.stringify(input);
      throw new Error(
        [
          `${options.name}: property failed after ${done + details.numRuns} runs (shrunk ${details.numShrinks} times)`,
          `shrunk input: ${shown}`,
          `error: ${details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)}`,
          `replay: FUZZ_SEED=${batchSeed} FUZZ_RUNS=${numRuns} (fast-check path ${details.counterexamplePath})`,
        ].join('\n'),
      );
    }
    done += details.numRuns;
    round += 1;
    await options.healthy();
    // The captured log lines are the test's memory, not wsgate's: keep them from counting against the heap.
    for (const capture of logs) {
      capture.lines.length = 0;
      capture.raw.length = 0;
    }
    // The first batch warms up what a process allocates once (TLS contexts, pools, code); measure after it.
    if (round === 1) baseline = await settledMemory(gc);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (baseline === undefined || round < 2) return { runs: done, summary: `${done} runs in ${seconds} s` };
  const after = await settledMemory(gc);
  const limit = baseline.heapUsed * (1 + HEAP_MARGIN_RATIO) + HEAP_MARGIN_BYTES;
  assert.ok(
    after.heapUsed <= limit,
    `${options.name}: heap grew from ${baseline.heapUsed} to ${after.heapUsed} bytes over ${done} runs (limit ${Math.round(limit)})`,
  );
  const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
  return {
    runs: done,
    summary: `${done} runs in ${seconds} s; heap after the first batch ${mib(baseline.heapUsed)} MiB, at the end ${mib(after.heapUsed)} MiB`,
  };
}

export type Outcome = { received: Buffer; closed: boolean };

/**
 * Writes `bytes` on a fresh channel, half-closes it, and waits until wsgate closes it: an answer alone is not
 * enough, since a connection wsgate never closes is how a hang looks from outside. Fails after `timeoutMs`.
 */
export async function sendAndClose(channel: Channel, bytes: Buffer, timeoutMs: number): Promise<Outcome> {
  channel.write(bytes);
  if (!channel.socket.destroyed) channel.socket.end();
  const closed = await closedWithin(channel.socket, timeoutMs);
  const received = channel.received;
  channel.destroy();
  forget(channel.socket);
  if (!closed) {
    throw new Error(`hang: the connection was not closed within ${timeoutMs} ms; received ${show(received)}`);
  }
  return { received, closed };
}

/** Resolves true once `socket` has closed, false after `timeoutMs` (event-driven: no polling delay per run). */
export function closedWithin(socket: net.Socket, timeoutMs: number): Promise<boolean> {
  if (socket.closed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('close', onClose);
      resolve(socket.closed);
    }, timeoutMs);
    const onClose = () => {
      clearTimeout(timer);
      resolve(true);
    };
    socket.once('close', onClose);
  });
}

/**
 * Lets go of what a finished test socket recorded: test helpers keep every socket until the test ends (t.after),
 * and its data listener holds the bytes, which would count as growth in the heap check.
 */
export function forget(socket: { removeAllListeners(event: string): unknown }): void {
  socket.removeAllListeners('data');
}

/**
 * The test context without its cleanup list, for the connections of single runs: each run closes its own, and
 * thousands of t.after entries (each holding a socket until the test ends) would show up in the heap check as
 * growth that is not wsgate's.
 */
export function untracked(t: TestContext): TestContext {
  return new Proxy(t, { get: (target, key) => (key === 'after' ? () => {} : Reflect.get(target, key)) });
}

/** The status of the first response in `received`, or undefined when there is none. */
export function statusOf(received: Buffer): number | undefined {
  // The reason phrase may be empty, and a relayed upstream answer may even lack the space before it.
  const match = /^HTTP\/\d(?:\.\d)? (\d{3})(?:[ \r\n]|$)/.exec(received.toString('latin1', 0, 64));
  return match === null ? undefined : Number(match[1]);
}

/** How long one fuzzed exchange may take before it counts as a hang. */
export const EXCHANGE_MS = 5000;

/**
 * The property every request-shaped fuzzer checks, on every entry kind: whatever bytes the client sends, wsgate
 * answers with a well-formed HTTP status (or closes) within EXCHANGE_MS, survives, and stays healthy and bounded.
 */
export function fuzzRequestsOnEveryEntry<T>(
  what: string,
  options: {
    arbitrary: fc.Arbitrary<T>;
    runs: number;
    seconds: number;
    bytes: (entry: Entry, input: T) => Buffer;
  },
): void {
  for (const kind of ENTRY_KINDS) {
    test(`fuzz ${what}: ${kind.name}`, async (t) => {
      const entry = await kind.start(t, { headersTimeout: '2s' }, { lockDestinations: true });
      const { runs, seconds } = budget(options.runs, options.seconds);
      const result = await fuzz({
        name: `${what} (${kind.name})`,
        arbitrary: options.arbitrary,
        runs,
        seconds,
        logs: [entry.logs],
        render: (input) => show(options.bytes(entry, input)),
        async property(input) {
          const channel = await entry.open(untracked(t));
          const { received } = await sendAndClose(channel, options.bytes(entry, input), EXCHANGE_MS);
          const status = statusOf(received);
          if (received.length > 0) assert.ok(status !== undefined, `not an HTTP response: ${show(received)}`);
          if (status !== undefined) assert.ok(status >= 100 && status <= 599, `status ${status}`);
        },
        healthy: () => assertHealthy(t, entry),
      });
      assert.ok(result.runs > 0);
      t.diagnostic(result.summary);
    });
  }
}
