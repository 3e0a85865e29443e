// The web inspector in headless Chromium against a running wsgate: a new connection and its messages appear live,
// filtering, JSON pretty-printed, binary as hex; sending from the UI to either side, closing with a code, and the
// HAR download. Each test saves a screenshot under the test output folder.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import type WebSocket from 'ws';
import { CHROMIUM, chromiumSkip } from '../helpers/chromium.ts';
import {
  closeSharedBrowser,
  openInspector,
  screenshot,
  sharedBrowser,
  startInspected,
  waitForCount,
} from '../helpers/inspector-browser.ts';
import { openWs, refusedHandshake } from '../helpers/ws-client.ts';

const skip = chromiumSkip;
after(closeSharedBrowser);

/** Resolves with the next message the client gets (as text). */
function nextMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => ws.once('message', (data) => resolve(String(data))));
}

test('a new connection and its messages appear live; filter, JSON tree, hex dump, copy, pause and resume', {
  skip,
}, async (t) => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is required in CI`);
  const { admin, echoUrl } = await startInspected(t);
  const { page, errors } = await openInspector(t, `${admin}/`);
  // The same browser context the page is in (sharedBrowser): permissions, cookies, another tab.
  const context = await sharedBrowser();

  const ws = await openWs(echoUrl, {}, ['chat.v1']);
  t.after(() => ws.terminate());
  // Within 1 s of the handshake the row is there, with its subprotocol.
  const row = page.locator('tr.conn').first();
  await row.waitFor({ timeout: 1000 });
  assert.match(String(await row.textContent()), /open.*web\/echo.*chat\.v1/);
  await row.click();

  ws.send(JSON.stringify({ hello: 'world', list: [1, 2, { deep: true }] }));
  ws.send('plain text message');
  ws.send(Buffer.from([0, 1, 2, 3, 0xfa, 0xfb, 0x41, 0x42]));
  // Three each way (the echo answers each) within 1 s.
  await waitForCount(page, '#messages .vrow', 6, '', 1000);
  assert.equal(await page.locator('#messages .vrow[data-dir="toUpstream"]').count(), 3);
  assert.equal(await page.locator('#messages .vrow[data-dir="toClient"]').count(), 3);

  await page.fill('#msg-filter', 'plain');
  await waitForCount(page, '#messages .vrow', 2);
  assert.match(String(await page.locator('#msg-count').textContent()), /^2 of 6/);
  await page.fill('#msg-filter', '');
  await waitForCount(page, '#messages .vrow', 6);

  await page.locator('#messages .vrow[data-kind="text"]').first().click();
  const tree = page.locator('#detail-json');
  await tree.waitFor();
  assert.match(String(await tree.textContent()), /"hello": "world".*"list": \[ 3 items \].*\{ 1 key \}"deep": true/);
  // Collapsible: closing the top-level node hides the keys.
  await tree.locator('summary').first().click();
  assert.equal(await tree.locator('text="world"').isVisible(), false);

  await page.locator('#messages .vrow[data-kind="binary"]').first().click();
  assert.match(
    String(await page.locator('#detail-hex').textContent()),
    /^00000000 {2}00 01 02 03 fa fb 41 42 .*\|\.{6}AB\|/,
  );
  await screenshot(page, 'inspector-live');
  // Narrow and dark: the panes stack, the colours follow the system setting.
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.setViewportSize({ width: 700, height: 900 });
  await screenshot(page, 'inspector-narrow-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1280, height: 800 });

  // Copy puts the message on the clipboard (hex for binary).
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: admin });
  await page.click('#copy');
  await page.waitForSelector('#detail >> text=copied');
  const clip = await page.evaluate(() =>
    (
      globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }
    ).navigator.clipboard.readText(),
  );
  assert.equal(clip, '00010203fafb4142');

  // Pause holds the view still (events queue); Resume applies them in order.
  await page.click('#pause');
  ws.send('sent while paused');
  await page.waitForSelector('#pause >> text=/Resume \\([1-9]\\d* queued\\)/');
  assert.equal(await page.locator('#messages .vrow').count(), 6);
  await page.click('#pause');
  await waitForCount(page, '#messages .vrow', 2, 'sent while paused');
  ws.close(1000);
  await page.waitForSelector('tr.conn >> text=closed');
  assert.match(String(await page.locator('tr.conn').first().textContent()), /CC 1000/);
  assert.deepEqual(errors, []);
});

test('a client behind a trusted proxy: the row names the client and the proxy it came through', { skip }, async (t) => {
  const { admin, echoUrl } = await startInspected(t, { listener: { trustForwarded: ['127.0.0.1/32'] } });
  const { page, errors } = await openInspector(t, `${admin}/`);
  const ws = await openWs(echoUrl, { headers: { 'X-Forwarded-For': '203.0.113.7' } });
  t.after(() => ws.terminate());
  const row = page.locator('tr.conn').first();
  await row.waitFor({ timeout: 2000 });
  assert.match(String(await row.textContent()), /203\.0\.113\.7\s+via 127\.0\.0\.1/);
  await page.fill('#conn-filter', '203.0.113');
  await waitForCount(page, 'tr.conn', 1);
  assert.deepEqual(errors, []);
});

test('the handshake view: the request as received and as forwarded, what wsgate dropped and added, the answer', {
  skip,
}, async (t) => {
  const { admin, echoUrl } = await startInspected(t);
  const { page, errors } = await openInspector(t, `${admin}/`);
  const ws = await openWs(echoUrl, { headers: { 'X-Debug-Token': 'abc123', 'Keep-Alive': 'timeout=5' } }, ['chat.v1']);
  t.after(() => ws.terminate());
  const row = page.locator('tr.conn').first();
  await row.waitFor({ timeout: 2000 });
  await row.click();
  await page.click('#handshake-toggle');
  const request = page.locator('#hs-request');
  await request.waitFor({ timeout: 2000 });
  // The client's own header went on unchanged; its hop-by-hop Keep-Alive stopped at wsgate.
  assert.equal(await request.locator('tr:not(.hs-dropped)', { hasText: 'X-Debug-Token' }).count(), 1);
  assert.equal(await request.locator('tr.hs-dropped', { hasText: 'Keep-Alive' }).count(), 1);
  const forwarded = page.locator('#hs-forwarded');
  assert.equal(await forwarded.locator('tr.hs-added', { hasText: /x-forwarded-for/i }).count(), 1);
  assert.equal(await forwarded.locator('tr.hs-added', { hasText: 'X-Debug-Token' }).count(), 0);
  assert.equal(await page.locator('#hs-response tr', { hasText: /Sec-WebSocket-Accept/i }).count(), 1);
  assert.match(String(await page.locator('#handshake').textContent()), /subprotocol chat\.v1/);
  assert.match(
    String(await page.locator('#handshake').textContent()),
    /handshake \d+ ms \(upstream connected after \d+ ms, answered \d+ ms later\)/,
  );
  await screenshot(page, 'inspector-handshake');
  await page.click('#handshake-toggle');
  assert.equal(await page.locator('#handshake').count(), 0);
  assert.deepEqual(errors, []);
});

test('a handshake the upstream refused: a failed row with its status, and its handshake view open by itself', {
  skip,
}, async (t) => {
  const refusing = http.createServer((_req, res) => res.end('plain'));
  refusing.on('upgrade', (_req, socket) =>
    socket.end('HTTP/1.1 403 Forbidden\r\nX-Reason: no session\r\nContent-Length: 0\r\n\r\n'),
  );
  await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
  t.after(() => refusing.close());
  const { port } = refusing.address() as AddressInfo;
  const { admin, echoUrl } = await startInspected(t, { upstream: `ws://127.0.0.1:${port}` });
  const { page, errors } = await openInspector(t, `${admin}/`);
  assert.equal((await refusedHandshake(echoUrl)).status, 403);
  const row = page.locator('tr.conn').first();
  await row.waitFor({ timeout: 2000 });
  assert.match(String(await row.textContent()), /✕ failed.*403/);
  await row.click();
  const failure = page.locator('#hs-failure');
  await failure.waitFor({ timeout: 2000 });
  assert.match(String(await failure.textContent()), /Did not open: 403.*upstream answered 403 Forbidden/);
  assert.equal(await page.locator('#hs-response tr', { hasText: 'X-Reason' }).count(), 1);
  await screenshot(page, 'inspector-failed-handshake');

  // Refused before any upstream was asked: the row shows what the client asked for; no upstream in its view.
  assert.equal((await refusedHandshake(echoUrl.replace(/\/echo$/, '/nowhere'))).status, 404);
  await waitForCount(page, 'tr.conn', 2);
  const noRoute = page.locator('tr.conn').first();
  assert.match(String(await noRoute.textContent()), /✕ failed127\.0\.0\.1:\d+\/nowhere/);
  assert.doesNotMatch(String(await noRoute.textContent()), /undefined/);
  await noRoute.click();
  await page.locator('#hs-no-upstream').waitFor({ timeout: 2000 });
  assert.match(String(await page.locator('#hs-failure').textContent()), /Did not open: 404 WSG_NO_ROUTE/);
  assert.equal(await page.locator('#no-messages').count(), 1, 'no message list, nothing to hold or send');
  assert.equal(await page.locator('#msg-filter').count(), 0);
  assert.doesNotMatch(String(await page.locator('#handshake').textContent()), /subprotocol|tap \?/);
  await screenshot(page, 'inspector-failed-no-route');
  assert.deepEqual(errors, []);
});

