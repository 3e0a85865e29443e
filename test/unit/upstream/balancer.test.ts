// Picking a server of an upstream with several: least connections with ties in turn, round robin, a failed server
// skipped for failTimeout and taken back after it, every server tried when all are skipped, and an upgrade's
// failover over the untried ones (dialFromPool), with the connection counted until its socket closes.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type { ServerPool } from '../../../src/config/resolve.ts';
import { WsgateError } from '../../../src/errors.ts';
import { dialFromPool, UpstreamBalancer } from '../../../src/upstream/balancer.ts';

const A = 'ws://127.0.0.1:1001';
const B = 'ws://127.0.0.1:1002';
const C = 'ws://127.0.0.1:1003';
const pool = (balance: ServerPool['balance'] = 'least-connections'): ServerPool => ({
  servers: [A, B, C],
  balance,
  failTimeout: 10_000,
});

test('round robin takes each server in turn', () => {
  const b = new UpstreamBalancer();
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map(() => b.pick('u', pool('round-robin'), 0)),
    [A, B, C, A, B, C],
  );
});

test('least connections: the server with the fewest open ones, ties in turn', () => {
  const b = new UpstreamBalancer();
  const p = pool();
  const opened: string[] = [];
  for (let i = 0; i < 6; i++) {
    const s = b.pick('u', p, 0);
    b.opened('u', s);
    opened.push(s);
  }
  assert.deepEqual(
    [A, B, C].map((s) => opened.filter((o) => o === s).length),
    [2, 2, 2],
  );
  // B's connections end: the next two go to B.
  b.closed('u', B);
  b.closed('u', B);
  assert.equal(b.pick('u', p, 0), B);
  b.opened('u', B);
  assert.equal(b.pick('u', p, 0), B);
  // Another upstream name counts on its own.
  assert.equal(new Set([0, 1, 2].map(() => b.pick('other', p, 0))).size, 3);
});

test('a failed server is skipped for failTimeout, then taken again; all skipped means all are tried', () => {
  const b = new UpstreamBalancer();
  const p = pool('round-robin');
  b.failed('u', p, B, 1000);
  assert.equal(b.isDown('u', B, 1000), true);
  const during = [0, 1, 2, 3].map(() => b.pick('u', p, 5000));
  assert.ok(!during.includes(B), during.join());
  assert.equal(b.isDown('u', B, 11_000), false);
  const after = [0, 1, 2].map(() => b.pick('u', p, 11_000));
  assert.ok(after.includes(B), after.join());
  b.failed('u', p, A, 20_000);
  b.failed('u', p, B, 20_000);
  b.failed('u', p, C, 20_000);
  assert.equal(new Set([0, 1, 2].map(() => b.pick('u', p, 21_000))).size, 3, 'none left up: all are tried');
  // Tried servers are left out while others remain.
  assert.equal(b.pick('u', p, 0, new Set([A, B])), C);
});

class FakeSocket extends EventEmitter {}

test('dialFromPool moves on to the next server when one refuses, and counts the connection it made', async () => {
  const b = new UpstreamBalancer();
  const p = pool('round-robin');
  const target = { name: 'u', url: new URL(A) };
  const dialled: string[] = [];
  const failed: [string, boolean][] = [];
  const socket = await dialFromPool(
    b,
    p,
    target,
    async () => {
      dialled.push(target.url.href);
      if (target.url.href !== new URL(C).href) throw new WsgateError('WSG_UPSTREAM_REFUSED', { upstream: 'u' });
      return new FakeSocket();
    },
    (server, _err, next) => failed.push([server, next]),
  );
  // Each server at most once, C last (the only one that answers); every refusal said, with more to try.
  assert.equal(new Set(dialled).size, dialled.length);
  assert.equal(dialled.at(-1), `${C}/`);
  assert.deepEqual(
    failed,
    dialled.slice(0, -1).map((url) => [url.slice(0, -1), true]),
  );
  assert.equal(target.url.href, `${C}/`);
  // C holds one connection until its socket closes: a server without any is picked before it.
  const D = 'ws://127.0.0.1:1004';
  const pair: ServerPool = { servers: [C, D], balance: 'least-connections', failTimeout: 1 };
  assert.deepEqual(
    [0, 1].map(() => b.pick('u', pair, 0)),
    [D, D],
  );
  socket.emit('close');
  assert.ok([0, 1].map(() => b.pick('u', pair, 0)).includes(C), 'C is free again');
  for (const [server] of failed) assert.equal(b.isDown('u', server, Date.now()), true);

  // Every server refuses: the last failure is thrown. Another kind of error is not a reason to try elsewhere.
  const none = new UpstreamBalancer();
  await assert.rejects(
    dialFromPool(
      none,
      p,
      { name: 'u', url: new URL(A) },
      async () => {
        throw new WsgateError('WSG_UPSTREAM_TIMEOUT', { upstream: 'u', timeout: '1s' });
      },
      () => {},
    ),
    { code: 'WSG_UPSTREAM_TIMEOUT' },
  );
  let calls = 0;
  await assert.rejects(
    dialFromPool(
      new UpstreamBalancer(),
      p,
      { name: 'u', url: new URL(A) },
      async () => {
        calls++;
        throw new WsgateError('WSG_UPSTREAM_CERT', { upstream: 'u', detail: 'x' });
      },
      () => {},
    ),
    { code: 'WSG_UPSTREAM_CERT' },
  );
  assert.equal(calls, 1);
});

