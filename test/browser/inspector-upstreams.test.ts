// The inspector's Upstreams panel: a pool's servers with their state and open WebSockets, and a server drained and
// made ready again with its button; while drained, new WebSockets go to the other server and the panel says so, and
// its open WebSocket is closed from the panel.
// Saves a screenshot with one server draining.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, test } from 'node:test';
import { CHROMIUM, chromiumSkip } from '../helpers/chromium.ts';
import { closeSharedBrowser, openInspector, screenshot, startInspected } from '../helpers/inspector-browser.ts';
import { namedServer, whoAnswers } from '../helpers/named-server.ts';

after(closeSharedBrowser);

test('Upstreams panel: open counts per server, Drain sends new WebSockets elsewhere, Make ready brings it back', {
  skip: chromiumSkip,
}, async (t) => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is required in CI`);
  const [a, b] = [await namedServer(t, 'A'), await namedServer(t, 'B')];
  const { admin, echoUrl } = await startInspected(t, {
    upstream: 'app',
    extra: { upstreams: [{ name: 'app', servers: [a.url, b.url], balance: 'round-robin' }] },
  });
  const { page, errors } = await openInspector(t, `${admin}/`);
  for (let i = 0; i < 2; i++) await whoAnswers(t, echoUrl);

  await page.locator('#upstreams-toggle').click();
  const row = (url: string) => page.locator(`#upstreams tr.server[data-server="${url}"]`);
  await row(a.url).waitFor({ timeout: 5000 });
  assert.match(String(await page.locator('#upstreams h3').textContent()), /app\s+round-robin, 2 of 2 ready/);
  assert.equal(await row(a.url).locator('.server-open').textContent(), '1');
  assert.equal(await row(b.url).locator('.server-open').textContent(), '1');

  await row(a.url).locator('button.server-drain').click();
  await page.locator(`#upstreams tr.server[data-server="${a.url}"][data-state="drain"]`).waitFor({ timeout: 5000 });
  assert.match(String(await row(a.url).textContent()), /draining/);
  for (let i = 0; i < 3; i++) assert.equal(await whoAnswers(t, echoUrl), 'B');
  // The panel reloads by itself: B's count grows, A keeps its one open WebSocket.
  await row(b.url).locator('.server-open', { hasText: /^4$/ }).waitFor({ timeout: 5000 });
  assert.equal(await row(a.url).locator('.server-open').textContent(), '1');
  await screenshot(page, 'inspector-upstreams');
  // Its last open WebSocket closed from the panel: the count falls to 0 and the button goes.
  await row(a.url).locator('button.server-close', { hasText: 'Close 1 open' }).click();
  await row(a.url).locator('.server-open', { hasText: /^0$/ }).waitFor({ timeout: 5000 });
  assert.equal(await row(a.url).locator('button.server-close').count(), 0);

  await row(a.url).locator('button.server-ready').click();
  await page.locator(`#upstreams tr.server[data-server="${a.url}"][data-state="ready"]`).waitFor({ timeout: 5000 });
  const answers = [];
  for (let i = 0; i < 2; i++) answers.push(await whoAnswers(t, echoUrl));
  assert.ok(answers.includes('A'), `A takes connections again: ${answers.join()}`);

  // A drain given a deadline through the API: the panel says when what is open will be closed.
  const deadline = await fetch(`${admin}/api/upstreams/app/servers/1`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ state: 'drain', closeAfter: '10m' }),
  });
  assert.equal(deadline.status, 200);
  await row(b.url)
    .locator('.server-deadline', { hasText: /closes open in (599|600) s/ })
    .waitFor({ timeout: 5000 });
  assert.deepEqual(errors, []);
});