test('send to the server and to the client from the UI, download the HAR, close with a code', { skip }, async (t) => {
  const { admin, echoUrl } = await startInspected(t);
  const { page, errors } = await openInspector(t, `${admin}/`);
  const ws = await openWs(echoUrl);
  t.after(() => ws.terminate());
  const got: string[] = [];
  ws.on('message', (data) => got.push(String(data)));
  ws.send('first from the client');
  await page.locator('tr.conn').first().click();
  await waitForCount(page, '#messages .vrow', 2);

  // To the server: the echo server answers, so the client gets it back and the list shows the echo. (The injected
  // message itself is written by wsgate, not read from the client, so the tap does not list it.)
  await page.fill('#send-text', 'from the inspector');
  await page.selectOption('#send-to', 'server');
  const echoed = nextMessage(ws);
  await page.click('#send-text-btn');
  assert.equal(await echoed, 'from the inspector');
  await waitForCount(page, '#messages .vrow[data-dir="toClient"]', 1, 'from the inspector');
  // The echo can reach the client before the page has read the API's answer: wait for the result line.
  await page.locator('#act-result', { hasText: 'send text: done' }).waitFor({ timeout: 5000 });
  assert.match(String(await page.locator('#act-result').textContent()), /send text: done/);

  // To the client: only the client gets it.
  await page.fill('#send-text', 'straight to the client');
  await page.selectOption('#send-to', 'client');
  const direct = nextMessage(ws);
  await page.click('#send-text-btn');
  assert.equal(await direct, 'straight to the client');

  // HAR of this connection: Chrome's _webSocketMessages, in order.
  const download = page.waitForEvent('download');
  await page.click('#har-one');
  const file = await (await download).path();
  const har = JSON.parse(readFileSync(file, 'utf8')) as {
    log: { entries: { _webSocketMessages?: { type: string; data: string; opcode: number }[] }[] };
  };
  const messages = har.log.entries[0]?._webSocketMessages ?? [];
  const texts = messages.map((m) => `${m.type}:${m.data}`);
  assert.deepEqual(texts.slice(0, 2), ['send:first from the client', 'receive:first from the client']);
  assert.ok(texts.includes('receive:from the inspector'), texts.join(', '));

  // Close both sides with a chosen code and reason: the client sees exactly that.
  await page.fill('#close-code', '4001');
  await page.fill('#close-reason', 'bye from the inspector');
  await page.selectOption('#close-side', 'both');
  const closed = once(ws, 'close');
  await page.click('#close-btn');
  const [code, reason] = (await closed) as [number, Buffer];
  assert.equal(code, 4001);
  assert.equal(String(reason), 'bye from the inspector');
  await page.waitForSelector('tr.conn >> text=closed');
  await screenshot(page, 'inspector-act');
  assert.deepEqual(errors, []);
  assert.deepEqual(got, ['first from the client', 'from the inspector', 'straight to the client']);
});

