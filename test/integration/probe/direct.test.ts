// `wsgate probe` straight to local servers: ws and wss that work, an upstream answering 200, a wrong
// Sec-WebSocket-Accept, TLS from an issuer the client does not trust (the verdict names it), and an idle cut
// without a Close frame, measured with --idle and found with --idle bisect.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startEchoServer } from '../../../src/echo/server.ts';
import { makeTestCa, startTlsEchoServer } from '../../helpers/tls.ts';
import {
  ANSWER_200,
  failure,
  probe,
  startHandshakeAnswerer,
  startIdleCutter,
  startInterimAnswerer,
  startWsEcho,
  stepOf,
  WRONG_ACCEPT,
} from './helpers.ts';

test('direct ws: every step works, the message is echoed and the subprotocol agreed', async (t) => {
  const echo = await startWsEcho(t);
  const report = await probe({ url: echo.url, noProxy: true, send: 'hello', subprotocols: ['chat'] });
  assert.equal(report.ok, true, JSON.stringify(report.verdict));
  assert.deepEqual(
    report.steps.map((s) => s.step),
    ['path', 'dns', 'tcp', 'upgrade', 'negotiate', 'message', 'ping'],
  );
  assert.equal(stepOf(report, 'message').verdict.code, 'MESSAGE_OK');
  assert.equal(stepOf(report, 'message').facts['echoed'], true);
  assert.match(stepOf(report, 'negotiate').verdict.detail, /subprotocol chat/);
  assert.equal(report.verdict.code, 'PROBE_OK');
});

test('direct ws to [::1]: every step works, and the progress names the address as [::1]:port', async (t) => {
  const echo = await startWsEcho(t, '::1');
  const started: string[] = [];
  const report = await probe({
    url: echo.url,
    noProxy: true,
    send: 'hello',
    onProgress: (p) => p.phase === 'start' && started.push(p.what),
  });
  assert.equal(report.ok, true, JSON.stringify(report.verdict));
  assert.equal(stepOf(report, 'tcp').facts['address'], '::1');
  assert.ok(started.includes(`connecting to [::1]:${echo.port}`), started.join('; '));
});

test('direct wss with the CA given: TLS facts, and a private root is a warning, not a failure', async (t) => {
  const ca = await makeTestCa('Probe Test Root');
  const server = await startTlsEchoServer(t, await ca.issue());
  const report = await probe({ url: `${server.wss}/echo`, noProxy: true, ca: [ca.cert], send: 'x' });
  assert.equal(report.ok, true, JSON.stringify(report.verdict));
  const tls = stepOf(report, 'tls');
  assert.equal(tls.verdict.code, 'TLS_PRIVATE_ROOT');
  assert.equal(tls.verdict.warn, true);
  assert.match(tls.verdict.detail, /CN=Probe Test Root/);
  assert.equal(tls.facts['alpn'], 'http/1.1');
});

test('TLS from an unknown issuer: fails at tls and names the issuer', async (t) => {
  const ca = await makeTestCa('Corp Inspection CA');
  const server = await startTlsEchoServer(t, await ca.issue());
  const report = await probe({ url: `${server.wss}/echo`, noProxy: true });
  assert.deepEqual(failure(report), { step: 'tls', code: 'TLS_UNKNOWN_ISSUER' });
  assert.match(report.verdict.detail, /CN=Corp Inspection CA, O=wsgate tests/);
  assert.match(report.verdict.hint ?? '', /NODE_EXTRA_CA_CERTS/);
});

test('an upstream that answers 200 to the handshake', async (t) => {
  const server = await startHandshakeAnswerer(t, ANSWER_200);
  const report = await probe({ url: `ws://127.0.0.1:${server.port}/socket`, noProxy: true });
  assert.deepEqual(failure(report), { step: 'upgrade', code: 'UPGRADE_NOT_WEBSOCKET' });
  assert.equal(stepOf(report, 'upgrade').facts['status'], 200);
});

