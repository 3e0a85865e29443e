// limits.maxConnections: a listener full of connections closes new ones at once, logs it, and serves again as
// soon as a slot frees. (The per-client limit exempts loopback, so it is covered by test/unit/server/admission.)
// limits.maxHandshakesPerSecond: a reconnect storm is let through at the rate, the rest refused before any dial.
// limits.maxHandshakesPerClientPerSecond: a client in a reconnect loop gets 429 while another address gets through;
// behind a trusted proxy (trustForwarded) the client is the one X-Forwarded-For names, not the proxy.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import { startHttpServer } from '../helpers/servers.ts';
import { reverseConfig, startTestWsgate } from '../helpers/wsgate.ts';

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

test('over limits.maxConnections a new connection is closed and logged; a freed slot serves again', async (t) => {
  const upstream = await startHttpServer(t, (_req, res) => res.end('ok'));
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url }], { limits: { maxConnections: 2 } }));
  const held = [await connect(gw.port), await connect(gw.port)];
  t.after(() => {
    for (const s of held) s.destroy();
  });
  const extra = await connect(gw.port);
  const closed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 3000);
    extra.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    extra.on('error', () => {});
  });
  assert.ok(closed, 'the third connection is closed by wsgate');
  const line = await gw.logs.waitFor('conn.limit');
  assert.equal(line.scope, 'listener');
  held[0]!.destroy();
  await new Promise((r) => setTimeout(r, 50));
  const res = await request(`${gw.http}/`, { reset: true });
  assert.equal(await res.body.text(), 'ok');
});

test('a reconnect storm over limits.maxHandshakesPerSecond: the rate gets through, the rest 503 before any dial', async (t) => {
  const upstream = await startHttpServer(t, (_req, res) => res.end('ok'));
  const wss = new WebSocketServer({ server: upstream.server });
  t.after(() => wss.close());
  // Handshakes the upstream was asked, not connections: wsgate may hold a spare connection (upstreams[].preconnect).
  let asked = 0;
  upstream.server.on('upgrade', () => asked++);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: upstream.url.replace('http:', 'ws:') }], { limits: { maxHandshakesPerSecond: 5 } }),
  );
  // 30 clients at once, as when the server they were on restarts.
  const outcomes = await Promise.all(
    Array.from(
      { length: 30 },
      () =>
        new Promise<{ status: number; retryAfter?: string | string[] | undefined; code?: string | string[] }>(
          (resolve) => {
            const ws = new WebSocket(`${gw.ws}/`);
            ws.on('open', () => {
              resolve({ status: 101 });
              ws.close();
            });
            ws.on('unexpected-response', (_req, res) => {
              resolve({
                status: res.statusCode ?? 0,
                retryAfter: res.headers['retry-after'],
                code: res.headers['x-wsgate-error'],
              });
              res.resume();
            });
            ws.on('error', () => {});
          },
        ),
    ),
  );
  const opened = outcomes.filter((o) => o.status === 101).length;
  // A second's worth at once; the storm lasts a few ms, so at most one more token has come.
  assert.ok(opened >= 5 && opened <= 6, `${opened} opened`);
  for (const o of outcomes.filter((o) => o.status !== 101)) {
    assert.deepEqual(o, { status: 503, retryAfter: '1', code: 'WSG_HANDSHAKE_RATE' });
  }
  assert.equal(asked, opened, 'the refused handshakes reached no upstream');
  const lines = gw.logs.events('upgrade.rate_limited');
  assert.equal(lines.length, 1, 'one line when refusals start, not one per refusal');
  // Plain requests are not counted, and a second later handshakes get through again.
  const res = await request(`${gw.http}/`, { reset: true });
  assert.equal(await res.body.text(), 'ok');
  await new Promise((r) => setTimeout(r, 1000));
  const ws = new WebSocket(`${gw.ws}/`);
  t.after(() => ws.terminate());
  await once(ws, 'open');
});

/** One handshake from `localAddress`: 101, or the refusal's status and code. */
function handshake(
  url: string,
  localAddress: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; code?: string | string[] }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { localAddress, headers });
    ws.on('open', () => {
      resolve({ status: 101 });
      ws.close();
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, code: res.headers['x-wsgate-error'] });
      res.resume();
    });
    ws.on('error', () => {});
  });
}

