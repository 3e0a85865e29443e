// wsgate's own PAC proxies (proxies[].pac): a PAC file sends app.test through a proxy list whose first proxy is
// dead and whose second is a second wsgate (the "corporate proxy", the only one that can resolve app.test), and every
// other host DIRECT. Checked for a forward listener (CONNECT and absolute-form) and a reverse upstream with via:,
// by which proxy saw what and the `via` the access lines name; a broken PAC script is a coded start error, and
// `wsgate check` shows and explains the PAC proxy.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ProxyAgent, request } from 'undici';
import WebSocket from 'ws';
import { startWsgate } from '../../../src/app/app.ts';
import { checkCommand } from '../../../src/cli/check.ts';
import { configFromObject } from '../../../src/config/load.ts';
import { type EchoServer, startEchoServer } from '../../../src/echo/server.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { closedPort } from '../../helpers/servers.ts';
import { tempDir } from '../../helpers/tls.ts';
import { LogCapture } from '../../helpers/wsgate.ts';
import { eventually, forwardConfig, rawConnect, startProxy, type TestProxy } from './helpers.ts';

async function echoServer(t: import('node:test').TestContext): Promise<EchoServer> {
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  return echo;
}

/** A PAC file: app.test through a dead proxy, then `corp`, then DIRECT; everything else DIRECT. */
function writePac(t: import('node:test').TestContext, deadPort: number, corpPort: number): string {
  const file = join(tempDir(t, 'wsgate-pac-'), 'proxy.pac');
  writeFileSync(
    file,
    `function FindProxyForURL(url, host) {
  if (dnsDomainIs(host, "app.test") || host == "app.test")
    return "PROXY 127.0.0.1:${deadPort}; PROXY 127.0.0.1:${corpPort}; DIRECT";
  return "DIRECT";
}
`,
  );
  return file;
}

/** The corporate proxy: a plain wsgate forward listener that alone resolves app.test. */
const corpProxy = (t: import('node:test').TestContext) => startProxy(t, forwardConfig(), { names: ['app.test'] });

const tunnelsSeen = (corp: TestProxy) => corp.logs.events('connect.open').map((l) => l.target);

async function wsRoundTrip(ws: WebSocket, text: string): Promise<string> {
  await once(ws, 'open');
  ws.send(text);
  const [reply] = await once(ws, 'message');
  ws.close(1000);
  await once(ws, 'close');
  return String(reply);
}

test('forward listener with a PAC proxy: app.test falls through the dead proxy to corp, other hosts go DIRECT', async (t) => {
  const echo = await echoServer(t);
  const corp = await corpProxy(t);
  const dead = await closedPort();
  const pac = writePac(t, dead, corp.port());
  const gw = await startProxy(
    t,
    // noProxy "<-loopback>": loopback destinations are asked of the script too.
    forwardConfig({ via: 'office' }, { proxies: [{ name: 'office', pac, noProxy: '<-loopback>' }] }),
    { names: ['direct.test'] },
  );
  assert.equal((await gw.logs.waitFor('proxy.pac')).pac, pac);
  const corpUrl = `http://127.0.0.1:${corp.port()}`;

  // CONNECT app.test: the dead proxy is passed over, corp carries the tunnel (gw itself cannot resolve app.test).
  const tunnel = await rawConnect(gw.port(), `app.test:${echo.address.port}`);
  assert.equal(tunnel.status, 200);
  const ws = new WebSocket(`ws://app.test:${echo.address.port}/echo`, {
    createConnection: () => tunnel.socket.resume(),
  });
  assert.equal(await wsRoundTrip(ws, 'through the PAC list'), 'through the PAC list');
  await eventually(() => tunnelsSeen(corp).includes(`app.test:${echo.address.port}`), 5000, 'corp saw the tunnel');
  const closed = await gw.logs.waitFor('connect.close');
  assert.equal(closed.via, corpUrl, 'the line names the entry that carried the tunnel');
  const fell = await gw.logs.waitFor('proxy.fallthrough');
  assert.equal(fell.via, corpUrl);
  assert.deepEqual(
    (fell.skipped as { proxy: string; code: string }[]).map((s) => [s.proxy, s.code]),
    [[`http://127.0.0.1:${dead}`, 'WSG_UPSTREAM_REFUSED']],
  );

  // CONNECT direct.test: DIRECT, corp never sees it.
  const direct = await rawConnect(gw.port(), `direct.test:${echo.address.port}`);
  assert.equal(direct.status, 200);
  direct.socket.destroy();
  await eventually(() => gw.logs.events('connect.close').length === 2, 5000, 'the direct tunnel closed');
  assert.equal(gw.logs.events('connect.close')[1]!.via, 'direct');
  assert.ok(!tunnelsSeen(corp).some((target) => String(target).startsWith('direct.test')));

  // The dead proxy is remembered: the next tunnel to app.test goes to corp first, without a fallthrough line.
  const again = await rawConnect(gw.port(), `app.test:${echo.address.port}`);
  assert.equal(again.status, 200);
  again.socket.destroy();
  await eventually(() => gw.logs.events('connect.close').length === 3, 5000, 'the second app.test tunnel closed');
  assert.equal(gw.logs.events('connect.close')[2]!.via, corpUrl);
  assert.equal(gw.logs.events('proxy.fallthrough').length, 1);
});

