// `wsgate run --forward HOST:PORT`: a forward proxy without a config file, as a user starts it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startCli } from '../../helpers/cli.ts';
import { rawConnect, readUntil, startTcpServer } from './helpers.ts';

/** The machine's proxy variables must not leak into the wsgate under test. */
const NO_PROXY_ENV = { HTTP_PROXY: '', HTTPS_PROXY: '', http_proxy: '', https_proxy: '', NO_PROXY: '', no_proxy: '' };

test('wsgate run --forward 127.0.0.1:0 tunnels a CONNECT and stops cleanly on SIGTERM', async (t) => {
  const tcpEcho = await startTcpServer(t, (s) => s.pipe(s));
  const cli = startCli(['run', '--forward', '127.0.0.1:0', '--log-format', 'json'], { env: NO_PROXY_ENV });
  t.after(() => cli.child.kill('SIGKILL'));
  const [, port] = await cli.waitForOutput(/proxy listening on 127\.0\.0\.1:(\d+)/);
  const tunnel = await rawConnect(Number(port), `127.0.0.1:${tcpEcho.port}`);
  assert.equal(tunnel.status, 200);
  tunnel.socket.write('abc');
  assert.equal((await readUntil(tunnel.socket, (b) => b.length === 3)).toString(), 'abc');
  tunnel.socket.end();
  await cli.waitForOutput(/"event":"connect\.close"/);
  cli.child.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0);
  assert.match(cli.stdout(), /"event":"listener\.start","listener":"proxy".*"mode":"forward"/);
});

test('--forward combines with --listen/--upstream, and not with --config', async (t) => {
  const cli = startCli(
    ['run', '--forward', '127.0.0.1:0', '--listen', '127.0.0.1:0', '--upstream', 'ws://127.0.0.1:1'],
    { env: NO_PROXY_ENV },
  );
  t.after(() => cli.child.kill('SIGKILL'));
  await cli.waitForOutput(/cli listening on 127\.0\.0\.1:\d+/);
  await cli.waitForOutput(/proxy listening on 127\.0\.0\.1:\d+/);
  cli.child.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0);
  const mixed = startCli(['run', '--forward', '127.0.0.1:0', '-c', 'config/wsgate.yaml']);
  assert.equal((await mixed.exited).code, 2);
  assert.match(mixed.stderr(), /use either --config or --listen\/--upstream\/--forward/);
});
