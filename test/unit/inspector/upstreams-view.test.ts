// GET /api/upstreams's answer from the config's pools, each process's counts and the drained list: counts summed
// over workers, skipped where any worker skips, health only where checks run, weights and backups as configured.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServerPool } from '../../../src/config/resolve.ts';
import { mergeSnapshots, upstreamViews } from '../../../src/inspector/upstreams-api.ts';
import type { ServerSnapshot } from '../../../src/upstream/balancer.ts';

const A = 'ws://127.0.0.1:1001';
const B = 'ws://127.0.0.1:1002';
const snap = (server: string, fields: Partial<ServerSnapshot>): ServerSnapshot => ({
  upstream: 'app',
  server,
  open: 0,
  failures: 0,
  skipped: false,
  skippedForMs: 0,
  checkedDown: false,
  drained: false,
  ...fields,
});

test('the view sums workers, marks drained and skipped servers, and shows health only with checks', () => {
  const pool: ServerPool = {
    servers: [A, B],
    weights: { [A]: 3, [B]: 1 },
    backups: [B],
    balance: 'least-connections',
    failTimeout: 10_000,
    healthCheck: { interval: 5000, timeout: 2000, path: '/health', fails: 2, passes: 1 },
  };
  const counts = mergeSnapshots([
    [snap(A, { open: 2, failures: 1, spares: 1 }), snap(B, { skipped: true, skippedForMs: 4000, checkedDown: true })],
    [snap(A, { open: 3, skipped: true, skippedForMs: 9000, spares: 1 })],
  ]);
  const [view] = upstreamViews([{ name: 'app', pool }], counts, [['app', A]]);
  assert.deepEqual(view, {
    name: 'app',
    balance: 'least-connections',
    failTimeout: '10s',
    healthCheck: { interval: '5s', path: '/health', fails: 2, passes: 1 },
    ready: 1,
    servers: [
      {
        index: 0,
        url: A,
        weight: 3,
        backup: false,
        state: 'drain',
        health: 'up',
        skipped: true,
        skippedForMs: 9000,
        open: 5,
        failures: 1,
        spares: 2,
      },
      {
        index: 1,
        url: B,
        weight: 1,
        backup: true,
        state: 'ready',
        health: 'down',
        skipped: true,
        skippedForMs: 4000,
        open: 0,
        failures: 0,
        spares: 0,
      },
    ],
  });
  const [unchecked] = upstreamViews([{ name: 'app', pool: { ...pool, healthCheck: undefined } }], new Map(), []);
  assert.deepEqual(
    unchecked?.servers.map((s) => [s.health, s.state, s.open]),
    [
      ['unchecked', 'ready', 0],
      ['unchecked', 'ready', 0],
    ],
  );
  assert.equal(unchecked?.healthCheck, undefined);
  assert.equal('proxyProtocol' in unchecked!, false);
  const [headed] = upstreamViews([{ name: 'app', pool, proxyProtocol: 'v2' }], new Map(), []);
  assert.equal(headed?.proxyProtocol, 'v2');
});
