// The /demo test page in headless Chromium: connect to the echo through wsgate's reverse listener, send text, an
// ArrayBuffer and a Blob (receiving with binaryType arraybuffer, then blob), see each echoed and the readyState go
// CONNECTING → OPEN → CLOSING → CLOSED; then the same page in a browser whose traffic goes through wsgate's forward
// proxy (--proxy-server), where the page's own check finds the connection in the inspector.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { startEchoServer } from '../../src/echo/server.ts';
import { CHROMIUM, chromiumSkip, launchThroughProxy } from '../helpers/chromium.ts';
import { launchBrowser, pageErrors, screenshot, startInspected, waitForCount } from '../helpers/inspector-browser.ts';
import { forwardConfig, startProxy } from '../integration/forward/helpers.ts';

const skip = chromiumSkip;
const TEXT = 'hello from the wsgate test page';
const HEX = Buffer.from(TEXT).toString('hex');

/** Connect, send the three kinds, check the echoes, close; returns nothing, asserts as it goes. */
async function exercise(page: Page): Promise<void> {
  await page.waitForSelector('body[data-ready="true"]');
  await page.selectOption('#binary-type', 'arraybuffer');
  await page.click('#connect');
  await page.waitForSelector('#events li[data-kind="connect"][data-ready-state="0"]', { state: 'attached' });
  await page.waitForSelector('#events li[data-kind="open"][data-ready-state="1"]', { timeout: 10_000 });
  assert.match(String(await page.locator('#ready-state').textContent()), /^1 OPEN$/);

  await page.click('#send-text');
  await waitForCount(page, '#events li[data-kind="message"][data-type="text"]', 1, TEXT);
  await page.click('#send-buffer');
  await waitForCount(page, '#events li[data-kind="message"][data-type="arraybuffer"]', 1, `ArrayBuffer 31 B ${HEX}`);
  await page.selectOption('#binary-type', 'blob');
  await page.click('#send-blob');
  await waitForCount(page, '#events li[data-kind="message"][data-type="blob"]', 1, `Blob 31 B ${HEX}`);
  assert.equal(await page.locator('#events li[data-kind="send"]').count(), 3);

  await page.waitForSelector('#seen[data-seen]', { timeout: 5000 });
  assert.equal(await page.locator('#seen').getAttribute('data-seen'), 'yes');

  await page.fill('#close-code', '1000');
  await page.fill('#close-reason', 'done');
  await page.click('#disconnect');
  await page.waitForSelector('#events li[data-kind="closing"][data-ready-state="2"]', { state: 'attached' });
  await page.waitForSelector('#events li[data-kind="close"][data-code="1000"][data-ready-state="3"]');
  assert.match(String(await page.locator('#events li[data-kind="close"]').textContent()), /wasClean true/);
  assert.match(String(await page.locator('#ready-state').textContent()), /^3 CLOSED$/);
}

type Listed = { connections: { id: string; path: string; route: string; upstream: string }[] };
type Messages = { messages: { dir: string; kind: string; preview?: string }[] };

test('/demo: text, ArrayBuffer and Blob echoed through wsgate, with the readyState transitions', {
  skip,
}, async (t) => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is required in CI`);
  const { admin, echoUrl } = await startInspected(t);
  const context = await launchBrowser(t);
  const page = await context.newPage();
  const errors = pageErrors(page);
  await page.goto(`${admin}/demo?url=${encodeURIComponent(echoUrl)}`);
  await exercise(page);
  await screenshot(page, 'demo-reverse');

  // The inspector saw the same three messages each way.
  const listed = (await (await fetch(`${admin}/api/connections`)).json()) as Listed;
  const conn = listed.connections.find((c) => c.path === '/echo')!;
  assert.equal(conn.route, 'echo');
  const { messages } = (await (await fetch(`${admin}/api/connections/${conn.id}/messages`)).json()) as Messages;
  const up = messages.filter((m) => m.dir === 'toUpstream').map((m) => `${m.kind}:${m.preview}`);
  assert.deepEqual(up, [`text:${TEXT}`, `binary:${HEX}`, `binary:${HEX}`, 'close:undefined']);
  assert.deepEqual(errors, []);
});

test('/demo through the forward proxy (--proxy-server): the page finds its connection in the inspector', {
  skip,
}, async (t) => {
  // wsgate runs in this process: a warning it causes would be printed to a user's terminal. Chromium's page loads
  // through the forward relay once gave one MaxListenersExceededWarning per response.
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const gw = await startProxy(
    t,
    forwardConfig({}, { listener: { tap: 'payload' }, inspector: { bind: '127.0.0.1:0', store: { disk: false } } }),
  );
  const admin = gw.running.inspector!.admin.url;
  const context = await launchThroughProxy(t, gw.port());
  const page = await context.newPage();
  const errors = pageErrors(page);
  const target = `ws://127.0.0.1:${echo.address.port}/echo`;
  await page.goto(`${admin}/demo?url=${encodeURIComponent(target)}`);
  await exercise(page);
  await screenshot(page, 'demo-forward');
  // The page itself and its WebSocket both went through the proxy.
  assert.ok(gw.logs.events('http.access').some((l) => String(l.url).startsWith(`${admin}/demo`)));
  const listed = (await (await fetch(`${admin}/api/connections`)).json()) as Listed;
  const conn = listed.connections.find((c) => c.path === '/echo');
  assert.ok(conn, 'the tunnelled WebSocket is in the inspector');
  assert.equal(conn.upstream, `ws://127.0.0.1:${echo.address.port}`);
  assert.deepEqual(errors, []);
  assert.deepEqual(warnings, [], 'no process warnings from the proxied page loads');
});
