// The web inspector in headless Chromium: a message longer than tap.previewBytes shows its preview and loads the
// whole message on request (GET /api/connections/:id/messages/:seq); a message sent from the inspector is marked as
// wsgate's in the list and in the detail.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { chromiumSkip } from '../helpers/chromium.ts';
import {
  closeSharedBrowser,
  openInspector,
  screenshot,
  startInspected,
  waitForCount,
} from '../helpers/inspector-browser.ts';
import { openWs } from '../helpers/ws-client.ts';
import { call } from '../integration/inspector/helpers.ts';

const skip = chromiumSkip;
after(closeSharedBrowser);

test('the whole of a long message loads on request; wsgate’s own messages are marked', { skip }, async (t) => {
  const { admin, echoUrl } = await startInspected(t, { extra: { tap: { previewBytes: 64 } } });
  const { page, errors } = await openInspector(t, `${admin}/`);
  const ws = await openWs(echoUrl);
  t.after(() => ws.terminate());
  await page.locator('tr.conn').first().click();
  const long = `start ${'x'.repeat(5000)} the end`;
  ws.send(long);
  await waitForCount(page, '#messages .vrow', 2);
  await page.locator('#messages .vrow[data-dir="toUpstream"]').first().click();
  await page.waitForSelector('#detail .tag >> text=preview truncated');
  assert.doesNotMatch(String(await page.locator('#detail-text').textContent()), /the end/);
  await page.locator('#load-whole').click();
  await page.waitForSelector('#detail-text >> text=the end');
  assert.equal(String(await page.locator('#detail-text').textContent()), long);

  const port = Number(new URL(admin).port);
  const id = (await call(port, 'GET', '/api/connections')).json.connections[0].id;
  const sent = await call(port, 'POST', `/api/connections/${id}/send`, { body: { to: 'client', text: 'hi there' } });
  assert.equal(sent.status, 202);
  await waitForCount(page, '#messages .vrow', 3);
  const own = page.locator('#messages .vrow', { has: page.locator('.origin-wsgate') });
  assert.equal(await own.count(), 1);
  await own.click();
  await page.waitForSelector('#detail .tag >> text=sent by wsgate');
  await screenshot(page, 'inspector-whole');
  assert.deepEqual(errors, []);
});
