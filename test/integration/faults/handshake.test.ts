// Handshake faults (docs/faults.md) as a ws client sees them: rejectUpgrade answered by wsgate with the rule named,
// stripUpgrade turning the handshake into a plain GET whose answer is relayed, stripExtensions leaving the
// connection uncompressed.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { openWs, refusedHandshake, roundTrip } from '../../helpers/ws-client.ts';
import { faultRules, startEchoUpstream, startFaultGate } from './harness.ts';

test('rejectUpgrade: wsgate answers the handshake itself with the status, coded and naming the rule', async (t) => {
  const up = await startEchoUpstream(t);
  const gate = await startFaultGate(
    t,
    `ws://127.0.0.1:${up.port}`,
    faultRules({ rejectUpgrade: { rule: 'no-ws-here', status: 502 } }),
  );
  const refusal = await refusedHandshake(gate.url);
  assert.equal(refusal.status, 502);
  assert.equal(refusal.headers['x-wsgate-error'], 'WSG_FAULT_INJECTED');
  assert.match(refusal.body, /rejectUpgrade by rule "no-ws-here"/);
  assert.equal(up.headers.length, 0, 'the upstream never saw the handshake');
  assert.equal(gate.logs.events('ws.fault')[0]?.rule, 'no-ws-here');
});

test("stripUpgrade: the upstream sees a plain GET and the client gets the upstream's own answer", async (t) => {
  const seen: http.IncomingHttpHeaders[] = [];
  const plain = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<h1>a plain page, no WebSocket</h1>');
  });
  plain.on('upgrade', (_req, socket) => socket.destroy());
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => new Promise<void>((resolve) => plain.close(() => resolve())));
  const gate = await startFaultGate(
    t,
    `ws://127.0.0.1:${(plain.address() as AddressInfo).port}`,
    faultRules({ stripUpgrade: { rule: 'squid-like' } }),
  );
  const refusal = await refusedHandshake(gate.url, { 'sec-websocket-protocol': 'chat' });
  assert.equal(refusal.status, 200);
  assert.equal(refusal.body, '<h1>a plain page, no WebSocket</h1>');
  assert.equal(seen.length, 1);
  const headers = seen[0]!;
  assert.equal(headers.upgrade, undefined);
  assert.notEqual(headers.connection?.toLowerCase(), 'upgrade');
  // As through Squid 5.7, the WebSocket fields themselves still arrive.
  assert.equal(headers['sec-websocket-protocol'], 'chat');
  assert.equal(headers['sec-websocket-version'], '13');
});

test("stripUpgrade against a WebSocket-only upstream: the client gets that server's 426", async (t) => {
  const up = await startEchoUpstream(t);
  const gate = await startFaultGate(t, `ws://127.0.0.1:${up.port}`, faultRules({ stripUpgrade: { rule: 'strip' } }));
  const refusal = await refusedHandshake(gate.url);
  assert.equal(refusal.status, 426);
});

test('stripExtensions: permessage-deflate is never negotiated, the connection works uncompressed', async (t) => {
  const up = await startEchoUpstream(t, { perMessageDeflate: true });
  const gate = await startFaultGate(
    t,
    `ws://127.0.0.1:${up.port}`,
    faultRules({ stripExtensions: { rule: 'no-deflate' } }),
  );
  const ws = await openWs(gate.url, { perMessageDeflate: true });
  t.after(() => ws.terminate());
  assert.equal(ws.extensions, '', 'no extension was negotiated');
  assert.equal(up.headers[0]?.['sec-websocket-extensions'], undefined);
  assert.equal((await roundTrip(ws, 'x'.repeat(1000))).data.length, 1000);
  // Control: without the fault the same client and server negotiate it.
  const direct = await openWs(`ws://127.0.0.1:${up.port}`, { perMessageDeflate: true });
  t.after(() => direct.terminate());
  assert.match(direct.extensions, /permessage-deflate/);
});
