import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  dueAt,
  FD_RESERVE,
  planProcesses,
  sendsDue,
  settingsFromEnv,
  splitConnections,
} from '../../../scripts/soak/plan.ts';

describe('settingsFromEnv', () => {
  test('defaults: 10,000 connections for 60 s', () => {
    const s = settingsFromEnv({});
    assert.equal(s.conns, 10_000);
    assert.equal(s.seconds, 60);
    assert.equal(s.size, 64);
    assert.equal(s.clients, null);
    assert.equal(s.workers, null);
    assert.equal(s.logFile, null);
    assert.equal(s.keep, false);
  });
  test('reads the variables', () => {
    const s = settingsFromEnv({ SOAK_CONNS: '200', SOAK_SECONDS: '5', SOAK_CLIENTS: '3', SOAK_LOG: 'null' });
    assert.equal(s.conns, 200);
    assert.equal(s.seconds, 5);
    assert.equal(s.clients, 3);
    assert.equal(s.logFile, '/dev/null');
  });
  test('tap frames unless asked; extra environment for wsgate as NAME=value pairs', () => {
    assert.equal(settingsFromEnv({}).tap, 'frames');
    assert.equal(settingsFromEnv({ SOAK_TAP: 'off' }).tap, 'off');
    assert.throws(() => settingsFromEnv({ SOAK_TAP: 'loud' }), /SOAK_TAP/);
    assert.deepEqual(settingsFromEnv({}).wsgateEnv, {});
    assert.deepEqual(settingsFromEnv({ SOAK_WSGATE_ENV: ' MALLOC_ARENA_MAX=2  LD_PRELOAD=/x/y.so ' }).wsgateEnv, {
      MALLOC_ARENA_MAX: '2',
      LD_PRELOAD: '/x/y.so',
    });
    assert.throws(() => settingsFromEnv({ SOAK_WSGATE_ENV: 'oops' }), /SOAK_WSGATE_ENV/);
  });
  test('refuses nonsense', () => {
    assert.throws(() => settingsFromEnv({ SOAK_CONNS: '0' }), /SOAK_CONNS/);
    assert.throws(() => settingsFromEnv({ SOAK_SECONDS: '1.5' }), /SOAK_SECONDS/);
    assert.throws(() => settingsFromEnv({ SOAK_CONNS: 'many' }), /SOAK_CONNS/);
  });
});

describe('planProcesses', () => {
  test('one wsgate process and two clients when the limit is ample', () => {
    const p = planProcesses(10_000, 100_000, { workers: null, clients: null });
    assert.equal(p.workers, 1);
    assert.equal(p.clients, 2);
    assert.equal(p.fds.wsgatePerWorker, 20_000 + FD_RESERVE);
    assert.deepEqual(p.notes, []);
  });
  test('a hard limit of 20,000 cannot hold 10,000 proxied connections in one process: two workers, said so', () => {
    const p = planProcesses(10_000, 20_000, { workers: null, clients: null });
    assert.equal(p.workers, 2);
    assert.equal(p.fds.wsgatePerWorker, 12_500 + FD_RESERVE); // a quarter over the even share: cluster is not exact
    assert.match(p.notes[0]!, /2 workers.*20064 descriptors.*20000/);
  });
  test('workers are planned with room for an uneven spread', () => {
    // 2 × 5000 + 64 would fit 10,100, but a worker may get a quarter more than its share.
    assert.equal(planProcesses(10_000, 10_100, { workers: null, clients: null }).workers, 3);
    assert.equal(
      planProcesses(10_000, 10_100, { workers: 3, clients: null }).fds.wsgatePerWorker,
      2 * 4167 + FD_RESERVE,
    );
  });
  test('clients: two by default, as asked otherwise, never more than the connections', () => {
    assert.equal(planProcesses(10_000, 20_000, { workers: null, clients: 5 }).clients, 5);
    assert.equal(planProcesses(3, 1024, { workers: null, clients: 8 }).clients, 3);
  });
  test('an explicit worker count that does not fit is an error, not a silent change', () => {
    assert.throws(() => planProcesses(10_000, 20_000, { workers: 1, clients: null }), /SOAK_WORKERS/);
  });
  test('one connection needs one client', () => {
    assert.equal(planProcesses(1, 1024, { workers: null, clients: null }).clients, 1);
  });
  test('an echo server that cannot hold them all is an error', () => {
    assert.throws(() => planProcesses(5000, 4096, { workers: 8, clients: 8 }), /echo server/);
  });
});

describe('splitConnections', () => {
  test('even split, remainder to the first', () => {
    assert.deepEqual(splitConnections(10, 3), [4, 3, 3]);
    assert.deepEqual(splitConnections(10_000, 2), [5000, 5000]);
    assert.equal(
      splitConnections(9_999, 4).reduce((a, b) => a + b, 0),
      9_999,
    );
  });
});

describe('send schedule', () => {
  test('each of n connections sends once a second, spread evenly', () => {
    const n = 4;
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((k) => dueAt(k, n)),
      [0, 250, 500, 750, 1000],
    );
  });
  test('sends due grow with time and stop at connections × seconds', () => {
    assert.equal(sendsDue(-1, 100, 60), 0);
    assert.equal(sendsDue(0, 100, 60), 1);
    assert.equal(sendsDue(9.99, 100, 60), 1);
    assert.equal(sendsDue(10, 100, 60), 2);
    assert.equal(sendsDue(1000, 100, 60), 101);
    assert.equal(sendsDue(3_600_000, 100, 60), 6000);
  });
  test('every send is due no later than the time sendsDue says it is', () => {
    for (let k = 0; k < 500; k++) assert.ok(sendsDue(dueAt(k, 37), 37, 60) >= k + 1, `k=${k}`);
  });
});
