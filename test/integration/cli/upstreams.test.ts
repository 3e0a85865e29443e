// `wsgate upstreams`: a running wsgate's pools through its admin API, as a table or JSON; drain (with a deadline),
// ready and close from the shell, with the token when the admin API has one; exit 1 with the API's reason when a call
// is refused or nothing answers, 2 for usage errors.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import WebSocket from 'ws';
import { runCli } from '../../helpers/cli.ts';
import { namedServer } from '../../helpers/named-server.ts';
import { closedPort } from '../../helpers/servers.ts';
import { startTestWsgate } from '../../helpers/wsgate.ts';

test('wsgate upstreams: the table, drain with --close-after, ready, close, --json; refused calls exit 1', async (t) => {
  const [a, b] = [await namedServer(t, 'A'), await namedServer(t, 'B')];
  const gw = await startTestWsgate(t, {
    listeners: [{ name: 'test', bind: '127.0.0.1:0', routes: [{ upstream: 'app' }] }],
    upstreams: [{ name: 'app', servers: [a.url, { url: b.url, weight: 2 }], balance: 'round-robin' }],
    inspector: { bind: '127.0.0.1:0', token: 'sesame' },
    shutdown: { grace: '200ms' },
  });
  const admin = `http://127.0.0.1:${gw.running.inspector!.admin.address.port}`;
  const cli = (args: string[]) =>
    runCli(['upstreams', '--admin', admin, ...args], { env: { WSGATE_ADMIN_TOKEN: 'sesame' } });
  const ws = new WebSocket(`${gw.ws}/`);
  t.after(() => ws.terminate());
  await once(ws, 'open');

  const table = await cli([]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^app \(round-robin, 2 of 2 ready\)$/m);
  assert.match(table.stdout, /^#\s+server\s+state\s+health\s+skipped\s+open\s+failed$/m);
  assert.match(table.stdout, new RegExp(`^1\\s+${b.url} \\(weight 2\\)\\s+ready\\s+unchecked\\s+-\\s+\\d\\s+0$`, 'm'));
  const openOnA = Number(new RegExp(`^0\\s+${a.url}\\s+ready\\s+unchecked\\s+-\\s+(\\d)`, 'm').exec(table.stdout)?.[1]);

  const drained = await cli(['drain', 'app', '0', '--close-after', '10m']);
  assert.equal(drained.code, 0, drained.stderr);
  assert.match(drained.stdout, /^drained: server 0 of app$/m);
  assert.match(drained.stdout, /draining, closes open in (599|600) s/);
  const again = await cli(['drain', 'app', a.url]);
  assert.match(again.stdout, /^already drained: server .* of app$/m);
  assert.doesNotMatch(again.stdout, /closes open/, 'a drain without --close-after replaced the deadline');

  const closed = await cli(['close', 'app', '0', '--code', '1001', '--reason', 'deploy']);
  assert.equal(closed.code, 0, closed.stderr);
  assert.equal(
    closed.stdout.trim(),
    `closed ${openOnA} open WebSocket${openOnA === 1 ? '' : 's'} to server 0 of app (1001)`,
  );

  const json = await cli(['ready', 'app', '0', '--json']);
  assert.equal(json.code, 0, json.stderr);
  const answer = JSON.parse(json.stdout) as { changed: boolean; upstream: { ready: number } };
  assert.deepEqual([answer.changed, answer.upstream.ready], [true, 2]);

  const unknown = await cli(['drain', 'nope', '0']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /answered 404: no upstream nope .*there are: app/);
  const noToken = await runCli(['upstreams', '--admin', admin], { env: { WSGATE_ADMIN_TOKEN: '' } });
  assert.equal(noToken.code, 1);
  assert.match(noToken.stderr, /answered 401/);
  const nobody = await runCli(['upstreams', '--admin', `127.0.0.1:${await closedPort()}`]);
  assert.equal(nobody.code, 1);
  assert.match(nobody.stderr, /could not be reached \(ECONNREFUSED\)/);
  const usage = await cli(['ready', 'app', '0', '--close-after', '5s']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--close-after goes with drain/);
});
