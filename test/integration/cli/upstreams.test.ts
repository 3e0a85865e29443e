// `wsgate upstreams`: a running wsgate's pools through its admin API, as a table or JSON; drain (with a deadline),
// ready and close from the shell, with the token when the admin API has one; exit 1 with the API's reason when a call
// is refused or nothing answers, 2 for usage errors.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import WebSocket from 'ws';
import { runCli } from '../../helpers/cli.ts';
import { namedServer } from '../../helpers/named-server.ts';
import { closedPort, startHttpServer } from '../../helpers/servers.ts';
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

test('wsgate upstreams against a server that is not wsgate: a clear error, exit 1, no stack', async (t) => {
  const other = await startHttpServer(t, (req, res) => {
    // 200 with a page, 200 with JSON of another shape, and a 404 that is not a coded wsgate error.
    if (req.url === '/api/upstreams') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>');
    } else if (req.method === 'PUT') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    } else {
      res.writeHead(404).end('not here');
    }
  });
  for (const [args, answered] of [
    [[], /answered 200 with text\/html "<html>hello<\/html>"/],
    [['--json'], /answered 200 with text\/html/],
    [['drain', 'app', '0'], /answered 200 with application\/json "\{\\"ok\\":true\}"/],
    [['close', 'app', '0'], /answered 404 without a content type "not here"/],
  ] as const) {
    const run = await runCli(['upstreams', '--admin', other.url, ...args]);
    assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`);
    assert.match(
      run.stderr,
      new RegExp(`^wsgate: ${other.url}/api/upstreams\\S* did not answer like a wsgate admin API`),
    );
    assert.match(run.stderr, answered);
    assert.match(run.stderr, /^hint: Give --admin the address of wsgate's admin listener/m);
    assert.doesNotMatch(run.stderr, /TypeError|unexpected error|\n\s+at /);
    assert.equal(run.stdout, '');
  }
});

test('wsgate upstreams: API refusals carry no generic hint, 401 names --token; bad flag values exit 2', async (t) => {
  const gw = await startTestWsgate(t, {
    listeners: [{ name: 'test', bind: '127.0.0.1:0', routes: [{ upstream: 'http://127.0.0.1:1' }] }],
    inspector: { bind: '127.0.0.1:0', token: 'sesame' },
  });
  const admin = `http://127.0.0.1:${gw.running.inspector!.admin.address.port}`;
  const noToken = await runCli(['upstreams', '--admin', admin], { env: { WSGATE_ADMIN_TOKEN: '' } });
  assert.equal(noToken.code, 1);
  assert.match(noToken.stderr, /answered 401: this admin listener needs a token \(give its token with --token/);
  assert.doesNotMatch(noToken.stderr, /^hint:/m);
  const unknown = await runCli(['upstreams', '--admin', admin, '--token', 'sesame', 'drain', 'nope', '0']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /answered 404: no upstream nope/);
  assert.doesNotMatch(unknown.stderr, /^hint:/m, 'the API said what is wrong');

  // Values the admin API would refuse are refused before any call, as usage errors.
  const other = await startHttpServer(t, (_req, res) => res.writeHead(500).end());
  for (const [args, message] of [
    [['drain', 'app', '0', '--close-after', '5x'], /--close-after: invalid duration "5x"/],
    [['close', 'app', '0', '--code', '1005'], /--code must be a close code a peer may send/],
    [['close', 'app', '0', '--reason', 'x'.repeat(124)], /--reason must be at most 123 bytes/],
  ] as const) {
    const run = await runCli(['upstreams', '--admin', other.url, ...args]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, message);
  }
  assert.equal(other.accepted(), 0, 'no call was made');
});
