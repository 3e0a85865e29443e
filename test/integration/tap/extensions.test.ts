// An extension the tap does not know (x-webkit-deflate-frame, which older Safari and some servers still agree)
// may give the RSV bits a meaning (RFC 6455 §5.2, §9): the tap cannot judge them then. It passes the frames byte for
// byte, says a marked message is compressed and not decoded, and reports no violation; with onViolation close it
// must not cut the connection. Before, every such frame was a WSG_WS_UNEXPECTED_RSV1 "but no extension was
// negotiated" line, and close mode ended a connection both peers had agreed to.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { encodeFrame } from '../../../src/websocket/encoder.ts';
import { OPCODE, RawWsClient, startRawUpstream, waitUntil } from '../../helpers/raw-ws.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';
import { byEvent, connectionLog, messages } from './support.ts';

/** A frame with RSV2 and RSV3 set too, as an extension may define them. */
function withRsv23(frame: Buffer): Buffer {
  const out = Buffer.from(frame);
  out[0] = out[0]! | 0x30;
  return out;
}

for (const onViolation of ['log', 'close'] as const) {
  test(`an extension the tap does not know: RSV bits pass unjudged (onViolation ${onViolation})`, async (t) => {
    const upstream = await startRawUpstream(t, { extensions: 'x-webkit-deflate-frame' });
    const gw = await startTestWsgate(
      t,
      reverseConfig([{ upstream: upstream.url }], { tap: { level: 'payload', onViolation } }),
    );
    const path = `/x-${onViolation}`;
    const client = await RawWsClient.connect(t, gw.port, {
      path,
      headers: ['Sec-WebSocket-Extensions: x-webkit-deflate-frame'],
    });
    const server = await upstream.connection(path);
    const toUpstream = Buffer.concat([
      encodeFrame({ opcode: OPCODE.TEXT, payload: 'one', fin: false, rsv1: true, maskKey: randomBytes(4) }),
      encodeFrame({ opcode: OPCODE.CONTINUATION, payload: 'two', rsv1: true, maskKey: randomBytes(4) }),
    ]);
    const toClient = withRsv23(encodeFrame({ opcode: OPCODE.BINARY, payload: 'three', rsv1: true }));
    await client.write(toUpstream);
    await server.write(toClient);
    await waitUntil(() => server.receivedLength === toUpstream.length, 'the frames at the upstream');
    await waitUntil(() => client.receivedLength === toClient.length, 'the frame at the client');
    assert.ok(server.received().equals(toUpstream), 'the upstream got the bytes as sent');
    assert.ok(client.received().equals(toClient), 'the client got the bytes as sent');
    await client.sendClose(1000);
    await client.waitForClose();
    const log = await connectionLog(gw.logs, path);
    assert.deepEqual(byEvent(log.lines, 'ws.violation'), [], 'no violation reported');
    assert.equal(log.close.closeCode, 1000);
    const [sent] = messages(log.lines, 'toUpstream');
    assert.equal(sent?.compressed, true);
    assert.match(String(sent?.note), /compressed/);
  });
}
