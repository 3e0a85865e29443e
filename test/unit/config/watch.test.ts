// watchConfig against a real file in a temp directory: edits, broken edits, editor-style replacement, SIGHUP-style
// reload, debouncing, and silence after close.
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../../src/config/schema.ts';
import { watchConfig } from '../../../src/config/watch.ts';
import type { WsgateError } from '../../../src/errors.ts';

type Event = { type: 'reload'; config: Config } | { type: 'error'; err: WsgateError };

/** Collects callbacks and hands them out in order; waiting is bounded so a missed event fails instead of hanging. */
class Events {
  #queue: Event[] = [];
  #waiter: (() => void) | undefined;
  push(e: Event) {
    this.#queue.push(e);
    this.#waiter?.();
  }
  get pending(): number {
    return this.#queue.length;
  }
  async next(timeoutMs = 5000): Promise<Event> {
    const deadline = Date.now() + timeoutMs;
    while (this.#queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) assert.fail('no watch callback within 5 s');
      const stop = new AbortController();
      await Promise.race([
        new Promise<void>((resolve) => (this.#waiter = resolve)),
        sleep(left, undefined, { signal: stop.signal }).catch(() => undefined),
      ]);
      stop.abort();
    }
    return this.#queue.shift()!;
  }
}

const configOn = (port: number) =>
  `listeners:\n  - name: web\n    bind: 127.0.0.1:${port}\n    routes: [{ upstream: "ws://127.0.0.1:9998" }]\n`;

async function setup(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-watch-'));
  const file = join(dir, 'wsgate.yaml');
  writeFileSync(file, configOn(8080));
  const events = new Events();
  const watcher = watchConfig(file, {
    env: {},
    loadedText: configOn(8080),
    onReload: (config) => events.push({ type: 'reload', config }),
    onError: (err) => events.push({ type: 'error', err }),
  });
  t.after(() => {
    watcher.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, file, events, watcher };
}

function portOf(e: Event): number {
  assert.equal(e.type, 'reload', e.type === 'error' ? e.err.message : '');
  return (e as { config: Config }).config.listeners[0]!.bind.port;
}

test('a valid edit calls onReload with the new config', async (t) => {
  const { file, events } = await setup(t);
  writeFileSync(file, configOn(8081));
  const e = await events.next();
  assert.equal(portOf(e), 8081);
  assert.ok(Object.isFrozen((e as { config: Config }).config));
});

test('a broken edit calls onError with the line number, and only onError', async (t) => {
  const { file, events } = await setup(t);
  writeFileSync(file, configOn(8081).replace('127.0.0.1:8081', '127.0.0.1:99999'));
  const e = await events.next();
  assert.equal(e.type, 'error');
  const err = (e as { err: WsgateError }).err;
  assert.equal(err.code, 'WSG_CONFIG_INVALID');
  assert.equal(
    err.message,
    `${file}:3:11 listeners[0].bind: invalid port "99999": expected a number from 0 to 65535 (0 picks a free port)`,
  );
  await sleep(400);
  assert.equal(events.pending, 0);
  // Fixing the file again reloads.
  writeFileSync(file, configOn(8082));
  assert.equal(portOf(await events.next()), 8082);
});

test('a file replaced by rename (how editors save) is picked up; rewriting the same content is not', async (t) => {
  const { dir, file, events } = await setup(t);
  const temp = join(dir, '.wsgate.yaml.swp');
  writeFileSync(temp, configOn(8083));
  renameSync(temp, file);
  assert.equal(portOf(await events.next()), 8083);
  writeFileSync(file, configOn(8083));
  await sleep(400);
  assert.equal(events.pending, 0, 'unchanged content must not reload');
  writeFileSync(file, configOn(8084));
  assert.equal(portOf(await events.next()), 8084);
});

test('events that leave the file as it was loaded reload nothing, the first one included', async (t) => {
  const { dir, file, events } = await setup(t);
  // A log file beside the config, as `log.file: ./wsgate.log` makes: events for the directory from the start.
  writeFileSync(join(dir, 'wsgate.log'), '{"msg":"listening"}\n');
  writeFileSync(file, configOn(8080));
  await sleep(400);
  assert.equal(events.pending, 0, 'no reload without a change');
  writeFileSync(file, configOn(8086));
  assert.equal(portOf(await events.next()), 8086);
});

test('an edit right after watching starts is not lost', async (t) => {
  const { file, events } = await setup(t);
  writeFileSync(file, configOn(8085));
  assert.equal(portOf(await events.next()), 8085);
});

test('bursts of events are debounced into one reload of the final content', async (t) => {
  const { file, events } = await setup(t);
  for (const port of [9001, 9002, 9003]) writeFileSync(file, configOn(port));
  assert.equal(portOf(await events.next()), 9003);
  await sleep(400);
  assert.equal(events.pending, 0);
});

test('reload() re-reads now, even when nothing changed, and reports errors the same way', async (t) => {
  const { file, events, watcher } = await setup(t);
  await watcher.reload();
  assert.equal(events.pending, 1);
  assert.equal(portOf(await events.next()), 8080);
  rmSync(file);
  await watcher.reload();
  const e = await events.next();
  assert.equal(e.type, 'error');
  assert.equal((e as { err: WsgateError }).err.code, 'WSG_CONFIG_READ');
});

test('nothing is called after close()', async (t) => {
  const { file, events, watcher } = await setup(t);
  watcher.close();
  writeFileSync(file, configOn(8090));
  await watcher.reload();
  await sleep(400);
  assert.equal(events.pending, 0);
});
