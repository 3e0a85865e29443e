// upstreams[].preconnect: handshakes that come close together go out on a connection wsgate opened ahead of them;
// a lone handshake leaves none; a spare nobody takes is closed; preconnect 0 dials every handshake; a spare the
// server closes just as the handshake is written costs a new connection, not the handshake.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { harEntry } from '../../../src/traffic/har.ts';
import { startHttpServer } from '../../helpers/servers.ts';
import { makeSelfSigned, makeTestCa, startTlsEchoServer, tempDir, writePem } from '../../helpers/tls.ts';
import { openWs, refusedHandshake, roundTrip } from '../../helpers/ws-client.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';
import { eventually } from '../forward/helpers.ts';

type HarTimings = { time: number; timings: { connect: number; wait: number } };

/** An echo WebSocket server that notes when each connection was accepted and which ones carried a handshake. */
async function startEchoUpstream(t: TestContext) {
  const upstream = await startHttpServer(t, (_req, res) => res.end('ok'));
  const acceptedAt = new WeakMap<net.Socket, number>();
  const open = new Set<net.Socket>();
  upstream.server.on('connection', (s: net.Socket) => {
    acceptedAt.set(s, performance.now());
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  /** For each handshake, when its connection was accepted. */
  const handshakes: number[] = [];
  upstream.server.on('upgrade', (req) => handshakes.push(acceptedAt.get(req.socket as net.Socket) ?? Number.NaN));
  const wss = new WebSocketServer({ server: upstream.server });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  t.after(() => wss.close());
  return { ...upstream, handshakes, open: () => open.size };
}

/** Opens a WebSocket through `url`, checks an echo, closes it; resolves with when the handshake began. */
async function echoOnce(url: string): Promise<number> {
  const began = performance.now();
  const ws = new WebSocket(url);
  await once(ws, 'open');
  ws.send('ping');
  const [data] = (await once(ws, 'message')) as [Buffer];
  assert.equal(data.toString(), 'ping');
  ws.close();
  await once(ws, 'close');
  return began;
}

test('handshakes close together take a spare connection; a lone one leaves none; an untaken spare is closed', async (t) => {
  const upstream = await startEchoUpstream(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app' }], {
      upstreams: [{ name: 'app', url: `ws://127.0.0.1:${upstream.port}`, preconnect: '400ms' }],
      inspector: { bind: '127.0.0.1:0' },
    }),
  );
  await echoOnce(`${gw.ws}/`);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(upstream.accepted(), 1, 'a lone handshake leaves no spare');
  const second = await echoOnce(`${gw.ws}/`);
  await eventually(() => upstream.accepted() === 3, 5000, 'a spare dialed after the second handshake');
  assert.ok(upstream.handshakes[1]! >= second, 'the second handshake had its own connection');
  const third = await echoOnce(`${gw.ws}/`);
  assert.ok(upstream.handshakes[2]! < third, 'the third handshake went out on a connection opened before it began');
  await eventually(() => upstream.accepted() === 4, 5000, 'the next spare dialed');
  // The open line (and the inspector's record) says which handshake went out on a spare.
  await eventually(() => gw.logs.events('ws.open').length === 3, 5000, 'three open lines');
  assert.deepEqual(
    gw.logs.events('ws.open').map((l) => l['spare']),
    [undefined, undefined, true],
  );
  const records = gw.running.inspector!.store.connections();
  assert.deepEqual(records.map((r) => r.spare).sort(), [true, undefined, undefined]);
  // In a HAR, nothing was connected for the spare's handshake: connect -1, as for a reused connection.
  const connects = records.map((r) => [r.spare === true, harEntry(r, [], 'test') as HarTimings]);
  for (const [spare, entry] of connects as [boolean, HarTimings][]) {
    assert.equal(entry.timings.connect === -1, spare, `connect ${entry.timings.connect} (spare ${spare})`);
    assert.equal(entry.timings.wait + Math.max(0, entry.timings.connect), entry.time);
  }
  // Nobody takes it: closed after 400 ms, at the upstream too.
  await eventually(() => upstream.open() === 0, 5000, 'every connection to the upstream closed');
  assert.equal(upstream.accepted(), 4);
  const metrics = await gw.running.metrics!.text();
  assert.match(metrics, /^wsgate_upstream_spares_total\{upstream="app",result="taken"\} 1$/m);
  assert.match(metrics, /^wsgate_upstream_spares_total\{upstream="app",result="expired"\} 1$/m);
});

