// PAC proxies (proxies[].pac) with real compiled scripts: answers parsed into ordered entries, cached per URL with a
// TTL and a bound (reverse upstreams pinned), a script failing for one destination sending it DIRECT with a warning,
// and the network's routes (NO_PROXY before the script, fallbacks, routeFor answers computed by prepare()).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../../src/log/logger.ts';
import { EMPTY_NO_PROXY } from '../../../src/net/no-proxy.ts';
import { UpstreamNetwork } from '../../../src/upstream/network.ts';
import { compilePac, type PacScript } from '../../../src/upstream/pac.ts';
import { PAC_CACHE_ENTRIES, PAC_CACHE_TTL_MS, PacProxy } from '../../../src/upstream/pac-route.ts';
import { makeProxy } from '../../../src/upstream/proxy-config.ts';
import { ProxyTunnels } from '../../../src/upstream/proxy-tunnel.ts';
import { LogCapture } from '../../helpers/wsgate.ts';

const SCRIPT = `function FindProxyForURL(url, host) {
  alert(url);
  if (host == "fails.test") return nope();
  if (host == "odd.test") return "SOCKS5 s:1080; PROXY a.test:99999";
  if (dnsDomainIs(host, ".corp.test")) return "PROXY a.corp:3128; SOCKS5 s:1080; HTTPS b.corp:443; DIRECT";
  return "DIRECT";
}`;

async function script(t: import('node:test').TestContext): Promise<{ script: PacScript; asked: string[] }> {
  const asked: string[] = [];
  const compiled = await compilePac(SCRIPT, (m) => asked.push(m));
  t.after(() => compiled.dispose());
  return { script: compiled, asked };
}

const shown = (entries: readonly ({ display: string } | undefined)[]) => entries.map((e) => e?.display ?? 'DIRECT');

test('an answer becomes its entries in order; SOCKS and unusable entries are skipped; nothing usable is DIRECT', async (t) => {
  const { script: s } = await script(t);
  const pac = new PacProxy({ name: 'office', source: 'proxy.pac', script: s, noProxy: EMPTY_NO_PROXY });
  const corp = await pac.choose('https://app.corp.test/', 'app.corp.test');
  assert.deepEqual(shown(corp.entries), ['http://a.corp:3128', 'https://b.corp', 'DIRECT']);
  assert.match(corp.why, /^PAC office: PROXY a\.corp:3128; SOCKS5/);
  assert.equal(corp.entries[0]!.name, 'office', 'entries carry the config name for messages');
  assert.deepEqual(shown((await pac.choose('http://odd.test/', 'odd.test')).entries), ['DIRECT']);
});

test('answers are cached per URL for the TTL, then asked again; the cache is bounded and pinned URLs stay', async (t) => {
  const { script: s, asked } = await script(t);
  let now = 0;
  const pac = new PacProxy({ name: 'office', source: 'p.pac', script: s, noProxy: EMPTY_NO_PROXY, now: () => now });
  await pac.prepare([{ url: 'http://pinned.corp.test/', host: 'pinned.corp.test' }]);
  await pac.choose('http://x.corp.test/', 'x.corp.test');
  await pac.choose('http://x.corp.test/', 'x.corp.test');
  assert.deepEqual(asked, ['http://pinned.corp.test/', 'http://x.corp.test/']);
  now += PAC_CACHE_TTL_MS;
  await pac.choose('http://x.corp.test/', 'x.corp.test');
  assert.equal(asked.length, 3, 'an old answer is asked again');

  for (let i = 0; i < PAC_CACHE_ENTRIES + 5; i++) await pac.choose(`http://h${i}.test/`, `h${i}.test`);
  asked.length = 0;
  await pac.choose('http://h0.test/', 'h0.test');
  assert.deepEqual(asked, ['http://h0.test/'], 'the oldest entry was evicted');
  const pinned = pac.peek('http://pinned.corp.test/', 'pinned.corp.test');
  assert.equal(pinned?.entries[0]?.display, 'http://a.corp:3128', 'a pinned answer stays');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(asked, ['http://h0.test/', 'http://pinned.corp.test/'], 'an old one is returned and asked again');
});

test('a script failing for one destination sends it DIRECT with a warning line', async (t) => {
  const { script: s } = await script(t);
  const logs = new LogCapture();
  const log = createLogger({ level: 'debug', format: 'json', stream: logs });
  const pac = new PacProxy({ name: 'office', source: 'p.pac', script: s, noProxy: EMPTY_NO_PROXY, log });
  const choice = await pac.choose('http://fails.test/', 'fails.test');
  assert.deepEqual(shown(choice.entries), ['DIRECT']);
  assert.match(choice.why, /PAC office failed \(.*nope.*\): direct/);
  const line = await logs.waitFor('proxy.pac_failed');
  assert.equal(line.proxy, 'office');
  assert.equal(line.url, 'http://fails.test/');
});

test('the network: NO_PROXY before the script, the list as proxy + fallbacks, reverse answers from prepare()', async (t) => {
  const { script: s, asked } = await script(t);
  const network = new UpstreamNetwork({
    proxies: [{ name: 'office', pac: 'p.pac', noProxy: ['.skip.corp.test'] }],
    env: {},
    pac: new Map([['office', s]]),
  });
  t.after(() => network.close());
  const skipped = await network.route('office', 'tunnel', 'a.skip.corp.test', 443);
  assert.equal(skipped.proxy, undefined);
  assert.match(skipped.why, /office/);
  const loopback = await network.route('office', 'http', '127.0.0.1', 80);
  assert.equal(loopback.proxy, undefined, 'loopback bypasses every proxy unless "<-loopback>" is listed');
  assert.equal(asked.length, 0, 'neither was asked of the script');

  const route = await network.route('office', 'tunnel', 'app.corp.test', 8443);
  assert.deepEqual(asked, ['https://app.corp.test:8443/'], 'the origin is asked, https for a tunnel');
  assert.equal(route.proxy?.display, 'http://a.corp:3128');
  assert.deepEqual(shown(route.fallbacks ?? []), ['https://b.corp', 'DIRECT']);

  const upstream = { name: 'app', url: new URL('wss://ws.corp.test/socket') };
  network.registerUpstreams([{ name: 'app', url: upstream.url.href, via: 'office' }]);
  await network.prepare();
  assert.ok(asked.includes('https://ws.corp.test/'), 'wss is asked as https, without the path');
  const reverse = network.routeFor(upstream);
  assert.equal(reverse?.proxy?.display, 'http://a.corp:3128');
  assert.equal(reverse?.fallbacks?.length, 2);
});

test('a proxy that could not be reached goes to the end of PAC lists for a while; the others keep their order', () => {
  const tunnels = new ProxyTunnels();
  const a = makeProxy('office', new URL('http://a.corp:3128'), undefined, EMPTY_NO_PROXY);
  const b = makeProxy('office', new URL('http://b.corp:3128'), undefined, EMPTY_NO_PROXY);
  assert.deepEqual(shown(tunnels.order([a, undefined, b])), ['http://a.corp:3128', 'DIRECT', 'http://b.corp:3128']);
  tunnels.markUnreachable(a);
  assert.ok(tunnels.isBad(a) && !tunnels.isBad(b));
  assert.deepEqual(shown(tunnels.order([a, b, undefined])), ['http://b.corp:3128', 'DIRECT', 'http://a.corp:3128']);
});
