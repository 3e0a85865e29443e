// Opening handshakes with a header field repeated, on every entry kind (reverse, forward absolute-form, CONNECT
// tunnel, intercepted TLS). RFC 9112 §3.2: a request with more than one Host line is answered 400, as nginx does
// ("client sent duplicate host header"). wsgate matched its route on the first Host while the upstream received
// both lines, so a server that reads the last one served a virtual host no route was asked about.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertHealthy, ENTRY_KINDS, waitForLine } from '../helpers/entry-kinds.ts';
import { randomKey } from '../helpers/raw.ts';

for (const kind of ENTRY_KINDS) {
  test(`${kind.name}: a handshake with two Host lines gets 400 and never reaches the upstream`, async (t) => {
    const entry = await kind.start(t, {});
    const channel = await entry.open(t);
    channel.write(
      [
        `GET ${entry.target('/two-hosts')} HTTP/1.1`,
        `Host: ${entry.host}`,
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 13',
        `Sec-WebSocket-Key: ${randomKey()}`,
        'Host: other.test',
        '',
        '',
      ].join('\r\n'),
    );
    const res = await channel.response();
    assert.equal(res.status, 400, res.statusLine);
    assert.equal(res.headers['x-wsgate-error'], 'WSG_HANDSHAKE_INVALID');
    assert.ok(await channel.waitClosed(), 'the client connection is closed');
    const denied = await waitForLine(entry.logs, 'upgrade.denied', (l) => /Host/.test(String(l.msg)));
    assert.equal(denied.code, 'WSG_HANDSHAKE_INVALID');
    assert.doesNotMatch(entry.upstreamText(), /two-hosts/, 'nothing of the handshake reached the upstream');
    await assertHealthy(t, entry);
  });
}
