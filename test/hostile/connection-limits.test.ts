// limits.maxConnections: a listener full of connections closes new ones at once, logs it, and serves again as
// soon as a slot frees. (The per-client limit exempts loopback, so it is covered by test/unit/server/admission.)
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { startHttpServer } from '../helpers/servers.ts';
import { reverseConfig, startTestWsgate } from '../helpers/wsgate.ts';

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

test('over limits.maxConnections a new connection is closed and logged; a freed slot serves again', async (t) => {
  const upstream = await startHttpServer(t, (_req, res) => res.end('ok'));
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url }], { limits: { maxConnections: 2 } }));
  const held = [await connect(gw.port), await connect(gw.port)];
  t.after(() => {
    for (const s of held) s.destroy();
  });
  const extra = await connect(gw.port);
  const closed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 3000);
    extra.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    extra.on('error', () => {});
  });
  assert.ok(closed, 'the third connection is closed by wsgate');
  const line = await gw.logs.waitFor('conn.limit');
  assert.equal(line.scope, 'listener');
  held[0]!.destroy();
  await new Promise((r) => setTimeout(r, 50));
  const res = await request(`${gw.http}/`, { reset: true });
  assert.equal(await res.body.text(), 'ok');
});
