// Loading: defaults, resolution of names and shapes, freezing, the shipped configs, and file-level failures.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { configFromObject, loadConfigFile, loadConfigText, MAX_CONFIG_BYTES } from '../../../src/config/load.ts';
import type { Config } from '../../../src/config/schema.ts';
import { WsgateError } from '../../../src/errors.ts';
import { failLines } from './helpers.ts';

const minimal = 'listeners:\n  - bind: 127.0.0.1:0\n    routes:\n      - upstream: ws://127.0.0.1:9998/base\n';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a minimal config gets every default', () => {
  const config = loadConfigText(minimal, 'c.yaml', {});
  const expected: Config = {
    listeners: [
      {
        name: 'listener-0',
        bind: { host: '127.0.0.1', port: 0 },
        tls: undefined,
        trustForwarded: [],
        rules: [],
        keepalive: undefined,
        relay: { deflate: 'strip' },
        forward: undefined,
        routes: [
          {
            name: 'listener-0/route-0',
            match: [{}],
            upstream: { name: 'ws://127.0.0.1:9998', url: 'ws://127.0.0.1:9998/base' },
            changeOrigin: false,
            rawPath: false,
            allowOrigins: undefined,
            tap: 'meta',
            rules: [],
            keepalive: undefined,
            relay: { deflate: 'strip' },
          },
        ],
      },
    ],
    upstreams: [],
    rules: [],
    proxies: [],
    inspector: undefined,
    echo: undefined,
    log: {
      level: 'info',
      format: 'auto',
      file: undefined,
      showSecrets: false,
      traffic: undefined,
      maxQueueBytes: 16 * 1024 * 1024,
      redactQueryParams: ['access_token', 'token', 'auth', 'key', 'apikey', 'password', 'secret', 'sig', 'signature'],
      redactSubprotocols: true,
      tokenSubprotocolPrefixes: ['base64url.bearer.authorization.k8s.io.'],
    },
    limits: {
      maxHeaderBytes: 16_384,
      headersTimeout: 10_000,
      bodyTimeout: 60_000,
      connectTimeout: 10_000,
      handshakeTimeout: 10_000,
      responseTimeout: 60_000,
      idleTimeout: 0,
      maxBufferedBytes: 65_536,
      tunnelIdleTimeout: 3_600_000,
      maxRequestLineBytes: 8192,
      maxHeaderCount: 100,
      maxConnections: 10_000,
      maxConnectionsPerClient: 256,
      maxHandshakesPerSecond: 0,
      maxHandshakesPerClientPerSecond: 0,
      clientIpv6Prefix: 64,
      exemptLoopbackClients: true,
      maxFrameBytes: 16 * 1024 * 1024,
      maxMessageBytes: 64 * 1024 * 1024,
      maxFragments: 1024,
      maxPendingPings: 60,
    },
    shutdown: { grace: 10_000 },
    workers: 1,
    tap: {
      level: 'meta',
      previewBytes: 1024,
      maxDecodedBytes: 4 * 1024 * 1024,
      redactJsonKeys: [],
      redactPatterns: [],
      onViolation: 'log',
    },
    tls: { caDir: '~/.wsgate/ca', keyLog: undefined },
  };
  assert.deepEqual(config, expected);
  // Keys that are absent stay absent on match objects, so `'host' in m` means the user wrote it.
  assert.deepEqual(Object.keys(config.listeners[0]!.routes[0]!.match[0]!), []);
});