test('a client in a reconnect loop over limits.maxHandshakesPerClientPerSecond gets 429; another address does not', async (t) => {
  const upstream = await startHttpServer(t, (_req, res) => res.end('ok'));
  const wss = new WebSocketServer({ server: upstream.server });
  t.after(() => wss.close());
  // Handshakes the upstream was asked, not connections: wsgate may hold a spare connection (upstreams[].preconnect).
  let asked = 0;
  upstream.server.on('upgrade', () => asked++);
  const limits = { maxHandshakesPerClientPerSecond: 3, maxHandshakesPerSecond: 50, exemptLoopbackClients: false };
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url.replace('http:', 'ws:') }], { limits }));
  // A reconnect loop without backoff from 127.0.0.1 (the whole of 127/8 is loopback: 127.0.0.2 is another client).
  const loop = [];
  for (let i = 0; i < 12; i++) loop.push(await handshake(`${gw.ws}/`, '127.0.0.1'));
  const opened = loop.filter((o) => o.status === 101).length;
  assert.ok(opened >= 3 && opened <= 4, `${opened} opened`);
  for (const o of loop.filter((o) => o.status !== 101)) {
    assert.deepEqual(o, { status: 429, code: 'WSG_HANDSHAKE_CLIENT_RATE' });
  }
  assert.deepEqual(await handshake(`${gw.ws}/`, '127.0.0.2'), { status: 101 }, 'another client is not held back');
  assert.equal(asked, opened + 1, 'the refused handshakes reached no upstream');
  const lines = gw.logs.events('upgrade.client_rate_limited');
  assert.deepEqual(
    lines.map((l) => [l['client'], l['limit']]),
    [['127.0.0.1', 3]],
    'one line when refusals start',
  );
});

test('behind a trusted proxy the per-client rate and the log lines name the client X-Forwarded-For names', async (t) => {
  const upstream = await startHttpServer(t, (_req, res) => res.end('ok'));
  const wss = new WebSocketServer({ server: upstream.server });
  t.after(() => wss.close());
  const limits = { maxHandshakesPerClientPerSecond: 2, maxHandshakesPerSecond: 50 };
  const config = reverseConfig([{ upstream: upstream.url.replace('http:', 'ws:') }], { limits });
  (config['listeners'] as Record<string, unknown>[])[0]!['trustForwarded'] = ['127.0.0.1'];
  const gw = await startTestWsgate(t, config);
  // The proxy (loopback, which would be exempt as the client) speaks for 203.0.113.7 in a reconnect loop.
  const looping = { 'x-forwarded-for': '203.0.113.7' };
  const loop = [];
  for (let i = 0; i < 6; i++) loop.push(await handshake(`${gw.ws}/`, '127.0.0.1', looping));
  const opened = loop.filter((o) => o.status === 101).length;
  assert.ok(opened >= 2 && opened <= 3, `${opened} opened`);
  for (const o of loop.filter((o) => o.status !== 101)) {
    assert.deepEqual(o, { status: 429, code: 'WSG_HANDSHAKE_CLIENT_RATE' });
  }
  // Another client through the same proxy, and a client's own spoofed header from an untrusted peer, get through.
  const other = { 'x-forwarded-for': '203.0.113.8' };
  assert.deepEqual(await handshake(`${gw.ws}/`, '127.0.0.1', other), { status: 101 }, 'another client of the proxy');
  assert.deepEqual(await handshake(`${gw.ws}/`, '127.0.0.2', looping), { status: 101 }, 'untrusted peer: itself');
  const lines = gw.logs.events('upgrade.client_rate_limited');
  assert.equal(lines[0]?.['client'], '203.0.113.7');
  // The open and access lines name that client too, with the proxy beside it as `peer` (nginx's realip).
  const opens = gw.logs.events('ws.open').map((l) => [l['client'], l['peer']]);
  assert.deepEqual(opens.at(0), ['203.0.113.7', '127.0.0.1']);
  assert.deepEqual(opens.at(-1), ['127.0.0.2', undefined], 'untrusted peer: itself, no peer field');
  const res = await request(`${gw.http}/`, { headers: { 'x-forwarded-for': '198.51.100.4' }, reset: true });
  assert.equal(await res.body.text(), 'ok');
  const access = await gw.logs.waitFor('http.access');
  assert.deepEqual([access['client'], access['peer']], ['198.51.100.4', '127.0.0.1']);
});
