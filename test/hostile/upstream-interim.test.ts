// An upstream that sends interim 1xx responses (100 Continue, 103 Early Hints) before its answer to a handshake.
// RFC 9110 §15.2: a client must parse 1xx responses before the final one, and a proxy must forward them. wsgate
// took the first head it read for the answer: a 100 was relayed as a refusal with Connection: close, logged as
// "refused with 100", and the 101 behind it never reached the client. Now each interim head is passed on as it came
// and the answer after it decides; all the heads together stay within limits.maxHeaderBytes. An interim head is a
// message like any other (RFC 9110 §7.6.1): its hop-by-hop fields and what its Connection names end at wsgate.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeAcceptKey } from '../../src/websocket/handshake.ts';
import { assertHealthy, ENTRY_KINDS } from '../helpers/entry-kinds.ts';
import { defaultResponder, randomKey } from '../helpers/raw.ts';

const INTERIM = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload\r\n\r\n';

/** A 103 with every hop-by-hop field, and one its Connection names, around the end-to-end Link. */
const HOP_BY_HOP_103 =
  'HTTP/1.1 103 Early Hints\r\nConnection: keep-alive, X-Hop\r\nLink: </app.js>; rel=preload\r\nX-Hop: secret\r\n' +
  'Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-T\r\n' +
  'Transfer-Encoding: chunked\r\nUpgrade: h2c\r\n\r\n';

function respond(head: string): string {
  const path = /^\S+ (\S+)/.exec(head)?.[1] ?? '/';
  const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? '';
  if (path.endsWith('/interim-101'))
    return `${INTERIM}HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAcceptKey(key)}\r\n\r\n\x01\x02hi`;
  if (path.endsWith('/interim-403')) return `${INTERIM}HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno`;
  if (path.endsWith('/hop-101'))
    return `${HOP_BY_HOP_103}HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAcceptKey(key)}\r\n\r\n`;
  if (path.endsWith('/hop-200')) return `${HOP_BY_HOP_103}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`;
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

for (const kind of ENTRY_KINDS) {
  test(`${kind.name}: an interim head goes on without its hop-by-hop fields`, async (t) => {
    const entry = await kind.start(t, {}, { respond });

    const opened = await entry.open(t);
    opened.write(handshake(entry.target('/hop-101'), entry.host));
    const deadline = Date.now() + 3000;
    while (!opened.received.toString('latin1').includes('HTTP/1.1 101') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const [interim, answer] = opened.received.toString('latin1').split('HTTP/1.1 101');
    assert.ok(answer?.endsWith('\r\n\r\n'), `the 101 after the interim head: ${answer}`);
    assert.equal(
      interim,
      'HTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload\r\n\r\n',
      'the 103 keeps Link only: Connection, what it names, and the hop-by-hop fields end at wsgate',
    );
    opened.destroy();

    // Plain requests: the 103 goes on too (front/early-hints), and carries none of its hop-by-hop fields.
    const plain = await entry.open(t);
    plain.write(`GET ${entry.target('/hop-200')} HTTP/1.1\r\nHost: ${entry.host}\r\nConnection: close\r\n\r\n`);
    assert.ok(await plain.waitClosed(), 'closed after the answer');
    const text = plain.received.toString('latin1');
    assert.ok(
      text.startsWith('HTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n'),
      text,
    );
    assert.doesNotMatch(text, /x-hop|h2c|trailers|proxy-connection/i, text);
    plain.destroy();

    await assertHealthy(t, entry);
  });
}
