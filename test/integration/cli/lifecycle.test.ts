// wsgate run as a process: starts from a file, reloads on SIGHUP and on file change (keeping the old
// config when the new one is broken), and exits 0 on SIGTERM with a WebSocket still open.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import WebSocket from 'ws';
import { startCli } from '../../helpers/cli.ts';
import { startHttpServer } from '../../helpers/servers.ts';

function configText(routes: string, grace = '500ms'): string {
  return `listeners:
  - name: web
    bind: 127.0.0.1:0
    routes:
${routes}
shutdown: { grace: ${grace} }
log: { format: json }
`;
}

async function bodyOf(url: string): Promise<{ status: number; text: string }> {
  const res = await request(url);
  return { status: res.statusCode, text: await res.body.text() };
}

test('SIGHUP with a broken file keeps the old routes; a valid edit applies to new requests', async (t) => {
  const a = await startHttpServer(t, (_req, res) => res.end('from a'));
  const b = await startHttpServer(t, (_req, res) => res.end('from b'));
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-reload-'));
  const file = join(dir, 'wsgate.yaml');
  writeFileSync(file, configText(`      - upstream: ${a.url}`));
  const cli = startCli(['run', '-c', file]);
  t.after(() => cli.child.kill('SIGKILL'));
  const [, port] = await cli.waitForOutput(/web listening on 127\.0\.0\.1:(\d+)/);
  const base = `http://127.0.0.1:${port}`;
  assert.equal((await bodyOf(`${base}/`)).text, 'from a');

  writeFileSync(file, configText(`      - upstream: ${b.url}\n        bogus: [`));
  cli.child.kill('SIGHUP');
  await cli.waitForOutput(/config\.reload_failed/);
  assert.match(cli.stdout() + cli.stderr(), /wsgate\.yaml:\d+:\d+/);
  assert.equal((await bodyOf(`${base}/`)).text, 'from a', 'old config still serves');

  writeFileSync(file, configText(`      - upstream: ${b.url}`));
  cli.child.kill('SIGHUP');
  await cli.waitForOutput(/config\.reloaded/);
  assert.equal((await bodyOf(`${base}/`)).text, 'from b');

  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exited, { code: 0, signal: null });
});

test('SIGHUP without a config file (--listen/--upstream): said, and the proxy keeps running', async (t) => {
  const a = await startHttpServer(t, (_req, res) => res.end('from a'));
  const cli = startCli(['run', '--listen', '127.0.0.1:0', '--upstream', a.url, '--log-format', 'json']);
  t.after(() => cli.child.kill('SIGKILL'));
  const [, port] = await cli.waitForOutput(/cli listening on 127\.0\.0\.1:(\d+)/);
  cli.child.kill('SIGHUP');
  // Node's default for SIGHUP ends the process: a `kill -HUP` meant as a reload stopped the proxy, unlogged.
  await cli.waitForOutput(/"event":"config\.reload_skipped"/);
  assert.match(cli.stdout(), /SIGHUP: no config file to reload \(started with --listen\/--upstream or --forward\)/);
  assert.equal((await bodyOf(`http://127.0.0.1:${port}/`)).text, 'from a');
  cli.child.kill('SIGTERM');
  assert.deepEqual(await cli.exited, { code: 0, signal: null });
});

test('a file change is picked up without a signal', async (t) => {
  const a = await startHttpServer(t, (_req, res) => res.end('from a'));
  const b = await startHttpServer(t, (_req, res) => res.end('from b'));
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-watch-'));
  const file = join(dir, 'wsgate.yaml');
  writeFileSync(file, configText(`      - upstream: ${a.url}`));
  const cli = startCli(['run', '-c', file]);
  t.after(() => cli.child.kill('SIGKILL'));
  const [, port] = await cli.waitForOutput(/web listening on 127\.0\.0\.1:(\d+)/);
  writeFileSync(file, configText(`      - upstream: ${b.url}`));
  await cli.waitForOutput(/config\.reloaded/);
  assert.equal((await bodyOf(`http://127.0.0.1:${port}/`)).text, 'from b');
  cli.child.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0);
});

test('SIGTERM with a WebSocket open: Close 1001 to the client, exit 0 long before the grace period', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-term-'));
  const file = join(dir, 'wsgate.yaml');
  writeFileSync(
    file,
    `listeners:
  - name: web
    bind: 127.0.0.1:0
    routes:
      - match: { path: /echo }
        upstream: ws://127.0.0.1:\${ECHO_PORT}
echo: { bind: "127.0.0.1:\${ECHO_PORT}" }
shutdown: { grace: 20s }
`,
  );
  // The echo server binds a fixed port here because the route must name it; pick one that is free now.
  const { closedPort } = await import('../../helpers/servers.ts');
  const echoPort = await closedPort();
  const cli = startCli(['run', '-c', file], { env: { ECHO_PORT: String(echoPort) } });
  t.after(() => cli.child.kill('SIGKILL'));
  const [, port] = await cli.waitForOutput(/web listening on 127\.0\.0\.1:(\d+)/);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`);
  await once(ws, 'open');
  ws.send('still here');
  const [reply] = await once(ws, 'message');
  assert.equal(String(reply), 'still here');
  const closed = once(ws, 'close');
  const started = Date.now();
  cli.child.kill('SIGTERM');
  const exit = await cli.exited;
  assert.deepEqual(exit, { code: 0, signal: null });
  // The closing handshake completes at once, so nothing waits for the 20 s grace period.
  assert.ok(Date.now() - started < 5000, 'exits after the closing handshake, not after the grace period');
  const [code, reason] = await closed;
  assert.equal(code, 1001);
  assert.equal(String(reason), 'wsgate is shutting down');
});
