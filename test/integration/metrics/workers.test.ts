// `wsgate run --workers 2` with `inspector`: the admin listener runs in the primary and covers every worker. Real
// WebSocket clients spread over both workers; one /api/connections lists them all, /metrics counts them all (one
// strict exposition merged from both workers' registries), send and close through the API reach the worker that
// holds each connection, /readyz is ready, and a SIGTERM still stops everything with exit 0.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { sampleSum, sampleValue } from '../../helpers/prom-text.ts';
import { closedPort } from '../../helpers/servers.ts';
import { startEchoUpstream, startWorkersWithAdmin } from '../inspector/helpers.ts';
import { scrape } from './support.ts';

/** A client that keeps every message it gets. */
type Client = { ws: WebSocket; got: string[]; closed: Promise<number> };

async function openClient(url: string): Promise<Client> {
  const ws = new WebSocket(url);
  const got: string[] = [];
  ws.on('message', (data) => got.push(String(data)));
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await once(ws, 'open');
  return { ws, got, closed };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

type Listed = { connections: { id: string; state: string; route: string }[] };

test('--workers 2: one admin API and one /metrics cover both workers; send and close reach the owning worker', async (t) => {
  const upstream = (await startEchoUpstream(t)).url;
  const file = join(mkdtempSync(join(tmpdir(), 'wsgate-admin-workers-')), 'wsgate.yaml');
  writeFileSync(
    file,
    `listeners:
  - name: web
    bind: 127.0.0.1:0
    routes:
      - { name: echo, match: { path: /echo }, upstream: "${upstream}" }
inspector: { bind: "127.0.0.1:0" }
tap: { level: frames }
log: { format: json, level: warn }
shutdown: { grace: 2s }
`,
  );
  const { cli, port, admin } = await startWorkersWithAdmin(t, file, 20_000);

  const ready = await fetch(`${admin}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(((await ready.json()) as { workers: unknown }).workers, { ready: 2, target: 2 });

  // Round-robin hands connections to the workers in turn: 6 clients land on both.
  const clients: Client[] = [];
  for (let i = 0; i < 6; i++) clients.push(await openClient(`ws://127.0.0.1:${port}/echo`));
  for (const [i, c] of clients.entries()) c.ws.send(`hello ${i}`);
  await until('every echo', async () => (clients.every((c) => c.got.length === 1) ? true : undefined));

  const listed = await until('6 open connections in one listing', async () => {
    const body = (await (await fetch(`${admin}/api/connections?state=open`)).json()) as Listed;
    return body.connections.length === 6 ? body : undefined;
  });
  const workersSeen = new Set(listed.connections.map((c) => /^w(\d+)-/.exec(c.id)?.[1]));
  assert.equal(workersSeen.size, 2, `connections of both workers are listed: ${listed.connections.map((c) => c.id)}`);
  assert.ok(!workersSeen.has(undefined));

  const metrics = await until('/metrics counting 6 connections', async () => {
    const s = await scrape(admin);
    return sampleValue(s.families, 'wsgate_ws_connections_open', { listener: 'web', route: 'echo' }) === 6
      ? s
      : undefined;
  });
  assert.equal(sampleValue(metrics.families, 'wsgate_ws_handshakes_total', { listener: 'web', result: '101' }), 6);
  assert.ok((sampleValue(metrics.families, 'wsgate_ws_messages_total', { direction: 'toUpstream' }) ?? 0) >= 6);
  assert.equal(sampleSum(metrics.families, 'wsgate_ipc_events_dropped_total'), 0);

  // Send to a client held by each worker, then close one of them, through the primary's API.
  for (const worker of workersSeen) {
    const conn = listed.connections.find((c) => c.id.startsWith(`w${worker}-`))!;
    const sent = await fetch(`${admin}/api/connections/${conn.id}/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'client', text: `from the API to ${conn.id}` }),
    });
    assert.equal(sent.status, 202, await sent.text());
  }
  await until('both API messages at their clients', async () =>
    clients.filter((c) => c.got.some((m) => m.startsWith('from the API to '))).length === 2 ? true : undefined,
  );
  const victim = listed.connections[0]!;
  const closing = await fetch(`${admin}/api/connections/${victim.id}/close`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: 4001, reason: 'bye', to: 'both' }),
  });
  assert.equal(closing.status, 202, await closing.text());
  const codes = await until('a client closed with 4001', async () => {
    const settled = await Promise.all(
      clients.map((c) => Promise.race([c.closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 10))])),
    );
    return settled.includes(4001) ? settled : undefined;
  });
  assert.equal(codes.filter((c) => c === 4001).length, 1);
  // A connection id no worker holds: 404 through the same route.
  const unknown = await fetch(`${admin}/api/connections/w9-zz/close`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(unknown.status, 404);

  for (const c of clients) c.ws.close(1000);
  await Promise.all(clients.map((c) => c.closed));
  await until('every connection closed in /metrics', async () => {
    const s = await scrape(admin);
    return sampleValue(s.families, 'wsgate_ws_connections_open', { listener: 'web', route: 'echo' }) === 0
      ? true
      : undefined;
  });

  cli.child.kill('SIGTERM');
  const exit = await cli.exitedWithin();
  assert.equal(exit.code, 0, cli.stderr());
});

test('--workers 2: /api/config shows the echo server where the workers run it; a rolling restart moves it, and the primary says its own block waits', async (t) => {
  const upstream = (await startEchoUpstream(t)).url;
  const [first, second] = [await closedPort(), await closedPort()];
  const file = join(mkdtempSync(join(tmpdir(), 'wsgate-admin-workers-')), 'wsgate.yaml');
  const configWith = (echoPort: number, inspectorExtra = '') =>
    `listeners:
  - name: web
    bind: 127.0.0.1:0
    routes:
      - { name: echo, match: { path: /echo }, upstream: "${upstream}" }
inspector: { bind: "127.0.0.1:0"${inspectorExtra} }
echo: { bind: "127.0.0.1:${echoPort}" }
log: { format: json }
shutdown: { grace: 2s }
`;
  writeFileSync(file, configWith(first));
  const { cli, admin } = await startWorkersWithAdmin(t, file, 20_000);
  const echoBind = async () => {
    const body = (await (await fetch(`${admin}/api/config`)).json()) as {
      config: { echo: { bind: { host: string; port: number } } };
    };
    return `${body.config.echo.bind.host}:${body.config.echo.bind.port}`;
  };
  assert.equal(await echoBind(), `127.0.0.1:${first}`);

  // A file edit reloads the workers in place: their echo server stays, and so does what the API says.
  writeFileSync(file, configWith(second));
  await cli.waitForOutput(/"event":"echo\.unchanged"/, 15_000);
  await cli.waitForOutput(/"event":"config\.reloaded"/, 15_000);
  assert.equal(await echoBind(), `127.0.0.1:${first}`);

  // SIGHUP replaces the workers: the new ones start the echo server where the file says; the admin API stays.
  writeFileSync(file, configWith(second, ', store: { maxMessagesPerConnection: 100 }'));
  cli.child.kill('SIGHUP');
  await cli.waitForOutput(/"event":"workers\.restarted"/, 30_000);
  assert.equal(await echoBind(), `127.0.0.1:${second}`);
  assert.match(cli.stdout(), /"event":"inspector\.unchanged"/);
});