test('forward listener with a PAC proxy: absolute-form HTTP walks the same list past the dead proxy', async (t) => {
  const echo = await echoServer(t);
  const corp = await corpProxy(t);
  const dead = await closedPort();
  const pac = writePac(t, dead, corp.port());
  const gw = await startProxy(
    t,
    forwardConfig({ via: 'office' }, { proxies: [{ name: 'office', pac, noProxy: '<-loopback>' }] }),
  );
  const agent = new ProxyAgent(gw.url());
  t.after(() => agent.close());
  const res = await request(`http://app.test:${echo.address.port}/`, { dispatcher: agent });
  assert.equal(res.statusCode, 200);
  assert.match(await res.body.text(), /wsgate echo server/);
  const corpUrl = `http://127.0.0.1:${corp.port()}`;
  const access = await gw.logs.waitFor('http.access');
  assert.equal(access.via, corpUrl, 'the access line names the entry that carried the request');
  assert.equal(access.status, 200);
  const fell = await gw.logs.waitFor('proxy.fallthrough');
  assert.equal(fell.via, corpUrl);
  assert.equal((await corp.logs.waitFor('http.access')).url, `http://app.test:${echo.address.port}/`);
});

test('reverse upstream with via: a PAC proxy: the upstream is reached through the PAC list', async (t) => {
  const echo = await echoServer(t);
  const corp = await corpProxy(t);
  const dead = await closedPort();
  const pac = writePac(t, dead, corp.port());
  const gw = await startProxy(t, {
    listeners: [
      {
        name: 'front',
        bind: '127.0.0.1:0',
        routes: [
          { match: { path: '/app' }, upstream: 'app' },
          { match: { path: '/local' }, upstream: 'local' },
          { match: { path: '/page' }, upstream: 'page' },
        ],
      },
    ],
    upstreams: [
      { name: 'app', url: `ws://app.test:${echo.address.port}/echo`, via: 'office' },
      { name: 'local', url: `ws://127.0.0.1:${echo.address.port}/echo`, via: 'office' },
      { name: 'page', url: `http://app.test:${echo.address.port}`, via: 'office' },
    ],
    proxies: [{ name: 'office', pac, noProxy: '<-loopback>' }],
    shutdown: { grace: '200ms' },
  });
  const app = new WebSocket(`ws://127.0.0.1:${gw.port()}/app`);
  assert.equal(await wsRoundTrip(app, 'reverse via PAC'), 'reverse via PAC');
  await eventually(() => tunnelsSeen(corp).includes(`app.test:${echo.address.port}`), 5000, 'corp saw app.test');
  assert.equal((await gw.logs.waitFor('proxy.fallthrough')).via, `http://127.0.0.1:${corp.port()}`);

  // 127.0.0.1 is DIRECT in the script: corp sees no tunnel for it.
  const local = new WebSocket(`ws://127.0.0.1:${gw.port()}/local`);
  assert.equal(await wsRoundTrip(local, 'direct'), 'direct');
  assert.deepEqual(tunnelsSeen(corp), [`app.test:${echo.address.port}`]);

  // Plain HTTP to a reverse upstream takes the same list (a pool of tunnels through corp).
  const page = await request(`http://127.0.0.1:${gw.port()}/page`);
  assert.equal(page.statusCode, 200);
  assert.match(await page.body.text(), /wsgate echo server/);
  await eventually(() => tunnelsSeen(corp).length === 2, 5000, 'corp saw the tunnel of the HTTP pool');
  assert.deepEqual(tunnelsSeen(corp), [`app.test:${echo.address.port}`, `app.test:${echo.address.port}`]);
});

