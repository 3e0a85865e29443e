// The relay masks a large message toward the server in place when it is the message's own buffer sent on once,
// and copies otherwise. Either way the server must receive exactly what the client sent: checked for a message
// passed on, one sent twice (the same buffer in the verdict twice), one delayed, and one behind a rewritten one.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { RuleMessage, Verdict } from '../../../src/rules/types.ts';
import { connect, handRules, startGate, startUpstream, until } from './support.ts';

const SIZE = 64 * 1024;

for (const mode of ['pass', 'twice', 'delayed', 'rewritten'] as const) {
  test(`a ${SIZE / 1024} KiB message toward the server arrives intact (${mode})`, async (t) => {
    const upstream = await startUpstream(t, { onConnection: () => {} });
    const onMessage = (m: RuleMessage): Verdict => {
      if (m.type !== 'binary') return { send: [m], hits: [] };
      if (mode === 'twice') return { send: [m, m], hits: [] };
      if (mode === 'delayed') return { send: [{ ...m, delayMs: 20 }], hits: [] };
      if (mode === 'rewritten') return { send: [{ ...m, data: Buffer.from(m.data) }, m], hits: [] };
      return { send: [m], hits: [] };
    };
    const gate = await startGate(t, { upstreamPort: upstream.port, rules: () => handRules({ onMessage }) });
    const c = await connect(`${gate.url}/mask-${mode}`);
    const sent = [randomBytes(SIZE), randomBytes(SIZE), randomBytes(SIZE)];
    for (const b of sent) c.ws.send(b);
    const copies = mode === 'twice' || mode === 'rewritten' ? 2 : 1;
    await until(() => (upstream.received.length === sent.length * copies ? true : undefined), 'every message');
    const expected = sent.flatMap((b) => Array.from({ length: copies }, () => b.toString('hex')));
    assert.deepEqual(
      upstream.received.map((r) => r.data.toString('hex')),
      expected,
    );
    c.ws.close(1000);
    await c.closed;
  });
}
