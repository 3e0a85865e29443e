// An upstream that sends interim 1xx responses (100 Continue, 103 Early Hints) before its answer to a handshake.
// RFC 9110 §15.2: a client must parse 1xx responses before the final one, and a proxy must forward them. wsgate
// took the first head it read for the answer: a 100 was relayed as a refusal with Connection: close, logged as
// "refused with 100", and the 101 behind it never reached the client. Now each interim head is passed on as it came
// and the answer after it decides; all the heads together stay within limits.maxHeaderBytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeAcceptKey } from '../../src/websocket/handshake.ts';
import { assertHealthy, ENTRY_KINDS } from '../helpers/entry-kinds.ts';
import { defaultResponder, randomKey } from '../helpers/raw.ts';

const INTERIM = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload\r\n\r\n';

function respond(head: string): string {
  const path = /^\S+ (\S+)/.exec(head)?.[1] ?? '/';
  const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? '';
  if (path.endsWith('/interim-101'))
    return `${INTERIM}HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAcceptKey(key)}\r\n\r\n\x01\x02hi`;
  if (path.endsWith('/interim-403')) return `${INTERIM}HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno`;
  if (path.endsWith('/interim-flood')) return 'HTTP/1.1 100 Continue\r\n\r\n'.repeat(200);
  return defaultResponder(head);
}

function handshake(target: string, host: string): string {
  return `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomKey()}\r\n\r\n`;
}

for (const kind of ENTRY_KINDS) {
  test(`${kind.name}: interim 1xx heads before the upstream's answer are passed on, the answer decides`, async (t) => {
    const entry = await kind.start(t, { maxHeaderBytes: '2KiB' }, { respond });

    const opened = await entry.open(t);
    opened.write(handshake(entry.target('/interim-101'), entry.host));
    const expected = `${INTERIM}HTTP/1.1 101 Switching Protocols\r\n`;
    const deadline = Date.now() + 3000;
    while (!opened.received.toString('latin1').includes('\x01\x02hi') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const text = opened.received.toString('latin1');
    assert.ok(text.startsWith(expected), `the interim heads, then the 101: ${JSON.stringify(text)}`);
    assert.ok(text.endsWith('\r\n\r\n\x01\x02hi'), 'and the frame behind it');
    assert.equal(opened.closed, false, 'the WebSocket is open');
    assert.equal(entry.logs.events('ws.refused').length, 0);
    opened.destroy();

    const refused = await entry.open(t);
    refused.write(handshake(entry.target('/interim-403'), entry.host));
    assert.ok(await refused.waitClosed(), 'closed after the refusal');
    assert.match(
      refused.received.toString('latin1'),
      /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 103 [\s\S]*HTTP\/1\.1 403 /,
    );
    assert.deepEqual(
      entry.logs.events('ws.refused').map((l) => l.status),
      [403],
    );

    const flooded = await entry.open(t);
    flooded.write(handshake(entry.target('/interim-flood'), entry.host));
    assert.ok(await flooded.waitClosed(), 'closed after the flood');
    const tail = flooded.received.toString('latin1');
    assert.match(tail, /HTTP\/1\.1 502 [\s\S]*X-Wsgate-Error: WSG_UPSTREAM_BAD_RESPONSE/i);
    assert.ok(tail.indexOf('HTTP/1.1 502') <= 2048, 'no more than maxHeaderBytes of interim heads went on');

    await assertHealthy(t, entry);
  });
}
