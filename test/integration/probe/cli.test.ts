// `wsgate probe` as a user runs it: exit codes (0 works, 1 fails, 2 usage), the --json document, and a snapshot of
// the human output (ports and timings normalised) for a proxy that refuses CONNECT to a non-443 port.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../../helpers/cli.ts';
import { SQUID_LIKE_403, startRefusingProxy, startWsEcho } from './helpers.ts';

const CLEAN_ENV = { HTTP_PROXY: '', HTTPS_PROXY: '', http_proxy: '', https_proxy: '', NO_PROXY: '', no_proxy: '' };

test('exit 0 and a ✓ line per step when the WebSocket works', async (t) => {
  const echo = await startWsEcho(t);
  const r = await runCli(['probe', echo.url, '--send', 'hi'], { env: CLEAN_ENV });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^✓ upgrade {3}101 Switching Protocols/m);
  assert.match(r.stdout, /^✓ message {3}echoed/m);
  assert.match(r.stdout, /✓ works: PROBE_OK/);
});

test('human output snapshot: CONNECT refused by a Squid-like proxy (exit 1)', async (t) => {
  const proxy = await startRefusingProxy(t, SQUID_LIKE_403);
  const r = await runCli(['probe', 'wss://127.0.0.1:8443/live', '--proxy', `http://127.0.0.1:${proxy.port}`], {
    env: CLEAN_ENV,
  });
  assert.equal(r.code, 1, r.stderr);
  const normalised = r.stdout.replaceAll(String(proxy.port), 'PORT').replace(/ {2}\d+ ms$/gm, '  N ms');
  assert.equal(
    normalised,
    `wsgate probe wss://127.0.0.1:8443/live
✓ path      through proxy http://127.0.0.1:PORT (--proxy; CONNECT tunnel)
✓ dns       127.0.0.1 (proxy, an address: no lookup)  N ms
✓ tcp       connected to 127.0.0.1:PORT (proxy)  N ms
✗ connect   403 Forbidden from Squid 5.7 (X-Squid-Error: ERR_ACCESS_DENIED 0): the proxy refuses CONNECT to port 8443  N ms

✗ fails at connect: CONNECT_REFUSED_PORT: 403 Forbidden from Squid 5.7 (X-Squid-Error: ERR_ACCESS_DENIED 0): the proxy refuses CONNECT to port 8443
  what to change: Proxies commonly allow CONNECT only to port 443 (Squid’s default: http_access deny CONNECT !SSL_ports, acl SSL_ports port 443): serve the WebSocket as wss:// on port 443, or ask the proxy’s admins to allow port 8443.
`,
  );
});

test('--json prints the report: failing step and code; nothing else on stdout', async (t) => {
  const proxy = await startRefusingProxy(t, SQUID_LIKE_403);
  const r = await runCli(['probe', 'wss://127.0.0.1:8443/', '--proxy', `http://127.0.0.1:${proxy.port}`, '--json'], {
    env: CLEAN_ENV,
  });
  assert.equal(r.code, 1);
  const report = JSON.parse(r.stdout) as { version: number; ok: boolean; verdict: { step: string; code: string } };
  assert.equal(report.version, 1);
  assert.equal(report.ok, false);
  assert.deepEqual([report.verdict.step, report.verdict.code], ['connect', 'CONNECT_REFUSED_PORT']);
});

test('usage errors exit 2: no URL, two path options, a bad duration (the rest: test/unit/probe/cli-options)', async () => {
  for (const args of [
    ['probe'],
    ['probe', 'ws://127.0.0.1:9/', '--proxy', 'http://127.0.0.1:1', '--no-proxy'],
    ['probe', 'ws://127.0.0.1:9/', '--idle', 'forever'],
  ]) {
    const r = await runCli(args, { env: CLEAN_ENV });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /wsgate: probe: /);
  }
  const help = await runCli(['probe', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: wsgate probe URL/);
});