test('reload reads the PAC script again; a broken one keeps the running script', async (t) => {
  const echo = await echoServer(t);
  const corp = await corpProxy(t);
  const dir = tempDir(t, 'wsgate-pac-');
  const pac = join(dir, 'proxy.pac');
  writeFileSync(pac, 'function FindProxyForURL(url, host) { return "DIRECT"; }');
  const object = forwardConfig({ via: 'office' }, { proxies: [{ name: 'office', pac, noProxy: '<-loopback>' }] });
  const gw = await startProxy(t, object);
  // DIRECT: this wsgate cannot resolve app.test itself.
  assert.equal((await rawConnect(gw.port(), `app.test:${echo.address.port}`)).status, 502);

  writeFileSync(pac, `function FindProxyForURL(url, host) { return "PROXY 127.0.0.1:${corp.port()}"; }`);
  await gw.running.reload(configFromObject(object, '<test>'));
  const through = await rawConnect(gw.port(), `app.test:${echo.address.port}`);
  assert.equal(through.status, 200, 'the reloaded script sends app.test through corp');
  through.socket.destroy();

  writeFileSync(pac, 'function FindProxyForURL(url, host) {');
  await gw.running.reload(configFromObject(object, '<test>'));
  assert.equal((await gw.logs.waitFor('config.reload_failed')).code, 'WSG_PAC_INVALID');
  const still = await rawConnect(gw.port(), `app.test:${echo.address.port}`);
  assert.equal(still.status, 200, 'the running script stays');
  still.socket.destroy();
});

test('a reload about something else keeps the running PAC script when its unchanged source cannot be read', async (t) => {
  const echo = await echoServer(t);
  const corp = await corpProxy(t);
  const dir = tempDir(t, 'wsgate-pac-');
  const pac = join(dir, 'proxy.pac');
  writeFileSync(pac, `function FindProxyForURL(url, host) { return "PROXY 127.0.0.1:${corp.port()}"; }`);
  const proxies = [{ name: 'office', pac, noProxy: '<-loopback>' }];
  const gw = await startProxy(t, forwardConfig({ via: 'office' }, { proxies }));
  // The PAC server is down (here: the file is gone) while the operator denies a host.
  rmSync(pac);
  await gw.running.reload(
    configFromObject(forwardConfig({ via: 'office', denyHosts: ['blocked.test'] }, { proxies }), '<test>'),
  );
  const kept = await gw.logs.waitFor('proxy.pac_kept');
  assert.equal(kept.code, 'WSG_PAC_READ');
  assert.deepEqual(gw.logs.events('config.reload_failed'), [], 'the reload went through');
  assert.equal((await rawConnect(gw.port(), 'blocked.test:443')).status, 403, 'the new config is in force');
  const through = await rawConnect(gw.port(), `app.test:${echo.address.port}`);
  assert.equal(through.status, 200, 'the running script still sends app.test through corp');
  through.socket.destroy();
  // A new source that cannot be read is a new script that is not there: the reload fails, as before.
  const moved = [{ ...proxies[0]!, pac: join(dir, 'other.pac') }];
  await gw.running.reload(configFromObject(forwardConfig({ via: 'office' }, { proxies: moved }), '<test>'));
  assert.equal((await gw.logs.waitFor('config.reload_failed')).code, 'WSG_PAC_READ');
  const still = await rawConnect(gw.port(), `app.test:${echo.address.port}`);
  assert.equal(still.status, 200);
  still.socket.destroy();
});

