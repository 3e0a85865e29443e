// The config of forward listeners and upstream proxies: what is accepted, the defaults that depend on the bind
// address, and messages for what is not; plus the purity of the modules the schema and the policy are built on.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configFromObject, loadConfigFile, loadConfigText } from '../../../src/config/load.ts';
import type { WsgateError } from '../../../src/errors.ts';

const issues = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    return (err as WsgateError).message.split('\n');
  }
  assert.fail('expected a config error');
};

test('a forward listener on loopback: permissive defaults; users, patterns and ports resolved', () => {
  const config = configFromObject({
    listeners: [
      {
        name: 'proxy',
        bind: '127.0.0.1:8888',
        tap: 'frames',
        forward: {
          allowHosts: ['*.example.test'],
          allowPorts: [443, '8000-8100'],
          auth: { users: [{ name: 'dev', password: 'x' }] },
          via: 'corp',
        },
      },
    ],
    proxies: [{ name: 'corp', url: 'http://u:p@proxy.corp:3128', noProxy: '.internal, 10.0.0.0/8' }],
  });
  const forward = config.listeners[0]!.forward!;
  assert.deepEqual(forward, {
    allowHosts: ['*.example.test'],
    denyHosts: [],
    allowPorts: [
      { from: 443, to: 443 },
      { from: 8000, to: 8100 },
    ],
    destinations: 'any',
    auth: { realm: 'wsgate', users: [{ name: 'dev', password: 'x' }] },
    via: 'corp',
    tap: 'frames',
    intercept: [],
    upstreamCa: undefined,
    profile: undefined,
  });
  assert.deepEqual(config.listeners[0]!.routes, []);
  assert.deepEqual(config.proxies, [
    { name: 'corp', url: 'http://u:p@proxy.corp:3128', noProxy: ['.internal', '10.0.0.0/8'] },
  ]);
  assert.equal(config.limits.tunnelIdleTimeout, 3_600_000);
});

test('mistakes are reported with their path', () => {
  const lines = issues(() =>
    configFromObject({
      listeners: [
        { name: 'both', bind: '127.0.0.1:1', routes: [{ upstream: 'ws://a:1' }], forward: {} },
        { name: 'neither', bind: '127.0.0.1:2' },
        {
          name: 'bad',
          bind: '127.0.0.1:3',
          forward: {
            allowHosts: ['http://x.test'],
            allowPorts: [0, '9-1'],
            denyHosts: ['a.test:80'],
            via: 'corpp',
            auth: { users: [{ name: 'a:b', password: '' }] },
            intercept: ['https://x.test', '*.test'],
            upstreamCa: '',
          },
        },
      ],
      upstreams: [{ name: 'u', url: 'ws://u:1', via: 'nowhere' }],
      proxies: [
        { name: 'corp', url: 'socks5://h:1' },
        { name: 'direct', url: 'http://h:1', noProxy: ['ok.test', 'http://bad'] },
      ],
    }),
  );
  const expect = [
    /listeners\[0\]\.forward: a listener has either routes \(reverse proxy\) or forward \(forward proxy\), not both/,
    /listeners\[1\]\.routes: required key is missing: a listener needs routes \(reverse proxy\) or forward/,
    /listeners\[2\]\.forward\.allowHosts\[0\]: invalid host pattern "http:\/\/x\.test": a host, not a URL/,
    /listeners\[2\]\.forward\.allowPorts\[0\]: invalid port 0/,
    /listeners\[2\]\.forward\.allowPorts\[1\]: invalid port "9-1"/,
    /listeners\[2\]\.forward\.denyHosts\[0\]: .*ports go in allowPorts/,
    /listeners\[2\]\.forward\.via: unknown proxy "corpp"; did you mean "corp"\?/,
    /listeners\[2\]\.forward\.auth\.users\[0\]\.name: a user name has no ":"/,
    /listeners\[2\]\.forward\.auth\.users\[0\]\.password: must not be empty/,
    /listeners\[2\]\.forward\.intercept\[0\]: invalid host pattern "https:\/\/x\.test": a host, not a URL/,
    /listeners\[2\]\.forward\.upstreamCa: must not be empty/,
    /upstreams\[0\]\.via: unknown proxy "nowhere"/,
    /proxies\[0\]\.url: socks5:\/\/ proxies are not supported/,
    /proxies\[1\]\.name: "direct" is reserved/,
    /proxies\[1\]\.noProxy: invalid entries "http:\/\/bad"/,
  ];
  for (const re of expect)
    assert.ok(
      lines.some((l) => re.test(l)),
      `missing ${re}\n${lines.join('\n')}`,
    );
});

