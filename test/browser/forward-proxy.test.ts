// A real browser through the forward proxy: headless Chromium (Debian's `chromium`, driven by playwright-core) with
// --proxy-server pointing at wsgate loads a page over HTTP (absolute-form through wsgate) whose script opens a
// ws:// connection to the echo server. Chromium tunnels every WebSocket through CONNECT, even ws://; wsgate sees
// plain HTTP inside that tunnel and logs the handshake and each message like a reverse-proxied session.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { startEchoServer } from '../../src/echo/server.ts';
import { CHROMIUM, chromiumSkip, launchThroughProxy } from '../helpers/chromium.ts';
import { startHttpServer } from '../helpers/servers.ts';
import { eventually, forwardConfig, startProxy } from '../integration/forward/helpers.ts';

const skip = chromiumSkip;

const page = (echoPort: number) => `<!doctype html>
<meta charset="utf-8"><title>loading</title>
<script>
  const ws = new WebSocket('ws://127.0.0.1:${echoPort}/echo');
  ws.onopen = () => ws.send('hello from chromium');
  ws.onmessage = (m) => { document.title = 'echo:' + m.data; ws.close(1000, 'done'); };
  ws.onerror = () => { document.title = 'error'; };
</script>`;

test('Chromium with --proxy-server: the page and its ws:// session go through wsgate, which logs the messages', {
  skip,
}, async (t) => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is required in CI`);
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const site = await startHttpServer(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page(echo.address.port));
  });
  const gw = await startProxy(t, forwardConfig({}, { listener: { tap: 'payload' } }));

  const context = await launchThroughProxy(t, gw.port());
  const tab = await context.newPage();
  await tab.goto(`${site.url}/`);
  // A string, evaluated in the page (the test's own tsconfig has no DOM types).
  await tab.waitForFunction("document.title.startsWith('echo:') || document.title === 'error'", null, {
    timeout: 20_000,
  });
  assert.equal(await tab.title(), 'echo:hello from chromium');

  // The page itself: an absolute-form GET relayed by wsgate.
  const pageLine = gw.logs.events('http.access').find((l) => l.url === `${site.url}/`);
  assert.ok(pageLine, 'the page request went through the proxy');
  assert.equal(pageLine.route, 'proxy/forward');
  // The WebSocket: a CONNECT tunnel with HTTP inside, the handshake and both messages in the log.
  const open = await gw.logs.waitFor('ws.open');
  assert.equal(open.route, 'proxy/tunnel');
  assert.equal(open.upstream, `ws://127.0.0.1:${echo.address.port}`);
  assert.equal(open.path, '/echo');
  assert.match(String(JSON.stringify(open.request)), /Mozilla|Chrome/, 'the browser’s own handshake headers');
  await eventually(() => gw.logs.events('ws.message').filter((m) => m.preview === 'hello from chromium').length === 2);
  const [out, back] = gw.logs.events('ws.message').filter((m) => m.preview === 'hello from chromium');
  assert.equal(out!.dir, 'toUpstream');
  assert.equal(back!.dir, 'toClient');
  const closed = await gw.logs.waitFor('ws.close');
  assert.equal(closed.closeCode, 1000);
  await eventually(() => gw.logs.events('connect.close').some((l) => l.target === `127.0.0.1:${echo.address.port}`));
  const tunnel = gw.logs.events('connect.close').find((l) => l.target === `127.0.0.1:${echo.address.port}`)!;
  assert.equal(tunnel.content, 'http');
});
