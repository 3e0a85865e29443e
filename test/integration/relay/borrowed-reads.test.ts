// The relay reads its TCP sockets into wsgate's shared read buffer (websocket/pooled-reads.ts, borrowed chunks), so
// nothing of a chunk may outlive the read: large frames that arrive whole must be copied, not kept as views. Three
// relayed connections at once, each message held back 30 ms by a rule while the others keep reading, and every
// echo must come back as it was sent.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { RuleMessage, Verdict } from '../../../src/rules/types.ts';
import { pooledReadStats } from '../../../src/websocket/pooled-reads.ts';
import { connect, handRules, startGate, startUpstream, until } from './support.ts';

test('relayed messages held back while other connections read stay intact (borrowed reads)', async (t) => {
  const upstream = await startUpstream(t);
  const onMessage = (m: RuleMessage): Verdict => ({ send: [{ ...m, delayMs: 30 }], hits: [] });
  const gate = await startGate(t, { upstreamPort: upstream.port, rules: () => handRules({ onMessage }) });
  const clients = await Promise.all([0, 1, 2].map((i) => connect(`${gate.url}/borrowed-${i}`)));
  // 20 KiB and up: a frame from the server this large arrives whole in one read, where the assembler would keep a
  // view of the read buffer if views were allowed.
  const sent = clients.map(() => Array.from({ length: 12 }, (_, j) => randomBytes(20_000 + j * 997)));
  let sawBorrowed = 0;
  for (let j = 0; j < 12; j++) {
    for (const [i, c] of clients.entries()) c.ws.send(sent[i]![j]!);
    sawBorrowed = Math.max(sawBorrowed, pooledReadStats().sockets);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  for (const [i, c] of clients.entries()) {
    await until(() => (c.messages.length === 12 ? true : undefined), `connection ${i}: every echo`);
    assert.deepEqual(
      c.messages.map((m) => m.data.toString('hex')),
      sent[i]!.map((b) => b.toString('hex')),
      `connection ${i}: the echoes as sent`,
    );
  }
  assert.ok(sawBorrowed >= 2, `the relay's sockets read borrowed chunks (${sawBorrowed} at once)`);
});
