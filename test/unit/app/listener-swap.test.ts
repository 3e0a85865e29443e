// The all-or-nothing listener swap of a reload, with real TCP servers on 127.0.0.1: what a failed bind undoes and
// brings back, including the race where an address a handover freed is taken before the new listener binds it.
import assert from 'node:assert/strict';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import { planSwap, runSwap, type Started } from '../../../src/app/listener-swap.ts';

type Spec = { name: string; bind: { host: string; port: number } };
type Listener = { name: string; server: net.Server; close(graceMs: number): Promise<void> };

async function listen(t: TestContext, name: string, port: number): Promise<Started<Listener>> {
  const server = net.createServer((s) => s.end());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const close = () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
  t.after(close);
  const address = { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
  return { listener: { name, server, close }, address };
}

test('a handover whose address was taken meanwhile starts nothing new and brings the old listener back', async (t) => {
  const old = await listen(t, 'old', 0);
  const kept = await listen(t, 'kept', 0);
  const current = new Map([
    ['old', old.listener],
    ['kept', kept.listener],
  ]);
  const addressOf = (l: Listener) => (l === old.listener ? old.address : kept.address);
  const next: Spec[] = [
    { name: 'kept', bind: kept.address },
    { name: 'fresh', bind: { host: '127.0.0.1', port: 0 } },
    { name: 'renamed', bind: old.address },
  ];
  const plan = planSwap(current, addressOf, next, (l, s) => l.name === s.name);
  assert.deepEqual(
    {
      kept: plan.kept.map((k) => k.spec.name),
      fresh: plan.fresh.map((s) => s.name),
      handover: plan.handover.map((s) => s.name),
      retired: plan.retired.map((l) => l.name),
    },
    { kept: ['kept'], fresh: ['fresh'], handover: ['renamed'], retired: ['old'] },
  );

  let rogue: Started<Listener> | undefined;
  const started: Started<Listener>[] = [];
  const result = await runSwap(plan, addressOf, {
    start: async (spec) => {
      // Another process takes the port between the old listener's close and the new one's bind.
      if (spec.name === 'renamed') rogue = await listen(t, 'rogue', spec.bind.port);
      const s = await listen(t, spec.name, spec.bind.port);
      started.push(s);
      return s;
    },
    retire: (l) => l.close(0),
    restore: async (l) => {
      await rogue?.listener.close(0);
      return listen(t, l.name, old.address.port);
    },
  });
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.spec, 'renamed');
  assert.equal((result.error as NodeJS.ErrnoException).code, 'EADDRINUSE');
  assert.deepEqual(
    result.restored.map((r) => [r.listener.name, r.address.port]),
    [['old', old.address.port]],
  );
  assert.deepEqual(result.lost, []);
  assert.deepEqual(
    started.map((s) => [s.listener.name, s.listener.server.listening]),
    [['fresh', false]],
    'what the failed reload started is closed again',
  );
  assert.equal(kept.listener.server.listening, true);
});

test('an old listener that cannot listen again is reported as lost', async (t) => {
  const old = await listen(t, 'old', 0);
  const plan = planSwap(
    new Map([['old', old.listener]]),
    () => old.address,
    [{ name: 'new', bind: old.address }],
    () => false,
  );
  const result = await runSwap(plan, () => old.address, {
    start: async (spec) => {
      await listen(t, 'rogue', spec.bind.port);
      return listen(t, spec.name, spec.bind.port);
    },
    retire: (l) => l.close(0),
    restore: (l) => listen(t, l.name, old.address.port),
  });
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.deepEqual(result.restored, []);
  assert.deepEqual(
    result.lost.map((l) => [l.listener.name, (l.error as NodeJS.ErrnoException).code]),
    [['old', 'EADDRINUSE']],
  );
});

test('a rename keeps the listener when its old name is free and the spec names its real address', () => {
  type L = { name: string; kind: string; close(): Promise<void> };
  const make = (name: string, kind = 'http'): L => ({ name, kind, close: async () => {} });
  const at = new Map<L, { host: string; port: number }>();
  const a = make('a');
  const b = make('b');
  const f = make('f', 'forward');
  at.set(a, { host: '127.0.0.1', port: 1001 });
  at.set(b, { host: '127.0.0.1', port: 1002 });
  at.set(f, { host: '127.0.0.1', port: 1003 });
  const current = new Map([
    ['a', a],
    ['b', b],
    ['f', f],
  ]);
  const address = (l: L) => at.get(l)!;
  const spec = (name: string, port: number, kind = 'http') => ({ name, kind, bind: { host: '127.0.0.1', port } });
  const plan = (next: ReturnType<typeof spec>[]) => {
    const p = planSwap(
      current,
      address,
      next,
      (l, s) => l.name === s.name && l.kind === s.kind && address(l).port === s.bind.port,
      (l, s) => l.kind === s.kind,
    );
    return {
      kept: p.kept.map((k) => `${k.listener.name}>${k.spec.name}`),
      fresh: p.fresh.map((s) => s.name),
      handover: p.handover.map((s) => s.name),
      retired: p.retired.map((l) => l.name),
    };
  };
  // a renamed to a2; b kept; f renamed but turned into a reverse listener: a handover.
  assert.deepEqual(plan([spec('a2', 1001), spec('b', 1002), spec('f2', 1003)]), {
    kept: ['b>b', 'a>a2'],
    fresh: [],
    handover: ['f2'],
    retired: ['f'],
  });
  // a's name moves to b's address: b's listener becomes "a"; a's own listener, its name taken, hands over to c.
  assert.deepEqual(plan([spec('a', 1002), spec('c', 1001), spec('f', 1003, 'forward')]), {
    kept: ['f>f', 'b>a'],
    fresh: [],
    handover: ['c'],
    retired: ['a'],
  });
  // The old name is taken by another listener: no rename, the address is handed over.
  assert.deepEqual(plan([spec('a2', 1001), spec('a', 1009), spec('b', 1002), spec('f', 1003, 'forward')]), {
    kept: ['b>b', 'f>f'],
    fresh: ['a'],
    handover: ['a2'],
    retired: ['a'],
  });
  // Port 0 names no address: a new listener, not a rename.
  assert.deepEqual(plan([spec('a2', 0), spec('b', 1002), spec('f', 1003, 'forward')]), {
    kept: ['b>b', 'f>f'],
    fresh: ['a2'],
    handover: [],
    retired: ['a'],
  });
});