test('names, shapes and cases are resolved', () => {
  const config = loadConfigText(
    `listeners:
  - name: web
    bind: "[::1]:8080"
    routes:
      - match: { host: "*.Example.TEST", headers: { X-Canary: "1", User-Agent: "/^curl\\\\//i" } }
        upstream: chat
        allowOrigins: [HTTPS://App.Example.test:443, "http://localhost:5173"]
      - name: api
        match: [{ pathPrefix: /api }, { path: /v1 }]
        upstream: https://api.internal:8443/root
        changeOrigin: "true"
  - bind: { host: 0.0.0.0, port: 80 }
    routes: [{ upstream: chat }]
upstreams: [{ name: chat, url: "wss://chat.internal:9443" }]
echo: { bind: "localhost:0" }
log: { level: debug, format: json, file: logs/wsgate.log, showSecrets: true }
limits: { maxHeaderBytes: 32768, idleTimeout: 1.5s, maxBufferedBytes: 1MiB, responseTimeout: "0" }
shutdown: { grace: 500ms }
`,
    'c.yaml',
    {},
  );
  const [web, second] = config.listeners;
  assert.deepEqual(web!.bind, { host: '::1', port: 8080 });
  assert.deepEqual(web!.routes[0], {
    name: 'web/route-0',
    match: [{ host: '*.example.test', headers: { 'x-canary': '1', 'user-agent': '/^curl\\//i' } }],
    upstream: { name: 'chat', url: 'wss://chat.internal:9443' },
    changeOrigin: false,
    rawPath: false,
    allowOrigins: ['https://app.example.test', 'http://localhost:5173'],
    tap: 'meta',
    rules: [],
    keepalive: undefined,
    relay: { deflate: 'strip' },
  });
  assert.deepEqual(web!.routes[1]!.match, [{ pathPrefix: '/api' }, { path: '/v1' }]);
  assert.deepEqual(web!.routes[1]!.upstream, {
    name: 'https://api.internal:8443',
    url: 'https://api.internal:8443/root',
  });
  assert.equal(web!.routes[1]!.name, 'api');
  assert.equal(web!.routes[1]!.changeOrigin, true);
  assert.equal(second!.name, 'listener-1');
  assert.equal(second!.routes[0]!.name, 'listener-1/route-0');
  assert.deepEqual(second!.bind, { host: '0.0.0.0', port: 80 });
  assert.deepEqual(config.echo, { bind: { host: 'localhost', port: 0 } });
  assert.deepEqual(config.log, {
    level: 'debug',
    format: 'json',
    file: 'logs/wsgate.log',
    showSecrets: true,
    traffic: undefined,
    maxQueueBytes: 16 * 1024 * 1024,
    redactQueryParams: ['access_token', 'token', 'auth', 'key', 'apikey', 'password', 'secret', 'sig', 'signature'],
    redactSubprotocols: true,
    tokenSubprotocolPrefixes: ['base64url.bearer.authorization.k8s.io.'],
  });
  assert.equal(config.limits.maxHeaderBytes, 32_768);
  assert.equal(config.limits.idleTimeout, 1_500);
  assert.equal(config.limits.maxBufferedBytes, 1_048_576);
  assert.equal(config.limits.responseTimeout, 0);
  assert.equal(config.shutdown.grace, 500);
});

test('the result is deeply frozen', () => {
  const config = loadConfigText(minimal, 'c.yaml', {});
  const route = config.listeners[0]!.routes[0]!;
  for (const value of [
    config,
    config.listeners,
    config.listeners[0],
    route,
    route.match,
    route.match[0],
    route.upstream,
  ]) {
    assert.ok(Object.isFrozen(value));
  }
  assert.ok(Object.isFrozen(config.limits) && Object.isFrozen(config.listeners[0]!.bind));
  assert.throws(() => {
    (config.limits as { idleTimeout: number }).idleTimeout = 5;
  }, TypeError);
});

test('configFromObject validates and fills defaults like a file, and leaves its input alone', () => {
  const input = {
    listeners: [{ name: 'cli', bind: '127.0.0.1:0', routes: [{ name: 'cli', upstream: 'ws://127.0.0.1:3000' }] }],
    limits: { idleTimeout: '2s' },
  };
  const config = configFromObject(input);
  assert.equal(config.listeners[0]!.routes[0]!.upstream.url, 'ws://127.0.0.1:3000');
  assert.equal(config.limits.idleTimeout, 2_000);
  assert.equal(config.limits.connectTimeout, 10_000);
  assert.ok(Object.isFrozen(config));
  assert.ok(!Object.isFrozen(input) && !Object.isFrozen(input.listeners[0]));
  // Code passes objects where YAML has strings; `${VAR}`s are not expanded.
  assert.deepEqual(configFromObject({ ...input, echo: { bind: { host: '127.0.0.1', port: 0 } } }).echo, {
    bind: { host: '127.0.0.1', port: 0 },
  });
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a ${VAR} in a config built in code stays literal.
  const literal = '${HOME}/x';
  assert.equal(configFromObject({ ...input, log: { file: literal } }).log.file, literal);
  assert.deepEqual(
    failLines(() => configFromObject({ ...input, listeners: [] })),
    ['<command line> listeners: list at least one listener'],
  );
});

test('limits.clientIpv6Prefix: 64 by default; a whole number from 32 to 128', () => {
  const base = { listeners: [{ bind: '127.0.0.1:0', routes: [{ upstream: 'ws://127.0.0.1:3000' }] }] };
  assert.equal(configFromObject(base).limits.clientIpv6Prefix, 64);
  assert.equal(configFromObject({ ...base, limits: { clientIpv6Prefix: 128 } }).limits.clientIpv6Prefix, 128);
  for (const bad of [16, 129, 56.5]) {
    const lines = failLines(() => configFromObject({ ...base, limits: { clientIpv6Prefix: bad } }));
    assert.equal(lines.length, 1, String(bad));
    assert.match(lines[0]!, /^<command line> limits\.clientIpv6Prefix: /, String(bad));
  }
});

