// Request targets that Node's HTTP parser accepts but URL parsers reject or read differently (issue 11, item 1):
// once they made handlers throw (a 500 at best, the process at worst). Every entry kind — reverse, forward
// absolute-form, plain in a CONNECT tunnel, intercepted TLS — now refuses each at the front, for plain requests and
// WebSocket handshakes alike: 400 WSG_BAD_REQUEST_TARGET, the connection closed, one `http.bad_target` warn line,
// nothing sent upstream, and the same wsgate still serving a healthy request afterwards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertHealthy, ENTRY_KINDS, waitForLine } from '../helpers/entry-kinds.ts';
import { randomKey } from '../helpers/raw.ts';

/** [method, target]: each parses as HTTP/1.1 but is no usable target. */
const BAD_TARGETS: readonly [method: string, target: string][] = [
  ['GET', '//['],
  ['GET', '//'],
  ['GET', '//host:99999/'],
  ['GET', '//evil.test/x'],
  ['GET', '/a#fragment'],
  ['GET', '*'],
  ['OPTIONS', '*'],
  ['GET', 'http://[::1'],
  ['GET', 'http://host:99999/'],
  ['GET', 'http://'],
  ['GET', 'http:///x'],
  ['GET', 'http://%zz/'],
  ['GET', 'http://[v1.x]/'],
  ['GET', 'http://1.2.3.4.5/'],
  ['GET', 'ftp://host/x'],
  ['GET', 'http://user:hunter2@host/x'],
  // A forward proxy's cases too: a fragment after an absolute URL, a user without a password, an empty host.
  ['GET', 'http://host/x#frag'],
  ['GET', 'http://user@host/x'],
  ['GET', 'http://:80/x'],
];

const UPGRADE_HEADERS = (): string =>
  `Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomKey()}\r\n`;

for (const kind of ENTRY_KINDS) {
  for (const upgrade of [false, true]) {
    const what = upgrade ? 'WebSocket handshakes' : 'requests';
    test(`bad request targets in ${what} get 400 WSG_BAD_REQUEST_TARGET [${kind.name}]`, async (t) => {
      const entry = await kind.start(t, {});
      for (const [method, target] of BAD_TARGETS) {
        const shown = `${method} ${target}`;
        const channel = await entry.open(t);
        const extra = upgrade ? UPGRADE_HEADERS() : 'Connection: close\r\n';
        channel.write(`${method} ${target} HTTP/1.1\r\nHost: ${entry.host}\r\n${extra}\r\n`);
        const res = await channel.response();
        assert.equal(res.status, 400, `${shown}: ${res.statusLine} ${res.body.toString('latin1')}`);
        assert.equal(res.headers['x-wsgate-error'], 'WSG_BAD_REQUEST_TARGET', shown);
        assert.equal(res.headers.connection, 'close', shown);
        assert.ok(await channel.waitClosed(), `${shown}: wsgate closed the connection`);
        channel.destroy();
      }
      const lines = entry.logs.events('http.bad_target');
      assert.equal(lines.length, BAD_TARGETS.length, JSON.stringify(lines));
      for (const line of lines) {
        assert.equal(line.level, 'warn');
        assert.equal(line.code, 'WSG_BAD_REQUEST_TARGET');
        assert.equal(line.status, 400);
      }
      // The target is logged, without the password it carried.
      const userinfo = await waitForLine(entry.logs, 'http.bad_target', (l) => String(l.target).includes('user:'));
      assert.doesNotMatch(JSON.stringify(userinfo), /hunter2/);
      // A plain request's access line names its target too (a refused handshake has none).
      if (!upgrade) await waitForLine(entry.logs, 'http.access', (l) => JSON.stringify(l).includes('user:'));
      assert.doesNotMatch(JSON.stringify(entry.logs.lines), /hunter2/, 'nor in the access line or any other');
      assert.equal(entry.logs.events('internal.error').length, 0, 'no handler threw');
      assert.equal(entry.upstreamText(), '', 'the upstream received nothing');
      await assertHealthy(t, entry);
    });
  }

  test(`an absolute-form request reaches the upstream in origin-form [${kind.name}]`, async (t) => {
    const entry = await kind.start(t, {});
    const channel = await entry.open(t);
    const authority = entry.host;
    channel.write(`GET http://${authority}/abs/x?q=1 HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`);
    const res = await channel.response();
    assert.equal(res.status, 200, `${res.statusLine} ${res.body.toString('latin1')}`);
    assert.match(entry.upstreamText(), /^GET \/abs\/x\?q=1 HTTP\/1\.1\r\n/);
  });

  // Found by test/fuzz/request-line.test.ts: inside a tunnel the path "//" was resolved against the origin as a
  // protocol-relative URL, which threw (500 WSG_INTERNAL) instead of being forwarded.
  test(`an absolute-form target whose path starts with "//" is answered, never an internal error [${kind.name}]`, async (t) => {
    const entry = await kind.start(t, {});
    const authority = entry.host;
    for (const path of ['//', '//x']) {
      const channel = await entry.open(t);
      channel.write(`GET http://${authority}${path} HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`);
      const res = await channel.response();
      const shown = `${path}: ${res.statusLine} ${res.body.toString('latin1')}`;
      assert.ok(res.status === 200 || res.status === 400, shown);
      // Forwarded, the path arrives as sent (never re-read as a host); refused, nothing arrives.
      if (res.status === 200) assert.ok(entry.upstreamText().includes(`GET ${path} HTTP/1.1\r\n`), shown);
    }
    assert.equal(entry.logs.events('internal.error').length, 0, 'no handler threw');
    await assertHealthy(t, entry);
  });
}
