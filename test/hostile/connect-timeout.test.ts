// Hostile case 8: an upstream whose TCP connect never completes, on every entry kind — reverse routes (HTTP and
// WebSocket), forward absolute-form (HTTP and WebSocket), CONNECT (so also every in-tunnel request: a tunnel's
// upstream is dialled for the CONNECT), and an intercepted host (dialled after the client's TLS handshake). Each
// gets 504 WSG_UPSTREAM_TIMEOUT after limits.connectTimeout (±20 %, plus scheduling slack on a loaded machine),
// one coded line, wsgate's half-open socket freed, and the same wsgate serves a healthy request after.
//
// Never an outside address: the black hole is a listener on 127.0.0.1 with a backlog of 1 in a child process whose
// event loop is blocked, so it never accepts; a connection or two fill its queue, and the kernel drops later SYNs.
// (A listener that accepts and never answers is a different case: the connect succeeds, and responseTimeout or
// handshakeTimeout answers 504 instead — reverse/http, reverse/websocket and forward/errors tests.)
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { startBlackHole } from '../helpers/black-hole.ts';
import { randomKey, startRawSink, tcpHandles } from '../helpers/raw.ts';
import { rawExchange } from '../helpers/servers.ts';
import { type LogCapture, reverseConfig, startTestWsgate } from '../helpers/wsgate.ts';
import { forwardConfig, rawConnect, startProxy } from '../integration/forward/helpers.ts';
import { requestOver, startInterceptProxy, tlsThroughProxy } from '../integration/intercept/helpers.ts';

const TIMEOUT_MS = 1000;
const LIMITS = { limits: { connectTimeout: '1s' } };