test('preconnect 0: every handshake dials its own connection', async (t) => {
  const upstream = await startEchoUpstream(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app' }], {
      upstreams: [{ name: 'app', url: `ws://127.0.0.1:${upstream.port}`, preconnect: 0 }],
    }),
  );
  const began = [];
  for (let i = 0; i < 4; i++) began.push(await echoOnce(`${gw.ws}/`));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(upstream.accepted(), 4);
  for (const [i, at] of upstream.handshakes.entries())
    assert.ok(at >= began[i]!, `handshake ${i} dialed after it began`);
});

test('a spare the server closes as the handshake is written: the handshake goes out again on a new connection', async (t) => {
  const upstream = await startEchoUpstream(t);
  // In front of the upstream: a connection whose first bytes come 150 ms or more after it was accepted (a spare) is
  // closed on them, unanswered, as a server with a short limit for a silent connection would close it.
  let closedSpares = 0;
  const front = net.createServer((s) => {
    const accepted = Date.now();
    s.on('error', () => {});
    s.once('data', (first) => {
      if (Date.now() - accepted >= 150) {
        closedSpares++;
        s.destroy();
        return;
      }
      const to = net.connect(upstream.port, '127.0.0.1', () => {
        to.write(first);
        s.pipe(to).pipe(s);
      });
      to.on('error', () => s.destroy());
      s.on('close', () => to.destroy());
    });
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => front.close(() => resolve())));
  const port = (front.address() as net.AddressInfo).port;
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app' }], {
      upstreams: [{ name: 'app', url: `ws://127.0.0.1:${port}`, preconnect: '5s' }],
      inspector: { bind: '127.0.0.1:0' },
    }),
  );
  await echoOnce(`${gw.ws}/`);
  await echoOnce(`${gw.ws}/`);
  await new Promise((r) => setTimeout(r, 250));
  await echoOnce(`${gw.ws}/`);
  assert.equal(closedSpares, 1, 'the third handshake was first written on the spare');
  const line = await gw.logs.waitFor('ws.spare_closed');
  assert.equal(line['upstream'], 'app');
  assert.equal(gw.logs.events('ws.upstream_error').length, 0, 'no failure was reported');
  assert.match(await gw.running.metrics!.text(), /^wsgate_upstream_spares_total\{upstream="app",result="lost"\} 1$/m);
  await gw.running.shutdown();
  await eventually(() => upstream.open() === 0, 5000, 'every connection to the upstream closed at shutdown');
});

test('a wss:// upstream: the spare has its TLS done and verified; one that fails verification is never used', async (t) => {
  const ca = await makeTestCa('wsgate spare test CA');
  const dir = tempDir(t);
  const trusted = await startTlsEchoServer(t, await ca.issue());
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app' }], {
      upstreams: [{ name: 'app', url: trusted.wss, tls: { ca: writePem(dir, 'ca.pem', ca.cert) } }],
    }),
  );
  for (const n of [1, 2]) {
    const ws = await openWs(`${gw.ws}/`);
    assert.equal((await roundTrip(ws, `tls ${n}`)).data.toString(), `tls ${n}`);
    ws.terminate();
  }
  await eventually(() => trusted.secureConnections() === 3, 5000, 'the spare finished its TLS handshake');
  const ws = await openWs(`${gw.ws}/`);
  assert.equal((await roundTrip(ws, 'tls 3')).data.toString(), 'tls 3');
  ws.terminate();
  assert.equal(trusted.requests(), 3);
  assert.equal(gw.logs.events('ws.open').at(-1)?.['spare'], true);

  // A server wsgate must not trust: the spare's verification fails like the handshake's own (502, not a spare).
  const untrusted = await startTlsEchoServer(t, await makeSelfSigned());
  const other = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'app' }], {
      upstreams: [{ name: 'app', url: untrusted.wss }],
      inspector: { bind: '127.0.0.1:0' },
    }),
  );
  for (let n = 0; n < 3; n++) {
    const refusal = await refusedHandshake(`${other.ws}/`);
    assert.equal(refusal.status, 502);
    assert.equal(refusal.headers['x-wsgate-error'], 'WSG_UPSTREAM_CERT');
  }
  assert.equal(untrusted.requests(), 0, 'no handshake reached the server it does not trust');
  assert.match(
    await other.running.metrics!.text(),
    /^wsgate_upstream_spares_total\{upstream="app",result="failed"\} [12]$/m,
  );
});