test('limits.exemptLoopbackClients: loopback clients are exempt by default; false (or "false") counts them', () => {
  const base = { listeners: [{ bind: '127.0.0.1:0', routes: [{ upstream: 'ws://127.0.0.1:3000' }] }] };
  assert.equal(configFromObject(base).limits.exemptLoopbackClients, true);
  assert.equal(
    configFromObject({ ...base, limits: { exemptLoopbackClients: false } }).limits.exemptLoopbackClients,
    false,
  );
  assert.equal(
    loadConfigText(`${minimal}limits:\n  exemptLoopbackClients: "false"\n`, 'wsgate.yaml', {}).limits
      .exemptLoopbackClients,
    false,
  );
  assert.deepEqual(
    failLines(() => configFromObject({ ...base, limits: { exemptLoopbackClients: 'no' } })),
    ['<command line> limits.exemptLoopbackClients: expected true or false; got "no"'],
  );
});

test('the default config/wsgate.yaml loads and routes /echo to the echo server', async () => {
  const config = await loadConfigFile('config/wsgate.yaml', {});
  assert.equal(config.listeners.length, 2);
  assert.deepEqual(config.listeners[1]!.bind, { host: '127.0.0.1', port: 8888 });
  assert.equal(config.listeners[1]!.forward?.destinations, 'any');
  const web = config.listeners[0]!;
  assert.equal(web.name, 'web');
  assert.deepEqual(web.bind, { host: '127.0.0.1', port: 8080 });
  const echo = web.routes.find((r) => r.name === 'echo');
  assert.ok(echo);
  assert.deepEqual(echo.match, [{ path: '/echo' }]);
  assert.deepEqual(echo.upstream, { name: 'ws://127.0.0.1:9998', url: 'ws://127.0.0.1:9998' });
  assert.deepEqual(config.echo, { bind: { host: '127.0.0.1', port: 9998 } });
  // It shows the defaults, so it must not differ from them.
  const defaults = configFromObject({ listeners: [{ bind: '127.0.0.1:0', routes: [{ upstream: 'ws://a:1' }] }] });
  assert.deepEqual(config.limits, defaults.limits);
  assert.deepEqual(config.log, defaults.log);
  assert.deepEqual(config.shutdown, defaults.shutdown);
  const docker = await loadConfigFile('config/wsgate.yaml', { WSGATE_HOST: '0.0.0.0' });
  assert.deepEqual(docker.listeners[0]!.bind, { host: '0.0.0.0', port: 8080 });
});

test('the example configs load', async () => {
  const config = await loadConfigFile('config/examples/reverse.yaml', {});
  assert.ok(config.listeners[0]!.routes.length >= 3);
  assert.ok(config.upstreams.length >= 2);
});

test('issues from a file name that file', async (t) => {
  const file = join(tempDir(t), 'bad.yaml');
  writeFileSync(file, 'listeners: 5\n');
  await assert.rejects(loadConfigFile(file, {}), (err: unknown) => {
    assert.ok(err instanceof WsgateError);
    assert.equal(err.code, 'WSG_CONFIG_INVALID');
    assert.equal(err.message, `${file}:1:12 listeners: expected a list, got number 5`);
    return true;
  });
});

test('a file over 1 MiB is refused before parsing', async (t) => {
  const file = join(tempDir(t), 'big.yaml');
  // Invalid YAML throughout: had it been parsed, the error would be a different one.
  writeFileSync(file, Buffer.alloc(MAX_CONFIG_BYTES + 1, '['));
  await assert.rejects(loadConfigFile(file, {}), (err: unknown) => {
    assert.ok(err instanceof WsgateError);
    assert.equal(err.code, 'WSG_CONFIG_TOO_LARGE');
    assert.equal(err.message, `config file ${file} is 1048577 bytes; the limit is 1048576 bytes`);
    return true;
  });
  writeFileSync(file, Buffer.concat([Buffer.from(minimal), Buffer.alloc(MAX_CONFIG_BYTES - minimal.length, '#')]));
  assert.equal((await loadConfigFile(file, {})).listeners.length, 1);
});

test('unreadable files are WSG_CONFIG_READ with the reason', async (t) => {
  const dir = tempDir(t);
  const expectRead = async (file: string, detail: RegExp) =>
    assert.rejects(loadConfigFile(file, {}), (err: unknown) => {
      assert.ok(err instanceof WsgateError);
      assert.equal(err.code, 'WSG_CONFIG_READ');
      assert.match(
        err.message,
        new RegExp(`^cannot read config file ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `),
      );
      assert.match(err.message, detail);
      return true;
    });
  await expectRead(join(dir, 'missing.yaml'), /no such file/);
  await expectRead(dir, /it is a directory/);
  const latin1 = join(dir, 'latin1.yaml');
  writeFileSync(latin1, Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a]));
  await expectRead(latin1, /not valid UTF-8/);
});

test('a UTF-8 byte order mark is accepted', () => {
  assert.equal(loadConfigText(`\uFEFF${minimal}`, 'c.yaml', {}).listeners.length, 1);
});