test('a PAC script that does not compile, throws, or cannot be read stops the start with a code (exit 2)', async (t) => {
  const dir = tempDir(t, 'wsgate-pac-');
  const cases = [
    { file: 'syntax.pac', text: 'function FindProxyForURL(url, host) { return "DIRECT" ', code: 'WSG_PAC_INVALID' },
    { file: 'throws.pac', text: 'function FindProxyForURL(url, host) { return nope(); }', code: 'WSG_PAC_INVALID' },
    { file: 'none.pac', text: 'var x = 1;', code: 'WSG_PAC_INVALID' },
    { file: 'missing.pac', text: undefined, code: 'WSG_PAC_READ' },
  ];
  for (const c of cases) {
    const file = join(dir, c.file);
    if (c.text !== undefined) writeFileSync(file, c.text);
    const config = configFromObject(
      forwardConfig({ via: 'office' }, { proxies: [{ name: 'office', pac: file }] }),
      '<test>',
    );
    const log = createLogger({ level: 'silent', format: 'json', stream: new LogCapture() });
    await assert.rejects(startWsgate(config, log, { env: {} }), (err: Error & { code?: string; exitCode?: number }) => {
      assert.equal(err.code, c.code, c.file);
      assert.equal(err.exitCode, 2);
      assert.match(err.message, new RegExp(`proxy office: .*${c.file}`));
      return true;
    });
  }
});

/** `wsgate check` in process: its output, or the error it throws (main prints message and hint, exit 2). */
async function check(args: string[]): Promise<{ code: number | Error; out: string }> {
  let out = '';
  const io = { out: (text: string) => (out += `${text}\n`), err: (text: string) => (out += `${text}\n`) };
  const code = await checkCommand(args, io).catch((err: Error) => err);
  return { code, out };
}

test('wsgate check shows the PAC proxy, explains its answer for a URL, and refuses a broken script', async (t) => {
  const dir = tempDir(t, 'wsgate-pac-');
  const pac = join(dir, 'proxy.pac');
  writeFileSync(
    pac,
    'function FindProxyForURL(url, host) { return host == "app.test" ? "PROXY corp:3128" : "DIRECT"; }',
  );
  const config = join(dir, 'wsgate.yaml');
  writeFileSync(
    config,
    `listeners:\n  - name: proxy\n    bind: 127.0.0.1:0\n    forward:\n      via: office\nproxies:\n  - name: office\n    pac: ${pac}\n`,
  );
  const shown = await check(['-c', config]);
  assert.equal(shown.code, 0);
  assert.match(shown.out, new RegExp(`pac: ${pac.replace(/[/.]/g, '\\$&')}`));
  const explained = await check(['-c', config, '--explain', 'wss://app.test/socket']);
  assert.equal(explained.code, 0);
  assert.match(explained.out, /proxy office \(PAC .*proxy\.pac\): FindProxyForURL answers "PROXY corp:3128"/);

  // The CLI prints a thrown error's message and exits with its exit code.
  writeFileSync(pac, 'function FindProxyForURL(url, host) {');
  const broken = (await check(['-c', config])).code as Error & { code: string; exitCode: number };
  assert.equal(broken.code, 'WSG_PAC_INVALID');
  assert.equal(broken.exitCode, 2);
  assert.match(broken.message, /proxy office: the PAC script .*proxy\.pac is not usable: .*Unexpected end of input/);

  writeFileSync(
    config,
    `listeners:\n  - bind: 127.0.0.1:0\n    forward: {}\nproxies:\n  - name: office\n    url: http://a:1\n    pac: ${pac}\n`,
  );
  const both = (await check(['-c', config])).code as Error & { code: string };
  assert.equal(both.code, 'WSG_CONFIG_INVALID');
  assert.match(both.message, /wsgate\.yaml:7:10 proxies\[0\]\.pac: give url or pac, not both/s);
});