test('interim 100 and 103 before the 101: read past, named in the upgrade step, and the upgrade works', async (t) => {
  const server = await startInterimAnswerer(t, [
    'HTTP/1.1 100 Continue\r\n\r\n',
    'HTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload\r\n\r\n',
  ]);
  const report = await probe({ url: `ws://127.0.0.1:${server.port}/`, noProxy: true });
  assert.equal(report.ok, true, JSON.stringify(report.verdict));
  const upgrade = stepOf(report, 'upgrade');
  assert.equal(upgrade.verdict.code, 'UPGRADE_OK');
  assert.equal(upgrade.verdict.detail, '101 Switching Protocols (after interim 100 Continue, 103 Early Hints)');
  assert.equal(upgrade.facts['status'], 101);
  assert.deepEqual(upgrade.facts['interim'], [
    { status: 100, statusLine: '100 Continue', headers: [] },
    { status: 103, statusLine: '103 Early Hints', headers: [['Link', '</app.js>; rel=preload']] },
  ]);
  assert.equal(stepOf(report, 'ping').verdict.ok, true);
  assert.equal(report.verdict.code, 'PROBE_OK');
});

test('an interim 100 before a 403: the 403 is the answer judged', async (t) => {
  const server = await startHandshakeAnswerer(
    t,
    () => 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nno way',
  );
  const report = await probe({ url: `ws://127.0.0.1:${server.port}/`, noProxy: true });
  assert.deepEqual(failure(report), { step: 'upgrade', code: 'UPGRADE_REFUSED' });
  assert.equal(stepOf(report, 'upgrade').facts['status'], 403);
  assert.match(report.verdict.detail, /^403 Forbidden.*\(after interim 100 Continue\)$/);
});

test('a 101 with a wrong Sec-WebSocket-Accept', async (t) => {
  const server = await startHandshakeAnswerer(t, WRONG_ACCEPT);
  const report = await probe({ url: `ws://127.0.0.1:${server.port}/`, noProxy: true });
  assert.deepEqual(failure(report), { step: 'upgrade', code: 'UPGRADE_BAD_ACCEPT' });
  assert.match(report.verdict.detail, /wrong Sec-WebSocket-Accept/);
});

test('--idle: a connection cut after 1.5 s of silence without a Close frame', async (t) => {
  const server = await startIdleCutter(t, 1500);
  const report = await probe({ url: `ws://127.0.0.1:${server.port}/`, noProxy: true, idle: 4000 });
  assert.deepEqual(failure(report), { step: 'idle', code: 'IDLE_CUT' });
  assert.match(report.verdict.detail, /a middlebox cut the idle connection after about 1\.[4-9] s/);
  assert.match(report.verdict.hint ?? '', /keepalive/);
});

test('--idle bisect finds the cut-off within the budget', async (t) => {
  const server = await startIdleCutter(t, 1500, 'rst');
  const report = await probe({ url: `ws://127.0.0.1:${server.port}/`, noProxy: true, idle: 'bisect', timeoutMs: 8000 });
  assert.deepEqual(failure(report), { step: 'idle', code: 'IDLE_CUT' });
  const idle = stepOf(report, 'idle');
  assert.equal(idle.facts['survivedMs'], 1000);
  const cut = idle.facts['cutMs'] as number;
  assert.ok(cut >= 1400 && cut < 2600, `cut-off measured ${cut} ms`);
  assert.ok(idle.ms < 8000, `the search took ${idle.ms} ms`);
});

test('permessage-deflate agreed with wsgate echo: a compressed answer is inflated and compared', async (t) => {
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  const text = 'compressible '.repeat(300);
  const report = await probe({ url: echo.url, noProxy: true, send: text });
  assert.equal(report.ok, true, JSON.stringify(report.verdict));
  assert.match(stepOf(report, 'negotiate').verdict.detail, /extensions permessage-deflate/);
  assert.equal(stepOf(report, 'message').facts['echoed'], true);
});

test('--idle bisect narrows a silent death (no FIN, no pong) down to a quarter second', async (t) => {
  const server = await startIdleCutter(t, 1300, 'silent');
  const report = await probe({
    url: `ws://127.0.0.1:${server.port}/`,
    noProxy: true,
    idle: 'bisect',
    timeoutMs: 20_000,
  });
  assert.deepEqual(failure(report), { step: 'idle', code: 'IDLE_DEAD' });
  const idle = stepOf(report, 'idle');
  const survived = idle.facts['survivedMs'] as number;
  const cut = idle.facts['cutMs'] as number;
  assert.ok(survived <= 1300 && cut >= 1300 && cut - survived <= 500, `survived ${survived} ms, dead after ${cut} ms`);
  assert.match(report.verdict.detail, /survived 1\.\d s, dead after 1\.\d s/);
});
