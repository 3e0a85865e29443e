// `wsgate probe` against wsgate's own faults beyond the profiles (profiles.test.ts): each fault on a forward
// listener, and what the probe must conclude from it — the step, the code, and advice that fits what happened.
// Pings swallowed (swallowPings) or answered late (latency) must not read as a dead connection; an answer the
// proxy wrote itself (X-Wsgate-Error, as X-Squid-Error from Squid) is the proxy refusing, not the server; a 5xx from
// an intercepting proxy is the proxy's error.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { makeTestCa, startTlsEchoServer } from '../../helpers/tls.ts';
import { forwardConfig, startProxy, startTcpServer } from '../forward/helpers.ts';
import { failure, probe, startHalfOpenRelay, startTicker, startWsEcho, stepOf } from './helpers.ts';

/** A forward wsgate whose listener applies one rule with these actions. */
function withRule(actions: unknown[]) {
  return forwardConfig({}, { listener: { rules: ['fault'] }, rules: [{ name: 'fault', actions }] });
}

test('swallowPings, --idle: pings get no pong from the start, so the silence is not read as a dead connection', async (t) => {
  const echo = await startWsEcho(t);
  const gw = await startProxy(t, withRule([{ swallowPings: true }]));
  const report = await probe({ url: echo.url, proxy: gw.url(), idle: 500, timeoutMs: 500 });
  assert.equal(stepOf(report, 'ping').verdict.code, 'PING_NO_PONG');
  const idle = stepOf(report, 'idle').verdict;
  assert.equal(idle.code, 'IDLE_SURVIVED', JSON.stringify(idle));
  assert.equal(idle.warn, true);
  assert.match(idle.detail, /no pong/);
  assert.equal(report.ok, true, JSON.stringify(report.verdict));
});

test('swallowPings with an idleCut: the cut is still seen, as a FIN during the silence', async (t) => {
  const echo = await startWsEcho(t);
  const gw = await startProxy(t, withRule([{ swallowPings: true }, { idleCut: '600ms' }]));
  const report = await probe({ url: echo.url, proxy: gw.url(), idle: 2000, timeoutMs: 300 });
  assert.deepEqual(failure(report), { step: 'idle', code: 'IDLE_CUT' });
});

test('swallowPings, --idle bisect: tries without a FIN, RST or Close count as survived, not dead', async (t) => {
  const echo = await startWsEcho(t);
  const gw = await startProxy(t, withRule([{ swallowPings: true }]));
  const report = await probe({ url: echo.url, proxy: gw.url(), idle: 'bisect', timeoutMs: 2000 });
  const idle = stepOf(report, 'idle');
  assert.equal(idle.verdict.code, 'IDLE_SURVIVED', JSON.stringify(idle));
  assert.equal(idle.verdict.warn, true);
  assert.equal(idle.facts['survivedMs'], 1000);
  assert.equal(report.ok, true);
});

test('latency 1.1 s, --idle bisect: a pong that takes as long as the first ping did is an answer, not a silent death', async (t) => {
  const echo = await startWsEcho(t);
  const gw = await startProxy(t, withRule([{ latency: '1100ms' }]));
  const report = await probe({ url: echo.url, proxy: gw.url(), idle: 'bisect', timeoutMs: 8000 });
  const idle = stepOf(report, 'idle');
  assert.ok((stepOf(report, 'ping').facts['rttMs'] as number) >= 2200);
  assert.equal(idle.verdict.code, 'IDLE_SURVIVED', JSON.stringify(idle));
  assert.equal(idle.facts['survivedMs'], 1000);
});

test('rejectConnect 403 on an absolute-form ws:// handshake: the proxy refused it, not the server', async (t) => {
  const echo = await startWsEcho(t);
  const gw = await startProxy(t, withRule([{ rejectConnect: 403 }]));
  const report = await probe({ url: echo.url, proxy: gw.url() });
  assert.deepEqual(failure(report), { step: 'upgrade', code: 'UPGRADE_REFUSED' });
  assert.match(
    report.verdict.detail,
    /from wsgate: the proxy answered the handshake itself, it never reached the server/,
  );
  assert.doesNotMatch(report.verdict.hint ?? '', /Origin/);
  assert.match(report.verdict.hint ?? '', /proxy/);
});

test('rejectUpgrade 426 on the proxy: the proxy answered, so nothing was stripped on the way to the server', async (t) => {
  const echo = await startWsEcho(t);
  const gw = await startProxy(t, withRule([{ rejectUpgrade: 426 }]));
  const report = await probe({ url: echo.url, proxy: gw.url() });
  assert.deepEqual(failure(report), { step: 'upgrade', code: 'UPGRADE_REFUSED' });
  assert.match(report.verdict.detail, /the proxy answered the handshake itself/);
});

