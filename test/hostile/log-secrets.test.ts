// Secrets never reach a log line or `wsgate check` output (issue 11, item 5): a URL's user:password@ (absolute-form
// requests, upstream URLs, proxy URLs from config and the environment, CONNECT through an authenticated corporate
// proxy), token query parameters (log.redactQueryParams) on every entry kind, and bearer tokens offered as
// WebSocket subprotocols. Every captured line, raw, is searched for each secret; log.showSecrets brings them back,
// which also shows that the searches can find them.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { type RunningWsgate, startWsgate } from '../../src/app/app.ts';
import { configFromObject } from '../../src/config/load.ts';
import { startEchoServer } from '../../src/echo/server.ts';
import { createLogger } from '../../src/log/logger.ts';
import { runCli } from '../helpers/cli.ts';
import { ENTRY_KINDS, waitForLine } from '../helpers/entry-kinds.ts';
import { rawExchange } from '../helpers/servers.ts';
import { tempDir } from '../helpers/tls.ts';
import { openWs } from '../helpers/ws-client.ts';
import { LogCapture } from '../helpers/wsgate.ts';
import { fakeLookup, forwardConfig, rawConnect, startProxy } from '../integration/forward/helpers.ts';

/** Starts wsgate the way `wsgate run` does: the logger built from the config's log section. */
async function startWithLogConfig(
  t: TestContext,
  config: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<{ running: RunningWsgate; logs: LogCapture; port: (name?: string) => number }> {
  const logs = new LogCapture();
  const resolved = configFromObject(config, '<test>');
  const log = createLogger({ ...resolved.log, level: 'debug', format: 'json', stream: logs });
  const running = await startWsgate(resolved, log, { env, lookup: fakeLookup() });
  t.after(() => running.shutdown());
  const port = (name?: string) =>
    (name === undefined ? [...running.listeners.values()][0]! : running.listeners.get(name)!).port;
  return { running, logs, port };
}

function assertNoSecrets(text: string, secrets: readonly string[], where: string): void {
  for (const secret of secrets) assert.ok(!text.includes(secret), `${where} shows ${secret}:\n${text}`);
}

async function echoServer(t: TestContext) {
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  return echo;
}

const K8S_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlMTIz';

test('reverse: upstream URL credentials, token query parameters and a bearer subprotocol are not logged', async (t) => {
  const echo = await echoServer(t);
  const dir = tempDir(t, 'wsgate-secrets-');
  const trafficFile = join(dir, 'traffic.jsonl');
  const gw = await startWithLogConfig(t, {
    listeners: [
      {
        name: 'rev',
        bind: '127.0.0.1:0',
        routes: [{ upstream: `ws://alice:UPSTREAM_PW@127.0.0.1:${echo.address.port}` }],
      },
    ],
    log: { traffic: trafficFile, redactQueryParams: ['token', 'session'] },
    shutdown: { grace: '200ms' },
  });
  const http = (
    await rawExchange(
      gw.port(),
      'GET /page?token=QUERY_TOKEN&Session=SESSION_ID&keep=visible HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    )
  ).toString();
  assert.match(http, /^HTTP\/1\.1 200 /);
  const access = await gw.logs.waitFor('http.access');
  assert.equal(access.path, '/page?token=[redacted]&Session=[redacted]&keep=visible');

  const ws = await openWs(`ws://127.0.0.1:${gw.port()}/socket?token=WS_QUERY_TOKEN`, {}, [
    `base64url.bearer.authorization.k8s.io.${K8S_TOKEN}`,
    'base64.binary.k8s.io',
  ]);
  ws.close(1000);
  await new Promise((r) => ws.once('close', r));
  await gw.running.shutdown();
  const traffic = readFileSync(trafficFile, 'utf8');
  const open = traffic
    .split('\n')
    .filter((l) => l.includes('"ws.open"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)[0];
  assert.ok(open, `a ws.open line in ${traffic}`);
  assert.equal(open.path, '/socket?token=[redacted]');
  // The first offer is the one the echo server picks, so the chosen protocol is the token too.
  assert.equal(open.protocol, 'base64url.bearer.authorization.k8s.io.[redacted]');
  const offered = (open.request as [string, string][]).find(([n]) => n.toLowerCase() === 'sec-websocket-protocol');
  assert.equal(offered?.[1], 'base64url.bearer.authorization.k8s.io.[redacted],base64.binary.k8s.io');
  const secrets = ['UPSTREAM_PW', 'QUERY_TOKEN', 'SESSION_ID', 'WS_QUERY_TOKEN', K8S_TOKEN, 'c2lnbmF0dXJlMTIz'];
  assertNoSecrets(gw.logs.raw.join('\n'), secrets, 'the main log');
  assertNoSecrets(traffic, secrets, 'the traffic log');
});

test('forward: userinfo in http:// and ws:// request targets and in a CONNECT target is not logged', async (t) => {
  const echo = await echoServer(t);
  const gw = await startWithLogConfig(t, forwardConfig());
  const authority = `127.0.0.1:${echo.address.port}`;
  await rawExchange(
    gw.port(),
    `GET http://bob:ABSOLUTE_PW@${authority}/x?access_token=ABS_TOKEN HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`,
  );
  await rawExchange(
    gw.port(),
    `GET ws://carol:WS_ABSOLUTE_PW@${authority}/ws HTTP/1.1\r\nHost: ${authority}\r\nConnection: Upgrade\r\n` +
      'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    1000,
  ).catch(() => Buffer.alloc(0));
  // A user without a password is a name, kept; a bare token is not.
  await rawExchange(
    gw.port(),
    `GET http://ghp_16C7e42F292c6912E7710c838347Ae178B4a@${authority}/ HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`,
  );
  // A CONNECT target with userinfo is refused, and logged as it came but for the password.
  const connect = await rawConnect(gw.port(), 'dave:CONNECT_TARGET_PW@example.test:443');
  assert.equal(connect.status, 400);
  assert.equal((await gw.logs.waitFor('connect.bad_target')).target, 'dave:[redacted]@example.test:443');
  await waitForLine(gw.logs, 'http.access', (l) => String(l.url).includes('access_token'));
  const first = gw.logs.events('http.access')[0]!;
  assert.equal(first.url, `http://bob:[redacted]@${authority}/x?access_token=[redacted]`);
  assert.match(String(first.msg), /bob:\[redacted\]@/);
  await waitForLine(
    gw.logs,
    'http.access',
    (l) => String(l.url).includes('[redacted]@') && !String(l.url).includes(':[redacted]'),
  );
  assertNoSecrets(
    gw.logs.raw.join('\n'),
    ['ABSOLUTE_PW', 'ABS_TOKEN', 'WS_ABSOLUTE_PW', 'ghp_16C7e42F292c6912E7710c838347Ae178B4a', 'CONNECT_TARGET_PW'],
    'the forward log',
  );
});

test('CONNECT through an authenticated corporate proxy (config and HTTPS_PROXY): its credentials are not logged', async (t) => {
  const echo = await echoServer(t);
  const corp = await startProxy(
    t,
    forwardConfig({ auth: { realm: 'corp', users: [{ name: 'corp-user', password: 'CORP_PW' }] } }),
  );
  const viaConfig = await startWithLogConfig(
    t,
    forwardConfig(
      { via: 'corp' },
      { proxies: [{ name: 'corp', url: `http://corp-user:CORP_PW@127.0.0.1:${corp.port()}`, noProxy: '<-loopback>' }] },
    ),
  );
  const viaEnv = await startWithLogConfig(t, forwardConfig(), {
    HTTPS_PROXY: `http://corp-user:CORP_PW@127.0.0.1:${corp.port()}`,
    NO_PROXY: '<-loopback>',
  });
  const wrong = await startWithLogConfig(
    t,
    forwardConfig(
      { via: 'corp' },
      {
        proxies: [{ name: 'corp', url: `http://corp-user:WRONG_PW@127.0.0.1:${corp.port()}`, noProxy: '<-loopback>' }],
      },
    ),
  );
  for (const gw of [viaConfig, viaEnv]) {
    const tunnel = await rawConnect(gw.port(), `127.0.0.1:${echo.address.port}`);
    assert.equal(tunnel.status, 200);
    tunnel.socket.destroy();
    await gw.logs.waitFor('connect.close');
  }
  assert.equal((await viaEnv.logs.waitFor('proxy.env')).proxy, `http://127.0.0.1:${corp.port()}`);
  const refused = await rawConnect(wrong.port(), `127.0.0.1:${echo.address.port}`);
  assert.equal(refused.status, 407);
  await wrong.logs.waitFor('connect.upstream_error');
  for (const [name, logs] of [
    ['via config', viaConfig.logs],
    ['via HTTPS_PROXY', viaEnv.logs],
    ['wrong password', wrong.logs],
    ['the corporate proxy', corp.logs],
  ] as const) {
    assertNoSecrets(logs.raw.join('\n'), ['CORP_PW', 'WRONG_PW', 'Y29ycC11c2VyOkNPUlBfUFc'], name);
  }
});

test('token query parameters are redacted on every entry kind', async (t) => {
  for (const kind of ENTRY_KINDS) {
    await t.test(kind.name, async (tc) => {
      const entry = await kind.start(tc, {});
      const channel = await entry.open(tc);
      channel.write(
        `GET ${entry.target('/p?apikey=KIND_KEY&keep=1')} HTTP/1.1\r\nHost: ${entry.host}\r\nConnection: close\r\n\r\n`,
      );
      const response = await channel.response();
      assert.equal(response.status, 200);
      const line = await waitForLine(entry.logs, 'http.access', (l) => String(l.path ?? l.url).includes('/p?'));
      assert.match(String(line.path ?? line.url), /\/p\?apikey=\[redacted\]&keep=1$/);
      assert.ok(entry.upstreamText().includes('apikey=KIND_KEY'), 'the upstream still gets the real query');
      assertNoSecrets(entry.logs.raw.join('\n'), ['KIND_KEY'], kind.name);
    });
  }
});

test('log.showSecrets: true logs URL credentials and query tokens as they are', async (t) => {
  const echo = await echoServer(t);
  const gw = await startWithLogConfig(t, forwardConfig({}, { log: { showSecrets: true } }));
  const authority = `127.0.0.1:${echo.address.port}`;
  await rawExchange(
    gw.port(),
    `GET http://bob:SHOWN_PW@${authority}/x?token=SHOWN_TOKEN HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`,
  );
  const access = await gw.logs.waitFor('http.access');
  assert.equal(access.url, `http://bob:SHOWN_PW@${authority}/x?token=SHOWN_TOKEN`);
});

test('wsgate check prints no password or token of any URL in the config, nor in --explain', async (t) => {
  const dir = tempDir(t, 'wsgate-check-secrets-');
  const file = join(dir, 'wsgate.yaml');
  writeFileSync(
    file,
    [
      'listeners:',
      '  - name: rev',
      '    bind: 127.0.0.1:0',
      '    routes:',
      '      - upstream: app',
      '  - name: inline',
      '    bind: 127.0.0.1:0',
      '    routes:',
      '      - upstream: "ws://dave:INLINE_PW@127.0.0.1:9/x?sig=INLINE_SIG"',
      'upstreams:',
      '  - name: app',
      '    url: "https://erin:UPSTREAM_PW@app.test:8443/base?access_token=UPSTREAM_TOKEN"',
      'proxies:',
      '  - name: corp',
      '    url: "http://frank:PROXY_PW@proxy.test:3128"',
      '',
    ].join('\n'),
  );
  const secrets = ['INLINE_PW', 'INLINE_SIG', 'UPSTREAM_PW', 'UPSTREAM_TOKEN', 'PROXY_PW'];
  const printed = await runCli(['check', '-c', file]);
  assert.equal(printed.code, 0, printed.stderr);
  assert.match(printed.stdout, /https:\/\/erin:\[redacted\]@app\.test:8443\/base\?access_token=\[redacted\]/);
  assertNoSecrets(printed.stdout + printed.stderr, secrets, 'wsgate check');
  const explained = await runCli(['check', '-c', file, '--explain', 'http://app.test/base?token=EXPLAIN_TOKEN']);
  assert.equal(explained.code, 0, explained.stderr);
  assert.match(explained.stdout, /→ https:\/\/erin:\[redacted\]@app\.test:8443/);
  assertNoSecrets(explained.stdout + explained.stderr, [...secrets, 'EXPLAIN_TOKEN'], 'wsgate check --explain');

  writeFileSync(file, `${readFileSync(file, 'utf8')}log:\n  showSecrets: true\n`);
  const shown = await runCli(['check', '-c', file]);
  assert.match(shown.stdout, /erin:UPSTREAM_PW@app\.test/, 'showSecrets prints them, so the search above can fail');
});
