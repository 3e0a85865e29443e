// The inspector across a wsgate restart on the same admin port: the live feed reconnects by itself, and what the
// page showed of the run before (whose ids and sequence numbers the new run does not know) is replaced by the new
// run's connections rather than kept beside them as if they were still there.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { after, test } from 'node:test';
import { chromiumSkip } from '../helpers/chromium.ts';
import { closeSharedBrowser, openInspector, startInspected, waitForCount } from '../helpers/inspector-browser.ts';
import { openWs, roundTrip } from '../helpers/ws-client.ts';

after(closeSharedBrowser);

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('after a restart the feed reconnects and the list holds only the new run', { skip: chromiumSkip }, async (t) => {
  const port = await freePort();
  const inspector = { bind: `127.0.0.1:${port}`, store: { disk: false } };
  const first = await startInspected(t, { extra: { inspector } });
  const old = await openWs(first.echoUrl);
  await roundTrip(old, 'from the first run');
  const { page, errors } = await openInspector(t, first.admin);
  await waitForCount(page, 'tr.conn', 1);
  const oldId = await page.getAttribute('tr.conn', 'data-id');
  old.terminate();

  await first.gw.running.shutdown();
  await page.waitForSelector('#feed-state:not([data-state="open"])', { timeout: 5000 });
  const second = await startInspected(t, { extra: { inspector } });
  const fresh = await openWs(second.echoUrl);
  t.after(() => fresh.terminate());
  await roundTrip(fresh, 'from the second run');

  await page.waitForSelector('#feed-state[data-state="open"]', { timeout: 10_000 });
  const newId = ((await (await fetch(`${second.admin}/api/connections`)).json()) as { connections: { id: string }[] })
    .connections[0]!.id;
  await page.waitForSelector(`tr.conn[data-id="${newId}"]`, { timeout: 5000 });
  await waitForCount(page, 'tr.conn', 1);
  assert.notEqual(newId, oldId);
  assert.equal(await page.$(`tr.conn[data-id="${oldId}"]`), null, 'the first run’s connection is gone');
  assert.deepEqual(
    errors.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED|net::/.test(e)),
    [],
  );
});
