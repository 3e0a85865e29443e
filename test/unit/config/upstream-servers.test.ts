// upstreams[].servers: several servers behind one name, resolved into the route's pool; url or servers, never both
// or neither; servers that differ in more than host and port (TLS, path) or repeat are refused with their path.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configFromObject } from '../../../src/config/load.ts';
import { failLines } from './helpers.ts';

const withUpstream = (upstream: Record<string, unknown>) => ({
  listeners: [{ name: 'web', bind: '127.0.0.1:0', routes: [{ upstream: 'chat' }] }],
  upstreams: [{ name: 'chat', ...upstream }],
});

test('servers become the route pool: least-connections and 10 s by default; one url has no pool', () => {
  const config = configFromObject(withUpstream({ servers: ['ws://10.0.0.1:9000/ws', 'ws://10.0.0.2:9000/ws'] }));
  assert.deepEqual(config.listeners[0]!.routes[0]!.upstream, {
    name: 'chat',
    url: 'ws://10.0.0.1:9000/ws',
    pool: {
      servers: ['ws://10.0.0.1:9000/ws', 'ws://10.0.0.2:9000/ws'],
      balance: 'least-connections',
      failTimeout: 10_000,
    },
  });
  const rr = configFromObject(
    withUpstream({ servers: ['http://a:1', 'http://b:1'], balance: 'round-robin', failTimeout: '2s' }),
  );
  assert.deepEqual(rr.listeners[0]!.routes[0]!.upstream.pool, {
    servers: ['http://a:1', 'http://b:1'],
    balance: 'round-robin',
    failTimeout: 2000,
  });
  const one = configFromObject(withUpstream({ url: 'ws://10.0.0.1:9000' }));
  assert.deepEqual(one.listeners[0]!.routes[0]!.upstream, { name: 'chat', url: 'ws://10.0.0.1:9000' });
  const single = configFromObject(withUpstream({ servers: ['ws://10.0.0.1:9000'] }));
  assert.equal(single.listeners[0]!.routes[0]!.upstream.pool, undefined, 'one server is one url');
});

test('url or servers, exactly one; servers differ in host and port only', () => {
  assert.deepEqual(
    failLines(() => configFromObject(withUpstream({ url: 'ws://a:1', servers: ['ws://b:1'] }))),
    ['<command line> upstreams[0].servers: give url or servers, not both'],
  );
  assert.deepEqual(
    failLines(() => configFromObject(withUpstream({}))),
    ['<command line> upstreams[0]: required key is missing: an upstream needs url (one server) or servers (several)'],
  );
  assert.deepEqual(
    failLines(() => configFromObject(withUpstream({ servers: [] }))),
    ['<command line> upstreams[0].servers: must name at least one server'],
  );
  assert.deepEqual(
    failLines(() =>
      configFromObject(withUpstream({ servers: ['ws://a:1/x', 'wss://b:1/x', 'ws://c:1/y', 'ws://a:1/x'] })),
    ),
    [
      '<command line> upstreams[0].servers[1]: wss://b:1/x and ws://a:1/x: all servers use TLS (wss://, https://) or none does',
      '<command line> upstreams[0].servers[2]: ws://c:1/y has another path than ws://a:1/x: servers differ in host and port only',
      '<command line> upstreams[0].servers[3]: a:1 is listed twice',
    ],
  );
});

test('a server may be { url, weight, backup }: weights and backups reach the pool only when some server has one', () => {
  const config = configFromObject(
    withUpstream({
      servers: [{ url: 'ws://a:1', weight: 3 }, 'ws://b:1', { url: 'ws://c:1', backup: true }],
      healthCheck: { interval: '5s', fails: 3, passes: 2 },
    }),
  );
  assert.deepEqual(config.listeners[0]!.routes[0]!.upstream.pool, {
    servers: ['ws://a:1', 'ws://b:1', 'ws://c:1'],
    weights: { 'ws://a:1': 3, 'ws://b:1': 1, 'ws://c:1': 1 },
    backups: ['ws://c:1'],
    balance: 'least-connections',
    failTimeout: 10_000,
    healthCheck: { interval: 5000, timeout: 2000, fails: 3, passes: 2 },
  });
  const plain = configFromObject(withUpstream({ servers: [{ url: 'ws://a:1' }, { url: 'ws://b:1', weight: 1 }] }));
  assert.deepEqual(plain.listeners[0]!.routes[0]!.upstream.pool, {
    servers: ['ws://a:1', 'ws://b:1'],
    balance: 'least-connections',
    failTimeout: 10_000,
  });
  const checked = configFromObject(withUpstream({ servers: ['ws://a:1', 'ws://b:1'], healthCheck: {} }));
  assert.deepEqual(checked.upstreams[0]!.healthCheck, { interval: 10_000, timeout: 2000, fails: 1, passes: 1 });
});

