// Hold and edit in the web inspector: a `hold` rule pauses a client's message, the Held panel shows it with its
// countdown, the text is edited and forwarded, and the client receives the echo of the edited text; the next held
// message is dropped and never arrives. Then a hold added from the panel's checkbox holds the echo on its way to
// the client. Saves a screenshot with a message held.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, test } from 'node:test';
import { CHROMIUM, chromiumSkip } from '../helpers/chromium.ts';
import { closeSharedBrowser, openInspector, screenshot, startInspected } from '../helpers/inspector-browser.ts';
import { openWs } from '../helpers/ws-client.ts';

after(closeSharedBrowser);

test('hold in the UI: edit and forward (the client gets the edited echo), drop (never arrives), hold from the checkbox', {
  skip: chromiumSkip,
}, async (t) => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is required in CI`);
  const { admin, echoUrl } = await startInspected(t, {
    rules: ['catch'],
    extra: { rules: [{ name: 'catch', match: { direction: 'toServer', text: '/^hold/' }, actions: [{ hold: true }] }] },
  });
  const { page, errors } = await openInspector(t, `${admin}/`);

  const ws = await openWs(echoUrl);
  t.after(() => ws.terminate());
  const got: string[] = [];
  ws.on('message', (data) => got.push(String(data)));
  await page.locator('tr.conn').first().click();

  ws.send('hold: original');
  ws.send('after it');
  const item = page.locator('#held-list .held-item').first();
  await item.waitFor({ timeout: 5000 });
  assert.match(String(await item.locator('.held-countdown').textContent()), /forwards unchanged in \d+ s/);
  const editor = item.locator('textarea');
  assert.equal(await editor.inputValue(), 'hold: original');
  await screenshot(page, 'inspector-hold');
  assert.deepEqual(got, [], 'nothing reaches the client while the message is held');
  await editor.fill('edited in the browser');
  await item.locator('button.held-forward').click();
  await page.locator('#held-list').waitFor({ state: 'detached', timeout: 5000 });
  const deadline = Date.now() + 5000;
  while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(got, ['edited in the browser', 'after it'], 'the edited text, then the one behind it');

  ws.send('hold: drop me');
  const second = page.locator('#held-list .held-item').first();
  await second.waitFor({ timeout: 5000 });
  await second.locator('button.held-drop').click();
  await page.locator('#held-list').waitFor({ state: 'detached', timeout: 5000 });

  // A hold from the panel: the echo on its way back to the client waits.
  const added = page.waitForResponse((r) => r.url().endsWith('/api/rules/hold'));
  await page.locator('#hold-to-client').check();
  assert.equal((await added).status(), 200, 'the hold is in place before the next message');
  ws.send('echo me');
  const third = page.locator('#held-list .held-item').first();
  await third.waitFor({ timeout: 5000 });
  assert.match(String(await third.locator('.held-head').textContent()), /to the client/);
  // A slow answer to the uncheck: the box shows the click meanwhile, through the panel's re-renders (its 1 s clock
  // runs while a message is held); it used to snap back to the old state until the answer came.
  let release!: () => void;
  const answered = new Promise<void>((resolve) => {
    release = resolve;
  });
  await page.route('**/api/rules/hold', async (route) => {
    await answered;
    await route.continue();
  });
  await page.locator('#hold-to-client').uncheck();
  await page.waitForTimeout(1300);
  assert.equal(await page.locator('#hold-to-client').isChecked(), false, 'unchecked while the call is out');
  const unheld = page.waitForResponse((r) => r.url().endsWith('/api/rules/hold'));
  release();
  assert.equal((await unheld).status(), 200);
  await third.locator('button.held-forward').click();
  const last = Date.now() + 5000;
  while (got.length < 3 && Date.now() < last) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(got, ['edited in the browser', 'after it', 'echo me'], 'the dropped one never arrived');
  assert.deepEqual(errors, []);
});