test('beyond loopback: refused without auth or allowHosts; with them, locked-down defaults', () => {
  for (const host of ['0.0.0.0', '192.168.1.5', '::']) {
    const lines = issues(() => configFromObject({ listeners: [{ bind: { host, port: 3128 }, forward: {} }] }));
    assert.match(lines.join('\n'), /beyond loopback, with neither auth nor allowHosts: anyone who can reach it/);
  }
  for (const host of ['127.0.0.1', '::1', 'localhost', '127.0.0.2']) {
    const config = configFromObject({ listeners: [{ bind: { host, port: 0 }, forward: {} }] });
    assert.equal(config.listeners[0]!.forward?.destinations, 'any', host);
    assert.equal(config.listeners[0]!.forward?.allowPorts, undefined, host);
  }
  const exposed = configFromObject({ listeners: [{ bind: '0.0.0.0:3128', forward: { allowHosts: ['.corp.test'] } }] });
  assert.equal(exposed.listeners[0]!.forward?.destinations, 'public');
  assert.equal(exposed.listeners[0]!.forward?.allowPorts?.length, 2);
  const relaxed = configFromObject({
    listeners: [{ bind: '0.0.0.0:3128', forward: { allowHosts: ['*'], destinations: 'any', allowPorts: ['1-65535'] } }],
  });
  assert.equal(relaxed.listeners[0]!.forward?.destinations, 'any');
});

test('passwords and proxy URLs may come from the environment', () => {
  const text = `listeners:
  - bind: 127.0.0.1:0
    forward:
      auth: { users: [{ name: dev, password: "\${DEV_PASSWORD}" }] }
      via: corp
proxies:
  - { name: corp, url: "\${HTTPS_PROXY}", noProxy: "\${NO_PROXY:-}" }
`;
  const config = loadConfigText(text, 'f.yaml', { DEV_PASSWORD: 's3cret', HTTPS_PROXY: 'http://c:1' });
  assert.equal(config.listeners[0]!.forward?.auth?.users[0]?.password, 's3cret');
  assert.deepEqual(config.proxies[0], { name: 'corp', url: 'http://c:1', noProxy: [] });
});

test('the example config/examples/forward.yaml loads', async () => {
  const config = await loadConfigFile('config/examples/forward.yaml', {});
  const names = config.listeners.map((l) => [l.name, l.forward !== undefined]);
  assert.deepEqual(names, [
    ['proxy', true],
    ['team', true],
    ['web', false],
  ]);
  assert.equal(config.upstreams[0]!.via, 'corp');
});

test('the pure forward and upstream modules import no sockets, files or DNS', () => {
  const pure = [
    'forward/target.ts',
    'forward/policy.ts',
    'forward/sniff.ts',
    'forward/auth.ts',
    'forward/headers.ts',
    'net/ip.ts',
    'net/no-proxy.ts',
    'net/proxy-url.ts',
    'upstream/proxy-config.ts',
  ];
  for (const file of pure) {
    const source = readFileSync(new URL(`../../../src/${file}`, import.meta.url), 'utf8');
    const imports = [...source.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1] ?? '');
    for (const spec of imports) {
      assert.doesNotMatch(
        spec,
        /^(node:)?(net|http|https|http2|tls|dns|fs|dgram|child_process)(\/|$)/,
        `${file}: ${spec}`,
      );
      assert.ok(!spec.startsWith('undici'), `${file}: ${spec}`);
    }
    assert.doesNotMatch(source, /\b(setTimeout|setInterval|process\.env)\b/, file);
  }
});
