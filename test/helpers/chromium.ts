// Headless Debian Chromium through a wsgate forward proxy, for the browser tests. .ci/run installs chromium; on a
// developer machine without it the tests are skipped, in CI (CI set) they must run.
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

/**
 * A fresh profile whose traffic goes through the proxy on 127.0.0.1:proxyPort. Background networking is off:
 * this machine's network is closed, and Chromium would otherwise keep dialing out.
 */
export async function launchThroughProxy(
  t: TestContext,
  proxyPort: number,
  extraArgs: string[] = [],
): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'wsgate-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--proxy-server=127.0.0.1:${proxyPort}`,
      // Chromium sends loopback destinations directly unless told otherwise.
      '--proxy-bypass-list=<-loopback>',
      ...extraArgs,
    ],
  });
  // One hook, in this order: the browser first (it writes into its profile until it exits), then the profile. Two
  // hooks ran the removal first, which failed with ENOTEMPTY and left the browser running and the test file hung.
  t.after(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  });
  return context;
}
