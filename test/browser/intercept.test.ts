// A real browser through an intercepting forward proxy: headless Chromium (Debian's `chromium`, driven by
// playwright-core) with --proxy-server pointing at wsgate loads https://site.test:PORT/ — a CONNECT tunnel wsgate
// intercepts — and the page opens wss://site.test:PORT/echo, a second intercepted tunnel. Chromium trusts wsgate's
// certificates through --ignore-certificate-errors-spki-list with the SPKI hash of the leaf key every wsgate leaf
// shares (nothing is installed anywhere); wsgate trusts the test site through forward.upstreamCa. wsgate logs the
// page request and the WebSocket's messages in plain text.
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { spkiSha256 } from '../../src/tls/ca.ts';
import { CHROMIUM, chromiumSkip, launchThroughProxy } from '../helpers/chromium.ts';
import { eventually } from '../integration/forward/helpers.ts';
import { startInterceptProxy, startRecordingTlsServer, upstreamCa } from '../integration/intercept/helpers.ts';

const skip = chromiumSkip;

const page = `<!doctype html>
<meta charset="utf-8"><title>loading</title>
<script>
  const ws = new WebSocket('wss://' + location.host + '/echo');
  ws.onopen = () => ws.send('hello from chromium over wss');
  ws.onmessage = (m) => { document.title = 'echo:' + m.data; ws.close(1000, 'done'); };
  ws.onerror = () => { document.title = 'error'; };
</script>`;

test('Chromium trusting wsgate’s leaf key (SPKI) opens a wss:// echo through interception; frames are logged', {
  skip,
}, async (t) => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is required in CI`);
  const site = await startRecordingTlsServer(t, await (await upstreamCa()).issue({ names: ['site.test'] }), (path) =>
    path === '/' ? { type: 'text/html; charset=utf-8', body: page } : undefined,
  );
  const gw = await startInterceptProxy(t, { intercept: ['site.test'], names: ['site.test'] });
  // The leaf key every intercepted host's certificate uses: its SPKI hash is all Chromium needs.
  const leafKey = createPublicKey(createPrivateKey(readFileSync(join(gw.caDir, 'leaf-key.pem'))));
  const spki = spkiSha256(leafKey);
  assert.equal(spki, gw.logs.events('tls.ca_created')[0]?.leafSpki, 'the hash wsgate logs at start');

  const context = await launchThroughProxy(t, gw.port(), [`--ignore-certificate-errors-spki-list=${spki}`]);
  const tab = await context.newPage();
  const url = `https://site.test:${site.port}/`;
  const response = await tab.goto(url);
  assert.equal(response?.status(), 200);
  // A string, evaluated in the page (the test's own tsconfig has no DOM types).
  await tab.waitForFunction("document.title.startsWith('echo:') || document.title === 'error'", null, {
    timeout: 20_000,
  });
  assert.equal(await tab.title(), 'echo:hello from chromium over wss');

  // The page: a request inside an intercepted tunnel, decrypted and logged.
  const pageLine = gw.logs.events('http.access').find((l) => l.path === '/');
  assert.ok(pageLine, 'the page request was intercepted');
  assert.equal(pageLine.status, 200);
  assert.equal(pageLine.upstream, `site.test:${site.port}`);
  // The WebSocket: its handshake and both messages, in plain text.
  const open = await gw.logs.waitFor('ws.open');
  assert.equal(open.route, 'proxy/tunnel');
  assert.equal(open.path, '/echo');
  assert.match(String(JSON.stringify(open.request)), /Mozilla|Chrome/, 'the browser’s own handshake headers');
  const messages = () => gw.logs.events('ws.message').filter((m) => m.preview === 'hello from chromium over wss');
  await eventually(() => messages().length === 2, 5000, 'both messages logged');
  assert.deepEqual(
    messages()
      .map((m) => m.dir)
      .sort(),
    ['toClient', 'toUpstream'],
  );
  const closed = await gw.logs.waitFor('ws.close');
  assert.equal(closed.closeCode, 1000);
  const intercepted = gw.logs.events('tls.intercepted');
  assert.ok(intercepted.length >= 1 && intercepted.every((l) => l.servername === 'site.test' && l.alpn === 'http/1.1'));
});
