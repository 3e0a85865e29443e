// The README's first command: `npm start` runs `wsgate run` on config/wsgate.yaml, which listens on
// 127.0.0.1:8080 with the built-in echo server on 127.0.0.1:9998. These are the only fixed ports in the suite,
// because they are what the default config promises.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { ProxyAgent, request } from 'undici';
import WebSocket from 'ws';
import { startCli } from '../../helpers/cli.ts';

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

test('wsgate run with no arguments serves ws://127.0.0.1:8080/echo from the default config', async (t) => {
  for (const port of [8080, 9998, 8888, 9090]) {
    assert.ok(await portFree(port), `port ${port} must be free for the default config (something else holds it)`);
  }
  // The machine's proxy variables must not apply to the wsgate under test.
  const noProxyEnv = { HTTP_PROXY: '', HTTPS_PROXY: '', http_proxy: '', https_proxy: '', NO_PROXY: '', no_proxy: '' };
  const cli = startCli(['run'], { env: { WSGATE_HOST: '', ...noProxyEnv } });
  t.after(() => cli.child.kill('SIGKILL'));
  await cli.waitForOutput(/web listening on 127\.0\.0\.1:8080/);
  await cli.waitForOutput(/echo server on ws:\/\/127\.0\.0\.1:9998\/echo/);
  const ws = new WebSocket('ws://127.0.0.1:8080/echo');
  await once(ws, 'open');
  ws.send('out of the box');
  const [reply] = await once(ws, 'message');
  assert.equal(String(reply), 'out of the box');
  ws.close(1000);
  await once(ws, 'close');
  // The inspector's URL is printed, and it shows the echo messages without any config change (tap payload on /echo).
  await cli.waitForOutput(/inspector on http:\/\/127\.0\.0\.1:9090\//);
  const page = await request('http://127.0.0.1:9090/');
  assert.equal(page.statusCode, 200);
  assert.match(await page.body.text(), /wsgate inspector/);
  const listed = (await (await request('http://127.0.0.1:9090/api/connections')).body.json()) as {
    connections: { id: string; route: string }[];
  };
  const echoConn = listed.connections.find((c) => c.route === 'echo');
  assert.ok(echoConn, 'the echo connection is listed');
  const page1 = (await (
    await request(`http://127.0.0.1:9090/api/connections/${echoConn.id}/messages`)
  ).body.json()) as { messages: { preview?: string }[] };
  assert.ok(
    page1.messages.some((m) => m.preview === 'out of the box'),
    'the message text is shown',
  );
  const http = await request('http://127.0.0.1:8080/echo');
  assert.equal(http.statusCode, 200);
  assert.match(await http.body.text(), /echo/i);
  // The forward proxy on 8888 relays to the echo server's HTTP side and says so in Via.
  await cli.waitForOutput(/proxy listening on 127\.0\.0\.1:8888/);
  const proxy = new ProxyAgent('http://127.0.0.1:8888');
  t.after(() => proxy.close());
  const proxied = await request('http://127.0.0.1:9998/', { dispatcher: proxy });
  assert.equal(proxied.statusCode, 200);
  assert.match(String(proxied.headers['via']), /^1\.1 wsgate-/);
  await proxied.body.dump();
  cli.child.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0);
  assert.match(cli.stdout(), /"event":"ws\.close"/);
});