test('a token from /?token= goes to sessionStorage (not the address bar, not a cookie); a new tab asks for it', {
  skip,
}, async (t) => {
  const { admin, echoUrl } = await startInspected(t, { token: 'sekrit-token' });
  const { page, errors } = await openInspector(t, `${admin}/?token=sekrit-token`);
  // The same browser context the page is in (sharedBrowser): permissions, cookies, another tab.
  const context = await sharedBrowser();
  assert.equal(page.url(), `${admin}/`, 'the token left the address bar');
  const ws = await openWs(echoUrl);
  t.after(() => ws.terminate());
  await page.locator('tr.conn').first().waitFor({ timeout: 2000 });
  assert.deepEqual(await context.cookies(), []);
  const stored = await page.evaluate(() =>
    (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem(
      'wsgate.token',
    ),
  );
  assert.equal(stored, 'sekrit-token');

  // sessionStorage is per tab: a second tab has no token, gets 401s and asks once.
  const other = await context.newPage();
  t.after(() => other.close());
  await other.goto(`${admin}/`);
  await other.waitForSelector('#token-form');
  assert.equal(await other.locator('tr.conn').count(), 0);
  await other.fill('#token', 'sekrit-token');
  await other.click('#token-form button[type="submit"]');
  await other.locator('tr.conn').first().waitFor({ timeout: 5000 });
  await other.waitForSelector('#feed-state[data-state="open"]', { timeout: 5000 });
  await other.waitForSelector('text=this admin listener needs a token', { state: 'detached' });
  await screenshot(other, 'inspector-token');
  assert.deepEqual(errors, []);
});

test('rule hits and marks show on the message they acted on', { skip }, async (t) => {
  const { admin, echoUrl } = await startInspected(t, {
    rules: ['tag-orders'],
    extra: {
      rules: [
        {
          name: 'tag-orders',
          match: { direction: 'toServer', type: 'text', text: '/order/' },
          actions: [{ mark: 'order' }],
        },
      ],
    },
  });
  const { page, errors } = await openInspector(t, `${admin}/`);
  const ws = await openWs(echoUrl);
  t.after(() => ws.terminate());
  await page.locator('tr.conn').first().click();
  ws.send('{"type":"order","id":7}');
  ws.send('{"type":"chat"}');
  await waitForCount(page, '#messages .vrow', 4);
  await page.locator('#messages .vrow[data-dir="toUpstream"]').first().click();
  await page.waitForSelector('#detail .tag >> text=mark order');
  await page.locator('#messages .vrow[data-dir="toUpstream"]').nth(1).click();
  await page.waitForSelector('#detail-json');
  assert.equal(await page.locator('#detail .tag >> text=mark order').count(), 0, 'no mark on the other message');
  await screenshot(page, 'inspector-marks');
  assert.deepEqual(errors, []);
});
