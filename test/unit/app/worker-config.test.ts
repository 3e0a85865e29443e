// workerConfig: with --workers N, the listener's handshake rate, a client's, and the listener's maxConnections are
// the whole's, so each worker runs with its share (rounded up, at least 1); 0 stays off, and one worker runs the
// config as it is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { workerConfig } from '../../../src/app/worker-pool.ts';
import { configFromObject } from '../../../src/config/load.ts';

const config = (limits: Record<string, unknown>) =>
  configFromObject(
    { listeners: [{ name: 'web', bind: '127.0.0.1:0', routes: [{ upstream: 'ws://127.0.0.1:1' }] }], limits },
    '<test>',
  );

test('each worker takes its share of the listener and client handshake rates', () => {
  const both = config({ maxHandshakesPerSecond: 10, maxHandshakesPerClientPerSecond: 5 });
  const shared = workerConfig(both, 4).limits;
  assert.deepEqual([shared.maxHandshakesPerSecond, shared.maxHandshakesPerClientPerSecond], [3, 2]);
  const low = workerConfig(config({ maxHandshakesPerClientPerSecond: 1 }), 8).limits;
  assert.deepEqual(
    [low.maxHandshakesPerSecond, low.maxHandshakesPerClientPerSecond],
    [0, 1],
    '0 stays off; 1 at least',
  );
  assert.equal(workerConfig(both, 1), both);
});

test('each worker takes its share of limits.maxConnections; maxConnectionsPerClient stays whole', () => {
  const limits = workerConfig(config({ maxConnections: 10_001, maxConnectionsPerClient: 4 }), 4).limits;
  assert.deepEqual([limits.maxConnections, limits.maxConnectionsPerClient], [2501, 4]);
  assert.equal(workerConfig(config({}), 3).limits.maxConnections, 3334, 'the default 10,000 too');
});
