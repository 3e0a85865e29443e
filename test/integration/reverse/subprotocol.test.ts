// A 101 that selects a subprotocol the client did not offer: RFC 6455 §4.1 has the client fail the connection.
// wsgate forwards the 101 byte for byte all the same (it does not choose for the client), but says in one warn line
// why the client will drop it, in passthrough and in the relay alike; a subprotocol that was offered says nothing.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type http from 'node:http';
import { type TestContext, test } from 'node:test';
import WebSocket from 'ws';
import { startEchoServer } from '../../../src/echo/server.ts';
import { renderTrafficLine } from '../../../src/traffic/render.ts';
import { computeAcceptKey } from '../../../src/websocket/handshake.ts';
import { RawClient, randomKey, startRawSink, wsHandshake } from '../../helpers/raw.ts';
import { openWs } from '../../helpers/ws-client.ts';
import { type LogCapture, type LogLine, reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';
import { handRules, startGate, startUpstream } from '../relay/support.ts';

const EVENT = 'ws.handshake.unoffered_protocol';

/** A `ws` upstream whose 101 selects `chosen(offered)`, whatever the client offered. */
function choosing(t: TestContext, chosen: (offered: Set<string>) => string) {
  return startUpstream(t, { handleProtocols: (offered: Set<string>, _req: http.IncomingMessage) => chosen(offered) });
}

/** A `ws` client offering `protocols`: the error it fails the connection with, or undefined once it is open. */
function clientVerdict(url: string, protocols: string[]): Promise<string | undefined> {
  const ws = new WebSocket(url, protocols);
  return new Promise((resolve) => {
    ws.once('open', () => {
      ws.terminate();
      resolve(undefined);
    });
    ws.once('error', (err) => resolve(err.message));
  });
}

async function waitForWarning(logs: LogCapture): Promise<LogLine> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const line = logs.events(EVENT)[0];
    if (line !== undefined) return line;
    if (Date.now() > deadline) throw new Error(`no ${EVENT} line; events: ${logs.lines.map((l) => l.event).join()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a 101 selecting a subprotocol the client did not offer goes on, with a warn line saying why it fails', async (t) => {
  const upstream = await choosing(t, () => 'chat.v2');
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: `ws://127.0.0.1:${upstream.port}` }]));
  const verdict = await clientVerdict(`${gw.ws}/chat`, ['chat.v1', 'chat.v0']);
  assert.match(String(verdict), /invalid subprotocol/i, 'the client got the 101 as selected, and failed it');
  const line = await waitForWarning(gw.logs);
  const opened = await gw.logs.waitFor('ws.open');
  assert.equal(line.level, 'warn');
  assert.equal(line.protocol, 'chat.v2');
  assert.equal(line.offeredProtocol, 'chat.v1,chat.v0', 'as the client sent it');
  assert.equal(line.route, 'test/route-0');
  assert.equal(line.upstream, opened.upstream);
  assert.equal(line.conn, opened.conn);
  assert.match(String(line.msg), /did not offer.*will fail the connection \(RFC 6455 §4\.1\)/);
  assert.equal(gw.logs.events(EVENT).length, 1);
  // `wsgate run --log-format json | wsgate tail` shows it, under the connection's id.
  assert.match(
    String(renderTrafficLine(JSON.stringify(line), { color: false, frames: false, conn: String(opened.conn) })),
    /⚠ unoffered subprotocol chat\.v2 from .* \(the client offered chat\.v1,chat\.v0\): the client will fail/,
  );
});

test('a 101 selecting a subprotocol when the client offered none: the 101 byte for byte, and the warn line', async (t) => {
  let sent = '';
  const sink = await startRawSink(t, (head) => {
    const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? '';
    sent = `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAcceptKey(key)}\r\nSec-WebSocket-Protocol: graphql-ws\r\n\r\n`;
    return sent;
  });
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: sink.wsUrl }]));
  const client = await RawClient.connect(t, gw.port);
  client.write(wsHandshake('/none', [], randomKey()));
  const received = await client.until((b) => b.includes('\r\n\r\n'), 'the 101');
  assert.equal(received.toString('latin1'), sent, 'the upstream’s 101 exactly');
  const line = await waitForWarning(gw.logs);
  assert.equal(line.protocol, 'graphql-ws');
  assert.equal(line.offeredProtocol, null);
  assert.match(String(line.msg), /the client offered none/);
});

test('the relay (rules that rewrite messages) says the same', async (t) => {
  const upstream = await choosing(t, () => 'other');
  const gate = await startGate(t, { upstreamPort: upstream.port, rules: () => handRules() });
  const verdict = await clientVerdict(`${gate.url}/relayed`, ['chat.v1']);
  assert.match(String(verdict), /invalid subprotocol/i);
  const line = await waitForWarning(gate.logs);
  assert.equal(line.protocol, 'other');
  assert.equal(line.offeredProtocol, 'chat.v1');
  assert.equal(line.conn, 'w1');
});

test('a subprotocol the client offered, or none selected, gives no such line', async (t) => {
  // The echo server selects the first subprotocol offered.
  const upstream = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => upstream.close());
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url }]));
  const ws = await openWs(`${gw.ws}/offered`, {}, ['chat.v1', 'chat.v0']);
  assert.equal(ws.protocol, 'chat.v1');
  const plain = await openWs(`${gw.ws}/plain`);
  assert.equal(plain.protocol, '');
  for (const open of [ws, plain]) {
    open.close();
    await once(open, 'close');
  }
  const deadline = Date.now() + 3000;
  while (gw.logs.events('ws.open').length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(gw.logs.events('ws.open').length, 2);
  assert.deepEqual(gw.logs.events(EVENT), []);
});
