// Opening handshakes and plain requests with a header field repeated, on every entry kind (reverse, forward
// absolute-form, CONNECT tunnel, intercepted TLS). RFC 9112 §3.2: a request with more than one Host line is answered
// 400, as nginx does ("client sent duplicate host header"). wsgate matched its route on the first Host while the
// upstream received both lines, so a server that reads the last one served a virtual host no route was asked about.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertHealthy, ENTRY_KINDS, type Entry, waitForLine } from '../helpers/entry-kinds.ts';
import { randomKey } from '../helpers/raw.ts';
import type { LogLine } from '../helpers/wsgate.ts';

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

/** Plain requests with Host twice: another value, the same value, and a lower-case second name. */
function twoHostRequests(entry: Entry): string[] {
  const head = (path: string, second: string) =>
    [`GET ${entry.target(path)} HTTP/1.1`, `Host: ${entry.host}`, 'Accept: */*', second, '', ''].join('\r\n');
  return [
    head('/two-hosts-other', 'Host: other.test'),
    head('/two-hosts-same', `Host: ${entry.host}`),
    head('/two-hosts-lower', 'host: other.test'),
  ];
}

for (const kind of ENTRY_KINDS) {
  test(`${kind.name}: a plain request with two Host lines gets 400 and never reaches the upstream`, async (t) => {
    const entry = await kind.start(t, {});
    const requests = twoHostRequests(entry);
    for (const request of requests) {
      const channel = await entry.open(t);
      channel.write(request);
      const res = await channel.response();
      assert.equal(res.status, 400, res.statusLine);
      assert.equal(res.headers['x-wsgate-error'], 'WSG_BAD_REQUEST');
      assert.equal(res.headers.connection, 'close');
      assert.match(res.body.toString(), /more than one Host line/);
      assert.ok(await channel.waitClosed(), 'the client connection is closed');
    }
    const refused = (l: LogLine) => l.code === 'WSG_BAD_REQUEST' && /Host/.test(String(l.msg));
    await waitForLine(entry.logs, 'http.client_error', refused);
    const lines = entry.logs.events('http.client_error').filter(refused);
    assert.equal(lines.length, requests.length, `one line per refusal: ${JSON.stringify(lines)}`);
    for (const line of lines) {
      assert.equal(line.level, 'warn');
      assert.equal(line.status, 400);
    }
    assert.doesNotMatch(entry.upstreamText(), /two-hosts/, 'nothing of the requests reached the upstream');
    await assertHealthy(t, entry);
  });
}