/** Times `answer`, checks it is a 504 WSG_UPSTREAM_TIMEOUT within the window, and wsgate's dial was let go. */
async function assertTimedOut(what: string, answer: () => Promise<string>): Promise<void> {
  const handles = tcpHandles();
  const started = performance.now();
  const raw = await answer();
  const elapsed = performance.now() - started;
  assert.match(raw, /^HTTP\/1\.1 504 /, `${what}: ${raw.slice(0, 200)}`);
  assert.match(raw, /x-wsgate-error: WSG_UPSTREAM_TIMEOUT/i, what);
  assert.ok(
    elapsed >= TIMEOUT_MS * 0.8 && elapsed <= TIMEOUT_MS * 1.2 + 400,
    `${what}: answered after ${Math.round(elapsed)} ms (connectTimeout ${TIMEOUT_MS} ms)`,
  );
  // The client's own socket is closed by now; none of wsgate's is left behind either.
  const deadline = Date.now() + 2000;
  while (tcpHandles() > handles && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(tcpHandles() <= handles, `${what}: ${tcpHandles()} TCP handles, ${handles} before`);
}

async function assertCodedLines(logs: LogCapture, event: string, count: number): Promise<void> {
  const deadline = Date.now() + 3000;
  const lines = () => logs.events(event).filter((l) => l.code === 'WSG_UPSTREAM_TIMEOUT');
  while (lines().length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(lines().length, count, `${event}: ${JSON.stringify(logs.events(event))}`);
  assert.ok(lines().every((l) => l.level === 'warn'));
}

const handshake = (target: string, host: string) =>
  `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomKey()}\r\n\r\n`;

test('case 8, reverse: a route to an upstream that never completes its connect gets 504 on time', async (t) => {
  const hole = await startBlackHole(t);
  const sink = await startRawSink(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig(
      [{ match: { pathPrefix: '/healthy' }, upstream: sink.httpUrl }, { upstream: `http://127.0.0.1:${hole}` }],
      LIMITS,
    ),
  );
  await assertTimedOut('HTTP', async () =>
    (await rawExchange(gw.port, 'GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 5000)).toString('latin1'),
  );
  await assertTimedOut('WebSocket', async () =>
    (await rawExchange(gw.port, handshake('/ws', 'x'), 5000)).toString('latin1'),
  );
  assert.equal(gw.logs.lines.filter((l) => l.code === 'WSG_UPSTREAM_TIMEOUT' && l.level === 'warn').length, 2);
  const ok = (await rawExchange(gw.port, 'GET /healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toString();
  assert.match(ok, /^HTTP\/1\.1 200 /);
});

test('case 8, forward: absolute-form and CONNECT to a destination that never completes its connect get 504', async (t) => {
  const hole = await startBlackHole(t);
  const sink = await startRawSink(t);
  const gw = await startProxy(t, forwardConfig({}, LIMITS));
  const authority = `127.0.0.1:${hole}`;
  await assertTimedOut('absolute-form HTTP', async () =>
    (
      await rawExchange(gw.port(), `GET http://${authority}/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 5000)
    ).toString('latin1'),
  );
  await assertTimedOut('absolute-form WebSocket', async () =>
    (await rawExchange(gw.port(), handshake(`http://${authority}/ws`, authority), 5000)).toString('latin1'),
  );
  await assertTimedOut('CONNECT', async () => {
    const r = await rawConnect(gw.port(), authority, {}, 5000);
    r.socket.destroy();
    return `${r.head}\r\n\r\n${r.body}`;
  });
  await assertCodedLines(gw.logs, 'forward.upstream_error', 1);
  await assertCodedLines(gw.logs, 'ws.upstream_error', 1);
  await assertCodedLines(gw.logs, 'connect.upstream_error', 1);
  const ok = await rawConnect(gw.port(), `127.0.0.1:${sink.port}`);
  assert.equal(ok.status, 200, 'a healthy CONNECT afterwards');
  ok.socket.destroy();
});

test('case 8, intercepted: a host dialled after the client’s handshake gets 504 inside TLS', async (t) => {
  const hole = await startBlackHole(t);
  const gw = await startInterceptProxy(t, { intercept: ['hole.test'], names: ['hole.test'], config: LIMITS });
  const target = `hole.test:${hole}`;
  await assertTimedOut('intercepted HTTP', async () => {
    const { socket } = await tlsThroughProxy(gw.port(), target, { ca: gw.caPem });
    const res = await requestOver(socket, '/x', target);
    const headers = Object.entries(res.headers).map(([k, v]) => `${k}: ${v}`);
    return `HTTP/1.1 ${res.status} \r\n${headers.join('\r\n')}\r\n\r\n${res.body}`;
  });
  await assertCodedLines(gw.logs, 'forward.upstream_error', 1);
});

// A client that leaves while wsgate is still dialing (nothing reads it until the 101 or the 200, so only
// client-watch.ts sees its FIN) ends the dial at once: no socket held for connectTimeout on behalf of nobody, and
// no line blaming the destination for a timeout nobody waited for.
const LONG_DIAL = { limits: { connectTimeout: '20s' } };

/** Connects under way in this process (wsgate runs in it). */
function connectsUnderWay(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'ConnectWrap').length;
}

/** Sends `head`, leaves once wsgate is dialing, and waits for `line` (at most 3 s of a 20 s dial). */
async function leaveDuringDial(logs: LogCapture, port: number, head: string, line: () => boolean): Promise<void> {
  const handles = tcpHandles();
  const connects = connectsUnderWay();
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => {});
  await once(client, 'connect');
  client.write(head);
  const dialing = Date.now() + 2000;
  while (connectsUnderWay() === connects && Date.now() < dialing) await new Promise((r) => setTimeout(r, 10));
  assert.equal(connectsUnderWay(), connects + 1, 'wsgate is dialing');
  client.end();
  const deadline = Date.now() + 3000;
  while (!line() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(line(), `no line within 3 s: ${JSON.stringify(logs.lines.slice(-5))}`);
  // wsgate's dial is given up (it would last 20 s otherwise), and every socket of the attempt is closed.
  while ((connectsUnderWay() > connects || tcpHandles() > handles) && Date.now() < deadline + 2000) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(connectsUnderWay() <= connects, 'the dial was kept');
  assert.ok(tcpHandles() <= handles, `${tcpHandles()} TCP handles, ${handles} before`);
  client.destroy();
}

test('case 8, the client leaves during the dial: a WebSocket upgrade ends it at once, no upstream error', async (t) => {
  const hole = await startBlackHole(t);
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: `ws://127.0.0.1:${hole}` }], LONG_DIAL));
  const gone = () => gw.logs.events('ws.client_gone').length === 1;
  await leaveDuringDial(gw.logs, gw.port, handshake('/ws', 'x'), gone);
  assert.equal(gw.logs.events('ws.client_gone')[0]!.code, 'WSG_CLIENT_GONE');
  assert.deepEqual(gw.logs.events('ws.upstream_error'), [], 'nothing failed upstream');
});

test('case 8, the client leaves during the dial: a CONNECT ends it at once, directly and through an upstream proxy', async (t) => {
  const hole = await startBlackHole(t);
  const direct = await startProxy(t, forwardConfig({}, LONG_DIAL));
  // A corporate proxy that never completes its connect: the CONNECT to it is what is under way.
  const chained = await startProxy(
    t,
    forwardConfig(
      { via: 'corp' },
      { ...LONG_DIAL, proxies: [{ name: 'corp', url: `http://127.0.0.1:${hole}`, noProxy: '<-loopback>' }] },
    ),
  );
  for (const gw of [direct, chained]) {
    const ended = () => gw.logs.events('connect.close').some((l) => l.endedBy === 'client' && l.content === 'none');
    const head = `CONNECT 127.0.0.1:${hole} HTTP/1.1\r\nHost: 127.0.0.1:${hole}\r\n\r\n`;
    await leaveDuringDial(gw.logs, gw.port(), head, ended);
    assert.deepEqual(gw.logs.events('connect.upstream_error'), [], 'nothing failed upstream');
    assert.deepEqual(gw.logs.events('connect.proxy_refused'), []);
  }
});