test('a bad server entry says which and why', () => {
  const fail = (servers: unknown[]) => failLines(() => configFromObject(withUpstream({ servers })));
  assert.deepEqual(fail(['ws://a:1', { url: 'ws://b:1', weight: 0 }]), [
    '<command line> upstreams[0].servers[1]: weight is a whole number from 1 to 1000; got 0',
  ]);
  assert.deepEqual(fail([{ url: 'ws://a:1', wieght: 2 }, 'ws://b:1']), [
    '<command line> upstreams[0].servers[0]: unknown key "wieght" in a server (keys: url, weight, backup)',
  ]);
  assert.deepEqual(fail([{ weight: 2 }, 'ws://b:1']), [
    '<command line> upstreams[0].servers[0]: a server needs its url, e.g. { url: ws://10.0.0.11:9000 }',
  ]);
  assert.deepEqual(fail([{ url: 'ws://a:1', backup: 'yes' }, 'ws://b:1']), [
    '<command line> upstreams[0].servers[0]: backup is true or false; got "yes"',
  ]);
  assert.deepEqual(
    fail([
      { url: 'ws://a:1', backup: true },
      { url: 'ws://b:1', backup: true },
    ]),
    [
      '<command line> upstreams[0].servers: every server is a backup: at least one must take connections while all are up',
    ],
  );
  assert.equal(fail(['ftp://a:1', 'ws://b:1']).length, 1);
  assert.match(fail(['ftp://a:1', 'ws://b:1'])[0]!, /^<command line> upstreams\[0\]\.servers\[0\]: /);
  // The checks across servers read the object form too.
  assert.deepEqual(fail([{ url: 'ws://a:1/x' }, { url: 'ws://b:1/y', weight: 2 }]), [
    '<command line> upstreams[0].servers[1]: ws://b:1/y has another path than ws://a:1/x: servers differ in host and port only',
  ]);
  assert.deepEqual(
    failLines(() =>
      configFromObject(withUpstream({ servers: ['ws://a:1', 'ws://b:1'], healthCheck: { fails: 0, passes: 1.5 } })),
    ),
    [
      '<command line> upstreams[0].healthCheck.fails: must be 1 or more',
      '<command line> upstreams[0].healthCheck.passes: expected an integer, got number 1.5',
    ],
  );
});

test('proxyProtocol: v1 or v2 reaches the route upstream, with or without servers; anything else is refused', () => {
  const one = configFromObject(withUpstream({ url: 'ws://10.0.0.1:9000', proxyProtocol: 'v2' }));
  assert.deepEqual(one.listeners[0]!.routes[0]!.upstream, {
    name: 'chat',
    url: 'ws://10.0.0.1:9000',
    proxyProtocol: 'v2',
  });
  const pool = configFromObject(withUpstream({ servers: ['http://a:1', 'http://b:1'], proxyProtocol: 'v1' }));
  assert.equal(pool.listeners[0]!.routes[0]!.upstream.proxyProtocol, 'v1');
  assert.equal(pool.upstreams[0]!.proxyProtocol, 'v1');
  const lines = failLines(() => configFromObject(withUpstream({ url: 'ws://a:1', proxyProtocol: true })));
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^<command line> upstreams\[0\]\.proxyProtocol: .*"v1".*"v2"/);
});

test('preconnect: 2 s by default (absent from the route), another duration or 0 reaches it; over 30 s is refused', () => {
  const routeUpstream = (extra: Record<string, unknown>) =>
    configFromObject(withUpstream({ url: 'ws://10.0.0.1:9000', ...extra })).listeners[0]!.routes[0]!.upstream;
  assert.equal(routeUpstream({}).preconnect, undefined);
  assert.equal(routeUpstream({ preconnect: '2s' }).preconnect, undefined);
  assert.equal(routeUpstream({ preconnect: '500ms' }).preconnect, 500);
  assert.equal(routeUpstream({ preconnect: 0 }).preconnect, 0);
  assert.equal(
    configFromObject(withUpstream({ servers: ['ws://a:1', 'ws://b:1'], preconnect: '1s' })).listeners[0]!.routes[0]!
      .upstream.preconnect,
    1000,
  );
  assert.deepEqual(
    failLines(() => configFromObject(withUpstream({ url: 'ws://a:1', preconnect: '1m' }))),
    [
      '<command line> upstreams[0].preconnect: must be 30s or less (servers close a connection that sends nothing; 0 turns spares off)',
    ],
  );
  assert.deepEqual(
    failLines(() => configFromObject(withUpstream({ url: 'ws://a:1', preconnect: true }))),
    [
      '<command line> upstreams[0].preconnect: expected a number and a unit (ms, s, m or h), e.g. "500ms", "30s", "5m", or 0; got true',
    ],
  );
});
