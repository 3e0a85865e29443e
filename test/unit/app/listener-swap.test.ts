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
