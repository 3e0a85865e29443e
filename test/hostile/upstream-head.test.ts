// An upstream's answer to a handshake whose head holds a bare CR, a bare LF or a NUL inside a line (RFC 9112 §2.2,
// RFC 9110 §5.5). wsgate reads lines up to CRLF; a client may also end a line at a bare LF, so a 101 relayed byte
// for byte with `X: a<LF>Injected: yes` told the client of a header wsgate never checked (response splitting), and
// a refusal with one was logged as relayed (ws.refused, a failed record with the upstream's status) and then, once
// writing its head failed, answered 502 and recorded a second time. Both are one 502 WSG_UPSTREAM_BAD_RESPONSE now.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeAcceptKey } from '../../src/websocket/handshake.ts';
import { assertHealthy, ENTRY_KINDS, waitForLine } from '../helpers/entry-kinds.ts';
import { defaultResponder, randomKey } from '../helpers/raw.ts';

function respond(head: string): string {
  const path = /^\S+ (\S+)/.exec(head)?.[1] ?? '/';
  const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? '';
  const accept = `Sec-WebSocket-Accept: ${computeAcceptKey(key)}`;
  if (path.endsWith('/101-lf'))
    return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${accept}\r\nX: a\nInjected: yes\r\n\r\n`;
  if (path.endsWith('/101-cr'))
    return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${accept}\r\nX: a\rInjected: yes\r\n\r\n`;
  if (path.endsWith('/403-lf')) return 'HTTP/1.1 403 Forbidden\r\nX: a\nInjected: yes\r\nContent-Length: 0\r\n\r\n';
  if (path.endsWith('/403-nul')) return 'HTTP/1.1 403 Forbidden\r\nX: a\0b\r\nContent-Length: 0\r\n\r\n';
  return defaultResponder(head);
}

for (const kind of ENTRY_KINDS) {
  test(`${kind.name}: an upstream head with a bare CR, a bare LF or a NUL in a line is one 502`, async (t) => {
    const entry = await kind.start(t, {}, { respond });
    for (const path of ['/101-lf', '/101-cr', '/403-lf', '/403-nul']) {
      const channel = await entry.open(t);
      channel.write(
        `GET ${entry.target(path)} HTTP/1.1\r\nHost: ${entry.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomKey()}\r\n\r\n`,
      );
      const res = await channel.response();
      assert.equal(res.status, 502, `${path}: ${res.statusLine}`);
      assert.equal(res.headers['x-wsgate-error'], 'WSG_UPSTREAM_BAD_RESPONSE', path);
      assert.equal(res.headers.injected, undefined, `${path}: no header of the upstream's reaches the client`);
      assert.ok(await channel.waitClosed(), `${path}: closed`);
      channel.destroy();
    }
    await waitForLine(entry.logs, 'ws.upstream_error', () => entry.logs.events('ws.upstream_error').length === 4);
    assert.deepEqual(entry.logs.events('ws.refused'), [], 'no refusal is logged as relayed');
    assert.deepEqual(entry.logs.events('ws.open'), [], 'no connection opened');
    await assertHealthy(t, entry);
  });
}
