// The hold action under `wsgate run --workers 2`: the primary's admin API lists a message a worker holds (from
// the worker's rule events: a preview, the data stays in the worker) and its forward with new text reaches the
// owning worker over the same IPC path as send and close.
// biome-ignore-all lint/suspicious/noExplicitAny: API answers are JSON that the assertions read field by field.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { eventually, startEchoUpstream, startWorkersWithAdmin } from './helpers.ts';

test('--workers 2: a held message is listed by the primary and forwarded edited through the owning worker', async (t) => {
  const upstream = await startEchoUpstream(t);
  const file = join(mkdtempSync(join(tmpdir(), 'wsgate-held-workers-')), 'wsgate.yaml');
  writeFileSync(
    file,
    `listeners:
  - name: web
    bind: 127.0.0.1:0
    routes:
      - { name: echo, match: { path: /echo }, upstream: "${upstream.url}", tap: payload, rules: [catch] }
rules:
  - { name: catch, match: { direction: toServer, text: "/^hold/" }, actions: [{ hold: true }] }
inspector: { bind: "127.0.0.1:0" }
log: { format: json, level: warn }
shutdown: { grace: 1s }
`,
  );
  const { cli, port, admin } = await startWorkersWithAdmin(t, file, 40_000);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`);
  t.after(() => ws.terminate());
  const got: string[] = [];
  ws.on('message', (data) => got.push(String(data)));
  await once(ws, 'open');
  // The primary's store names the listener of a worker's connection from the running config.
  const listed = await eventually(
    async () => (await (await fetch(`${admin}/api/connections`)).json()) as any,
    (body) => body.connections?.length === 1,
    'the connection in the primary',
    10_000,
  );
  assert.equal(listed.connections[0].route, 'echo');
  assert.equal(listed.connections[0].listener, 'web');
  ws.send('hold me');
  ws.send('then me');
  const list = await eventually(
    async () => (await (await fetch(`${admin}/api/held`)).json()) as any,
    (body) => body.held?.length === 1,
    'the held message in the primary',
    10_000,
  );
  const held = list.held[0];
  assert.match(held.conn, /^w\d+-/, 'a worker holds it');
  assert.equal(held.preview, 'hold me');
  assert.equal(held.dataAvailable, false, 'the data stays in the worker');
  const forward = await fetch(`${admin}/api/held/${held.id}/forward`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text: 'edited across IPC' }),
  });
  assert.equal(forward.status, 200, await forward.text());
  await eventually(
    async () => got.length,
    (n) => n === 2,
    'both echoes',
    10_000,
  );
  assert.deepEqual(got, ['edited across IPC', 'then me']);
  cli.child.kill('SIGTERM');
  await cli.exitedWithin();
});
