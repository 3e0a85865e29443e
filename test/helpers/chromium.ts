// Headless Debian Chromium for the browser tests, plain or through a wsgate forward proxy. .ci/run installs
// chromium; on a developer machine without it the tests are skipped, in CI (CI set) they must run.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export const chromiumSkip: string | false =
  !existsSync(CHROMIUM) && process.env['CI'] === undefined
    ? `${CHROMIUM} not installed (apt-get install chromium)`
    : false;

export type LaunchedChromium = { context: BrowserContext; close: () => Promise<void> };

/**
 * Headless Chromium with a throwaway profile and `extraArgs`. Background networking is off: this machine's network is
 * closed, and Chromium would otherwise keep dialing out. close() stops the browser, then removes the profile: in that
 * order (it writes into its profile until it exits); the other order failed with ENOTEMPTY and left the browser
 * running and the test file hung.
 */
export async function launchChromium(
  extraArgs: string[],
  options: { acceptDownloads?: boolean; viewport?: { width: number; height: number } } = {},
): Promise<LaunchedChromium> {
  const profile = mkdtempSync(join(tmpdir(), 'wsgate-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    ...options,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  };
  return { context, close };
}

/** A fresh profile whose traffic goes through the proxy on 127.0.0.1:proxyPort, closed after the test. */
export async function launchThroughProxy(
  t: TestContext,
  proxyPort: number,
  extraArgs: string[] = [],
): Promise<BrowserContext> {
  const { context, close } = await launchChromium([
    `--proxy-server=127.0.0.1:${proxyPort}`,
    // Chromium sends loopback destinations directly unless told otherwise.
    '--proxy-bypass-list=<-loopback>',
    ...extraArgs,
  ]);
  // One hook for both steps (see launchChromium).
  t.after(close);
  return context;
}