test('ip-hash keeps a client on its server; a skipped server moves only its own clients', () => {
  const b = new UpstreamBalancer();
  const p = pool('ip-hash');
  const clients = Array.from({ length: 300 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
  const first = new Map(clients.map((c) => [c, b.pick('u', p, 0, undefined, c)]));
  for (const c of clients) assert.equal(b.pick('u', p, 0, undefined, c), first.get(c), 'the same server every time');
  const counts = [A, B, C].map((s) => [...first.values()].filter((v) => v === s).length);
  assert.ok(
    counts.every((n) => n > 60),
    `spread over all three: ${counts.join('/')}`,
  );
  b.failed('u', p, B, 0);
  for (const c of clients) {
    const now = b.pick('u', p, 1, undefined, c);
    if (first.get(c) === B) assert.notEqual(now, B);
    else assert.equal(now, first.get(c), 'a client of A or C keeps its server when B is skipped');
  }
  // Without a client address, ip-hash takes the servers in turn.
  assert.equal(new Set([0, 1, 2].map(() => b.pick('u', pool('ip-hash'), 100_000))).size, 3);
});

test('an active check takes a server out until one passes; each change is reported once; a reload clears them', () => {
  const b = new UpstreamBalancer();
  const p = pool('round-robin');
  assert.equal(b.checked('u', B, false), 'down');
  assert.equal(b.checked('u', B, false), undefined, 'no change, nothing to say');
  assert.ok(![0, 1, 2, 3].map(() => b.pick('u', p, 0)).includes(B));
  assert.equal(b.snapshot(0).find((s) => s.server === B)?.skipped, true);
  assert.equal(b.checked('u', B, true), 'up');
  assert.ok([0, 1, 2].map(() => b.pick('u', p, 0)).includes(B));
  b.checked('u', C, false);
  b.clearChecks();
  assert.equal(b.isDown('u', C, 0), false);
});

test('weights: smooth weighted round robin interleaves, least connections counts per unit of weight', () => {
  const weighted = (balance: ServerPool['balance']): ServerPool => ({
    ...pool(balance),
    weights: { [A]: 5, [B]: 1, [C]: 1 },
  });
  const b = new UpstreamBalancer();
  const turns = Array.from({ length: 14 }, () => b.pick('u', weighted('round-robin'), 0));
  // nginx's sequence for 5, 1, 1: the heavy server's picks spread out, not five in a row.
  assert.deepEqual(turns.slice(0, 7), [A, A, B, A, C, A, A]);
  assert.deepEqual(turns.slice(7), turns.slice(0, 7));

  const lc = new UpstreamBalancer();
  const p = weighted('least-connections');
  for (let i = 0; i < 70; i++) lc.opened('u', lc.pick('u', p, 0));
  const open = Object.fromEntries(lc.snapshot(0).map((s) => [s.server, s.open]));
  assert.deepEqual(open, { [A]: 50, [B]: 10, [C]: 10 });
});

test('ip-hash follows the weights: a server of weight 3 keeps about three times the clients', () => {
  const b = new UpstreamBalancer();
  const p: ServerPool = { ...pool('ip-hash'), weights: { [A]: 3, [B]: 1, [C]: 1 } };
  const counts = new Map<string, number>();
  for (let i = 0; i < 5000; i++) {
    const s = b.pick('u', p, 0, undefined, `10.0.${i >> 8}.${i & 255}`);
    counts.set(s, (counts.get(s) ?? 0) + 1);
  }
  const share = (s: string) => (counts.get(s) ?? 0) / 5000;
  assert.ok(Math.abs(share(A) - 0.6) < 0.04, `A ${share(A)}`);
  assert.ok(Math.abs(share(B) - 0.2) < 0.04, `B ${share(B)}`);
  // Equal weights give what unweighted hashing gave: the same client, the same server.
  const plain = pool('ip-hash');
  const explicit: ServerPool = { ...plain, weights: { [A]: 2, [B]: 2, [C]: 2 } };
  for (let i = 0; i < 50; i++) {
    const client = `192.168.1.${i}`;
    assert.equal(b.pick('u', explicit, 0, undefined, client), b.pick('u', plain, 0, undefined, client));
  }
});

test('backups take connections only while every other server is skipped, and the others come first again', () => {
  const b = new UpstreamBalancer();
  for (const balance of ['least-connections', 'round-robin', 'ip-hash'] as const) {
    const p: ServerPool = { ...pool(balance), backups: [C] };
    const picks = new Set(Array.from({ length: 12 }, (_, i) => b.pick(balance, p, 0, undefined, `10.0.0.${i}`)));
    assert.deepEqual([...picks].toSorted(), [A, B], balance);
    b.failed(balance, p, A, 0);
    b.failed(balance, p, B, 0);
    assert.equal(b.pick(balance, p, 1, undefined, '10.0.0.1'), C, `${balance}: all others skipped`);
    // An upgrade's failover reaches the backup once the others are tried.
    assert.equal(b.pick(balance, p, 20_000, new Set([A, B]), '10.0.0.1'), C);
    // Every server skipped (the backup too): the others are tried again first.
    b.failed(balance, p, C, 0);
    assert.notEqual(b.pick(balance, p, 1, undefined, '10.0.0.1'), C);
  }
});

test('health thresholds: fails checks in a row take a server out, passes in a row bring it back', () => {
  const b = new UpstreamBalancer();
  const need = { fails: 3, passes: 2 };
  const results = [false, false, true, false, false, false, true, false, true, true, true];
  const changes = results.map((ok) => b.checked('u', A, ok, need));
  assert.deepEqual(changes, [
    undefined,
    undefined,
    undefined, // a pass breaks the run of failures
    undefined,
    undefined,
    'down',
    undefined,
    undefined, // a failure breaks the run of passes
    undefined,
    'up',
    undefined,
  ]);
  assert.equal(b.isDown('u', A, 0), false);
});

test('a drained server takes no new connection, skipped or not; every server drained is WSG_UPSTREAM_DRAINED', () => {
  const b = new UpstreamBalancer();
  for (const balance of ['round-robin', 'least-connections', 'ip-hash'] as const) {
    const p = pool(balance);
    assert.equal(b.setDrained('u', B, true), true);
    assert.equal(b.setDrained('u', B, true), false, 'no change the second time');
    const picks = Array.from({ length: 12 }, (_, i) => b.pick('u', p, 0, new Set(), `10.0.0.${i}`));
    assert.ok(!picks.includes(B), `${balance}: ${picks.join()}`);
    assert.equal(b.untried('u', p, new Set([A])), 1, 'C is left; B does not count');
    // All others skipped: the drained one still gets nothing (skipped servers are tried, drained ones never).
    b.failed('u', p, A, 0);
    b.failed('u', p, C, 0);
    assert.ok([A, C].includes(b.pick('u', p, 1)));
    assert.equal(b.setDrained('u', B, false), true);
  }
  const p = pool('round-robin');
  for (const s of [A, B, C]) b.setDrained('u', s, true);
  assert.throws(
    () => b.pick('u', p, 0),
    (err: unknown) => err instanceof WsgateError && err.code === 'WSG_UPSTREAM_DRAINED' && err.status === 503,
  );
  assert.deepEqual(
    b
      .snapshot(0)
      .map((s) => [s.server, s.drained])
      .toSorted(),
    [
      [A, true],
      [B, true],
      [C, true],
    ],
  );
  // A worker takes its primary's list: exactly these, the rest ready.
  b.syncDrained([['u', C]]);
  assert.deepEqual(b.drainedServers(), [['u', C]]);
  assert.equal(b.pick('u', p, 0, new Set([A])), B);
});

test('dialFromPool does not fail over to a drained server', async () => {
  const b = new UpstreamBalancer();
  const p = pool('round-robin');
  b.setDrained('u', C, true);
  const dialed: string[] = [];
  const target = { name: 'u', url: new URL(A) };
  const refused = new WsgateError('WSG_UPSTREAM_REFUSED', { upstream: 'u' });
  const failed: [string, boolean][] = [];
  await assert.rejects(
    dialFromPool(
      b,
      p,
      target,
      async () => {
        dialed.push(target.url.href.replace(/\/$/, ''));
        throw refused;
      },
      (server, _err, next) => failed.push([server, next]),
    ),
    refused,
  );
  assert.deepEqual(dialed.toSorted(), [A, B]);
  assert.deepEqual(
    failed.map(([, next]) => next),
    [true, false],
  );
});
