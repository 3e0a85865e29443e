// Header bytes outside ASCII (RFC 9110 §5.5 obs-text: a UTF-8 name in a custom header, say) pass a WebSocket
// handshake byte for byte. Node's parser hands header values over as latin1 text, one character per byte; a head
// written back as UTF-8 turned each such byte into two (c3 a9 became c3 83 c2 a9). On every entry kind the
// upstream gets the client's bytes, and a refusal's head reaches the client as the upstream wrote it; logs show
// such values as the UTF-8 text they spell.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENTRY_KINDS, REVERSE, waitForLine } from '../helpers/entry-kinds.ts';
import { randomKey } from '../helpers/raw.ts';
import { waitUntil } from '../helpers/raw-ws.ts';

/** "café" in UTF-8, as a client sends it. */
const CAFE = Buffer.from('café', 'utf8');

for (const kind of ENTRY_KINDS) {
  test(`${kind.name}: a handshake header with bytes above 0x7f reaches the upstream byte for byte`, async (t) => {
    const entry = await kind.start(t, {});
    const channel = await entry.open(t);
    channel.write(
      Buffer.concat([
        Buffer.from(
          `GET ${entry.target('/bytes')} HTTP/1.1\r\nHost: ${entry.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomKey()}\r\nX-Name: `,
        ),
        CAFE,
        Buffer.from('\r\n\r\n'),
      ]),
    );
    await waitUntil(() => channel.received.includes('\r\n\r\n'), 'the 101', 5000);
    assert.match(channel.received.toString('latin1'), /^HTTP\/1\.1 101 /);
    const sent = entry.upstreamText();
    const line = /\r\nX-Name: ([^\r]*)\r\n/.exec(sent)?.[1];
    assert.equal(Buffer.from(line ?? '', 'latin1').toString('hex'), CAFE.toString('hex'));
    // The open line shows the value as the text its bytes spell, not one character per byte ("cafÃ©").
    const open = await waitForLine(entry.logs, 'ws.open', () => true);
    const request = open['request'] as [string, string][];
    assert.deepEqual(
      request.find(([name]) => name === 'X-Name'),
      ['X-Name', 'café'],
    );
  });
}

for (const kind of ENTRY_KINDS) {
  test(`${kind.name}: a plain request's header with bytes above 0x7f reaches the upstream byte for byte`, async (t) => {
    const entry = await kind.start(t, {});
    const channel = await entry.open(t);
    channel.write(
      Buffer.concat([
        Buffer.from(`GET ${entry.target('/plain')} HTTP/1.1\r\nHost: ${entry.host}\r\nX-Name: `),
        CAFE,
        Buffer.from('\r\nConnection: close\r\n\r\n'),
      ]),
    );
    const res = await channel.response();
    assert.equal(res.status, 200);
    const line = /\r\nx-name: ([^\r]*)\r\n/i.exec(entry.upstreamText())?.[1];
    assert.equal(Buffer.from(line ?? '', 'latin1').toString('hex'), CAFE.toString('hex'));
  });
}

test('reverse: a refused handshake relays the upstream head byte for byte, bytes above 0x7f included', async (t) => {
  const entry = await REVERSE.start(
    t,
    {},
    {
      // The sink writes its answer as UTF-8: "é" goes out as c3 a9.
      respond: () => 'HTTP/1.1 403 Forbidden\r\nX-Why: café\r\nContent-Length: 0\r\n\r\n',
    },
  );
  const channel = await entry.open(t);
  channel.write(
    `GET /refused HTTP/1.1\r\nHost: ${entry.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomKey()}\r\n\r\n`,
  );
  const res = await channel.response();
  assert.equal(res.status, 403);
  const line = /\r\nX-Why: ([^\r]*)\r\n/.exec(channel.received.toString('latin1'))?.[1];
  assert.equal(Buffer.from(line ?? '', 'latin1').toString('hex'), CAFE.toString('hex'));
});
