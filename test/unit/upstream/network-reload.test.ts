// A reload's network (upstream/network.ts stage → apply → settle | revert) with real compiled PAC scripts: the new
// PAC answers are computed before anything routes by them, nothing changes until apply, a route only the old
// config has keeps its old way until the reload is done, and a failed reload routes as before.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UpstreamNetwork } from '../../../src/upstream/network.ts';
import { compilePac } from '../../../src/upstream/pac.ts';

const script = (proxy: string) => compilePac(`function FindProxyForURL(url, host) { return "PROXY ${proxy}"; }`);
const office = (source: string) => [{ name: 'office', pac: source, noProxy: [] }];
const app = { name: 'app', url: new URL('ws://ws.corp.test/') };
const chat = { name: 'chat', url: new URL('ws://chat.corp.test/') };
const gone = { name: 'gone', url: new URL('ws://gone.corp.test/') };
const shown = (network: UpstreamNetwork, target: { name: string; url: URL }) =>
  network.routeFor(target)?.proxy?.display ?? 'unregistered or direct';

async function running(): Promise<UpstreamNetwork> {
  const network = new UpstreamNetwork({
    proxies: office('old.pac'),
    env: {},
    pac: new Map([['office', await script('old.corp:3128')]]),
  });
  network.registerUpstreams([
    { name: 'app', url: app.url.href, via: 'office' },
    { name: 'gone', url: gone.url.href, via: 'office' },
  ]);
  await network.prepare();
  return network;
}

test("a reload's PAC answers are ready when it applies: no upstream of a PAC proxy goes direct meanwhile", async (t) => {
  const network = await running();
  t.after(() => network.close());
  assert.equal(shown(network, app), 'http://old.corp:3128');

  const staging = network.stage(office('new.pac'), new Map([['office', await script('new.corp:3128')]]), [
    { name: 'app', url: app.url.href, via: 'office' },
    { name: 'chat', url: chat.url.href, via: 'office' },
  ]);
  assert.equal(shown(network, app), 'http://old.corp:3128', 'the running script answers while the new one runs');
  const staged = await staging;
  assert.equal(shown(network, app), 'http://old.corp:3128', 'nothing routes by a staged config');
  assert.equal(network.routeFor(chat), undefined);

  network.apply(staged);
  // Before, the new script's answers were computed after the swap: "answer pending, direct" in between.
  const route = network.routeFor(chat);
  assert.equal(route?.proxy?.display, 'http://new.corp:3128', route?.why);
  assert.equal(shown(network, app), 'http://new.corp:3128');
  assert.equal(shown(network, gone), 'http://old.corp:3128', 'a route only the old config has goes its old way');

  network.settle();
  assert.equal(network.routeFor(gone), undefined, 'once the reload is done, only the new config routes');
  assert.equal(shown(network, app), 'http://new.corp:3128');
});

test('a reload that fails after applying its network routes as before, the old script still answering', async (t) => {
  const network = await running();
  t.after(() => network.close());
  const staged = await network.stage(office('new.pac'), new Map([['office', await script('new.corp:3128')]]), [
    { name: 'app', url: app.url.href, via: 'office' },
  ]);
  network.apply(staged);
  network.revert(staged);
  assert.equal(shown(network, app), 'http://old.corp:3128');
  assert.equal(shown(network, gone), 'http://old.corp:3128');
  // A destination not asked before runs the old script: it was not disposed.
  const fresh = await network.route('office', 'tunnel', 'other.corp.test', 443);
  assert.equal(fresh.proxy?.display, 'http://old.corp:3128');
});
