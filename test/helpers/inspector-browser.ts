// For the inspector's browser tests: wsgate with the admin listener (inspector on 127.0.0.1:0) in front of the
// built-in echo server, headless Chromium without a proxy, and screenshots saved under the test output folder
// (test-output/browser/, or $WSGATE_TEST_OUTPUT) so a CI run keeps what each test saw.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { startWsgate } from '../../src/app/app.ts';
import { configFromObject } from '../../src/config/load.ts';
import { type EchoServer, startEchoServer } from '../../src/echo/server.ts';
import { createLogger } from '../../src/log/logger.ts';
import { type LaunchedChromium, launchChromium } from './chromium.ts';
import { LogCapture, startTestWsgate, type TestWsgate } from './wsgate.ts';

export const OUTPUT_DIR =
  process.env['WSGATE_TEST_OUTPUT'] ?? join(import.meta.dirname, '..', '..', 'test-output', 'browser');

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const path = join(OUTPUT_DIR, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

export type Inspected = {
  gw: TestWsgate;
  echo: EchoServer;
  /** http://127.0.0.1:PORT of the admin listener. */
  admin: string;
  /** ws://127.0.0.1:PORT/echo through wsgate's reverse listener. */
  echoUrl: string;
};

/** wsgate: a reverse listener (tap payload) whose /echo route goes to the echo server, plus the inspector. */
export async function startInspected(
  t: TestContext,
  options: {
    store?: Record<string, unknown>;
    /** Rule names for the /echo route (define them in `extra.rules`). */
    rules?: string[];
    /** inspector.token: the API then needs it even on loopback. */
    token?: string;
    upstream?: string;
    /** More keys of the listener (e.g. trustForwarded). */
    listener?: Record<string, unknown>;
    extra?: Record<string, unknown>;
    /** Log only warnings, to nowhere: a test of 100,000 messages need not parse 200,000 log lines. */
    quiet?: boolean;
  } = {},
): Promise<Inspected> {
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const upstream = options.upstream ?? `ws://127.0.0.1:${echo.address.port}`;
  const build = options.quiet ? startQuietWsgate : startTestWsgate;
  const gw = await build(t, {
    listeners: [
      {
        name: 'web',
        bind: '127.0.0.1:0',
        tap: 'payload',
        routes: [
          { name: 'echo', match: { path: '/echo' }, upstream, ...(options.rules ? { rules: options.rules } : {}) },
        ],
        ...options.listener,
      },
    ],
    inspector: {
      bind: '127.0.0.1:0',
      store: { disk: false, ...options.store },
      ...(options.token === undefined ? {} : { token: options.token }),
    },
    shutdown: { grace: '200ms' },
    ...options.extra,
  });
  const inspector = gw.running.inspector;
  if (inspector === undefined) throw new Error('the inspector did not start');
  return { gw, echo, admin: inspector.admin.url, echoUrl: `${gw.ws}/echo` };
}

async function startQuietWsgate(t: TestContext, config: Record<string, unknown>): Promise<TestWsgate> {
  const logs = new LogCapture();
  const running = await startWsgate(
    configFromObject(config, '<test>'),
    createLogger({ level: 'warn', format: 'json', stream: logs }),
  );
  t.after(() => running.shutdown());
  const port = [...running.listeners.values()][0]!.port;
  return { running, logs, port, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}` };
}

/** Headless Chromium without a proxy, with a throwaway profile; downloads allowed. */
export async function launchBrowser(t: TestContext): Promise<BrowserContext> {
  const { context, close } = await launchPlain();
  t.after(close);
  return context;
}

let shared: Promise<LaunchedChromium> | undefined;

/**
 * One browser for every test of a file (launching costs seconds on a busy machine); each test opens its own
 * pages, and each test's wsgate has its own port, so storage never leaks between tests. The file closes it with
 * `after(closeSharedBrowser)`.
 */
export async function sharedBrowser(): Promise<BrowserContext> {
  shared ??= launchPlain();
  return (await shared).context;
}

export async function closeSharedBrowser(): Promise<void> {
  const launched = shared;
  shared = undefined;
  if (launched) await (await launched).close();
}

function launchPlain(): Promise<LaunchedChromium> {
  return launchChromium([], { acceptDownloads: true, viewport: { width: 1280, height: 800 } });
}

/**
 * Opens the inspector at `url` in a new page of the shared browser (closed after the test) and waits until the app
 * has started and its live feed is open. The page's errors are collected from the start.
 */
export async function openInspector(t: TestContext, url: string): Promise<{ page: Page; errors: string[] }> {
  const context = await sharedBrowser();
  const page = await context.newPage();
  t.after(() => page.close());
  const errors = pageErrors(page);
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector('#feed-state[data-state="open"]', { timeout: 5000 });
  return { page, errors };
}

/** Collects the page's uncaught errors and console errors; the tests assert there were none. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return errors;
}

type Doc = { querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }> };

/**
 * Waits until `selector` matches exactly `count` elements (containing `text`, when given). A function, not a string:
 * Playwright evaluates string predicates with eval, which the inspector's CSP (rightly) refuses.
 */
export async function waitForCount(page: Page, selector: string, count: number, text = '', timeout = 5000) {
  await page.waitForFunction(
    ([s, n, x]) => {
      // Runs in the page: only what is written inside this function exists there.
      const all = Array.from((globalThis as unknown as { document: Doc }).document.querySelectorAll(s as string));
      return all.filter((e) => (e.textContent ?? '').includes(x as string)).length === n;
    },
    [selector, count, text] as const,
    { timeout },
  );
}