test('ssl-inspect with --insecure: the intercepting proxy’s 502 is a proxy error, with its hint', async (t) => {
  // The server's CA is one the proxy does not trust, so wsgate (inside the intercepted tunnel) answers 502.
  const ca = await makeTestCa();
  const server = await startTlsEchoServer(t, await ca.issue());
  const gw = await startProxy(t, forwardConfig({ profile: 'ssl-inspect' }));
  const report = await probe({ url: `${server.wss}/echo`, proxy: gw.url(), ca: [ca.cert], insecure: true });
  assert.equal(stepOf(report, 'tls').verdict.code, 'TLS_INTERCEPTED');
  assert.deepEqual(failure(report), { step: 'upgrade', code: 'UPGRADE_PROXY_ERROR' });
  assert.match(report.verdict.hint ?? '', /proxy/);
});

test('--idle bisect stays within its budget when a new connection stalls (a proxy that stops accepting work)', async (t) => {
  // The probe's own connection and the first try reach the echo server; later connections are accepted and never
  // answered, as a proxy at its connection limit may do.
  const echo = await startWsEcho(t);
  let accepted = 0;
  const gate = await startTcpServer(t, (socket) => {
    accepted += 1;
    if (accepted > 2) return;
    const upstream = net.connect(echo.port, '127.0.0.1');
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
    socket.pipe(upstream).pipe(socket);
  });
  const began = performance.now();
  const report = await probe({ url: `ws://127.0.0.1:${gate.port}/echo`, idle: 'bisect', timeoutMs: 6000 });
  const idle = stepOf(report, 'idle');
  // The 1 s try survives; the 2 s one fits the budget, and its connection stalls.
  assert.equal(idle.verdict.code, 'IDLE_BISECT_INCOMPLETE', JSON.stringify(idle));
  assert.ok(idle.ms <= 6000 + 500, `the search took ${idle.ms} ms with a budget of 6000 ms`);
  assert.ok(performance.now() - began < 8000);
});

test('a path half-open from the handshake on, with --send: nothing comes back, so PING_HALF_OPEN, not PROBE_OK', async (t) => {
  const echo = await startWsEcho(t);
  for (const direction of ['toServer', 'toClient'] as const) {
    const relay = await startHalfOpenRelay(t, echo.port, direction);
    const url = `ws://127.0.0.1:${relay.port}/echo`;
    const report = await probe({ url, send: 'hello', idle: 500, timeoutMs: 500 });
    const message = stepOf(report, 'message').verdict;
    assert.equal(message.code, 'MESSAGE_NO_REPLY', direction);
    assert.equal(message.warn, true);
    assert.equal(report.ok, false, `${direction}: ${JSON.stringify(report.verdict)}`);
    assert.deepEqual(failure(report), { step: 'ping', code: 'PING_HALF_OPEN' });
    assert.match(report.verdict.detail, /nothing came back/);
    // The idle step would only wait on a connection already known to carry nothing back.
    assert.deepEqual(report.steps.map((s) => s.step).slice(-3), ['negotiate', 'message', 'ping']);
  }
});

test('swallowPings with --send: the echo comes back, so a missing pong stays a warning and the probe passes', async (t) => {
  const echo = await startWsEcho(t);
  const gw = await startProxy(t, withRule([{ swallowPings: true }]));
  const report = await probe({ url: echo.url, proxy: gw.url(), send: 'hello', timeoutMs: 500 });
  assert.equal(stepOf(report, 'message').verdict.code, 'MESSAGE_OK');
  assert.equal(stepOf(report, 'ping').verdict.code, 'PING_NO_PONG');
  assert.equal(report.ok, true, JSON.stringify(report.verdict));
});

test('maxLifetime while the server pushes messages: the cut is not called idle (IDLE_CUT_BUSY), with no keepalive advice', async (t) => {
  const feed = await startTicker(t, 100);
  const gw = await startProxy(t, withRule([{ maxLifetime: '1500ms' }]));
  const report = await probe({ url: feed.url, proxy: gw.url(), idle: 4000, timeoutMs: 1000 });
  assert.deepEqual(failure(report), { step: 'idle', code: 'IDLE_CUT_BUSY' });
  assert.match(
    report.verdict.detail,
    /not idle: the server sent \d+ frames during the silence, the last \d+ ms before the cut/,
  );
  assert.doesNotMatch(report.verdict.hint ?? '', /keepalive below|every \d+/);
  assert.match(report.verdict.hint ?? '', /maxLifetime/);
  const end = stepOf(report, 'idle').facts['end'] as { how: string; traffic?: { frames: number } };
  assert.equal(end.how, 'fin');
  assert.ok((end.traffic?.frames ?? 0) >= 5, JSON.stringify(end));
});

test('idleCut after the server stops pushing: still IDLE_CUT, timed from its last message, not from the probe’s silence', async (t) => {
  const feed = await startTicker(t, 150, 4);
  const gw = await startProxy(t, withRule([{ idleCut: '800ms' }]));
  const report = await probe({ url: feed.url, proxy: gw.url(), idle: 4000, timeoutMs: 1000 });
  assert.deepEqual(failure(report), { step: 'idle', code: 'IDLE_CUT' });
  // About 0.6 s of ticks, then 0.8 s quiet: the cut-off is the 0.8 s, not the 1.4 s since the silence began.
  assert.match(report.verdict.detail, /after about 0\.[789] s without traffic/);
});
