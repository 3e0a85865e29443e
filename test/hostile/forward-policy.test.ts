// Hostile cases 5-7 for the other doors of a forward listener: absolute-form requests and absolute-form WebSocket
// handshakes (test/integration/forward/access.test.ts has them for CONNECT). A port browsers block (22) with the
// default policy, and loopback in every spelling with `destinations: public`, get 403 with a forward.denied line
// naming the reason, and nothing is dialled (the sink on 127.0.0.1 accepts no connection). With auth configured, no
// or wrong credentials get 407 with Proxy-Authenticate, and the credentials never reach the log. Each proxy serves a
// healthy request afterwards. (Inside a tunnel the destination is the CONNECT target, already judged; an intercepted
// SNI naming a denied host is in tls-intercept.test.ts.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomKey, startRawSink } from '../helpers/raw.ts';
import { rawExchange } from '../helpers/servers.ts';
import { forwardConfig, startProxy, type TestProxy } from '../integration/forward/helpers.ts';

const kinds = [
  ['HTTP', 'Connection: close\r\n'],
  [
    'WebSocket',
    `Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomKey()}\r\n`,
  ],
] as const;

async function send(gw: TestProxy, target: string, extra: string, headers = ''): Promise<string> {
  const raw = await rawExchange(
    gw.port(),
    `GET http://${target}/x HTTP/1.1\r\nHost: ${target}\r\n${headers}${extra}\r\n`,
  );
  return raw.toString('latin1');
}

async function assertHealthy(gw: TestProxy, authority: string, headers = ''): Promise<void> {
  const ok = await send(gw, authority, 'Connection: close\r\n', headers);
  assert.match(ok, /^HTTP\/1\.1 200 /, ok.slice(0, 200));
}

test('case 5: an absolute-form request or handshake to port 22 gets 403 reason=port, nothing dialled', async (t) => {
  const sink = await startRawSink(t);
  const gw = await startProxy(t, forwardConfig(), { names: ['allowed.test'] });
  for (const [what, extra] of kinds) {
    const raw = await send(gw, 'allowed.test:22', extra);
    assert.match(raw, /^HTTP\/1\.1 403 /, `${what}: ${raw.slice(0, 200)}`);
    assert.match(raw, /x-wsgate-error: WSG_FORWARD_DENIED/i);
    assert.match(raw, /non-web service port/);
  }
  const lines = gw.logs.events('forward.denied');
  assert.deepEqual(
    lines.map((l) => [l.reason, l.code, l.level]),
    kinds.map(() => ['port', 'WSG_FORWARD_DENIED', 'warn']),
  );
  await assertHealthy(gw, `127.0.0.1:${sink.port}`);
  assert.equal(sink.accepted(), 1, 'only the healthy request was dialled');
});

test('case 6: with destinations: public, loopback in every spelling gets 403 reason=destination', async (t) => {
  const sink = await startRawSink(t);
  const gw = await startProxy(t, forwardConfig({ destinations: 'public' }));
  const p = sink.port;
  const targets = [
    `127.0.0.2:${p}`,
    `[::1]:${p}`,
    `[::ffff:127.0.0.1]:${p}`,
    `2130706433:${p}`,
    `0x7f.1:${p}`,
    `127.1:${p}`,
    `localhost:${p}`,
  ];
  for (const target of targets) {
    for (const [what, extra] of kinds) {
      const raw = await send(gw, target, extra);
      assert.match(raw, /^HTTP\/1\.1 403 /, `${target} ${what}: ${raw.slice(0, 200)}`);
      assert.match(raw, /x-wsgate-error: WSG_FORWARD_DENIED/i);
      assert.match(raw, /loopback address/, `${target} ${what}`);
    }
  }
  // Addresses are judged before anything else: one forward.denied line each (the name's request adds one).
  const lines = gw.logs.events('forward.denied');
  assert.equal(lines.length, (targets.length - 1) * kinds.length + 1);
  assert.ok(lines.every((l) => l.reason === 'destination' && l.level === 'warn'));
  // A name is judged by what it resolves to, when it is dialled: the same 403, and a forward.denied line for the
  // request (the handshake's is its upstream error, with the code).
  const named = gw.logs.lines.filter((l) => String(l.target ?? l.upstream).includes(`localhost:${p}`));
  assert.deepEqual(
    named.filter((l) => l.level === 'warn').map((l) => [l.event, l.code, l.reason]),
    [
      ['forward.denied', 'WSG_FORWARD_DENIED', 'destination'],
      ['ws.upstream_error', 'WSG_FORWARD_DENIED', undefined],
    ],
  );
  assert.equal(sink.accepted(), 0, 'no connection to any spelling of loopback');
  // The same proxy still proxies a request it may: a loopback-bound listener with the default policy beside it.
  const open = await startProxy(t, forwardConfig());
  await assertHealthy(open, `127.0.0.1:${p}`);
});

test('case 7: an absolute-form request or handshake without or with wrong proxy credentials gets 407; never logged', async (t) => {
  const sink = await startRawSink(t);
  const password = 'hostile-case-7-password';
  const gw = await startProxy(t, forwardConfig({ auth: { realm: 'dev proxy', users: [{ name: 'dev', password }] } }));
  const authority = `127.0.0.1:${sink.port}`;
  const wrong = Buffer.from(`dev:${password}x`).toString('base64');
  const right = Buffer.from(`dev:${password}`).toString('base64');
  for (const [what, extra] of kinds) {
    for (const headers of ['', `Proxy-Authorization: Basic ${wrong}\r\n`]) {
      const raw = await send(gw, authority, extra, headers);
      assert.match(raw, /^HTTP\/1\.1 407 /, `${what}: ${raw.slice(0, 200)}`);
      assert.match(raw, /proxy-authenticate: Basic realm="dev proxy"/i);
    }
  }
  assert.deepEqual(
    gw.logs.events('forward.auth_required').map((l) => l.reason),
    ['missing', 'invalid', 'missing', 'invalid'],
  );
  assert.equal(sink.accepted(), 0);
  await assertHealthy(gw, authority, `Proxy-Authorization: Basic ${right}\r\n`);
  const all = gw.logs.raw.join('\n');
  for (const secret of [password, wrong, right])
    assert.ok(!all.includes(secret), `a secret reached the log: ${secret}`);
  // Proxy-Authorization stops at wsgate (case 16).
  assert.doesNotMatch(sink.text(), /proxy-authorization/i);
});
