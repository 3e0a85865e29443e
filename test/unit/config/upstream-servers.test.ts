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
