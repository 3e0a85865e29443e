// The probe's verdicts from values alone: the proxy product from headers, CONNECT answers, Upgrade answers,
// negotiation, idle endings, TLS outcomes and the --compare diff.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HeaderPairs } from '../../../src/http/head.ts';
import { diffHandshakes, judgeCompare } from '../../../src/probe/compare.ts';
import { judgeConnect, judgeIdle, judgeNegotiation, judgeUpgrade, productOf } from '../../../src/probe/judge.ts';
import { type ChainCert, judgeTls, type TlsFacts } from '../../../src/probe/judge-tls.ts';
import { computeAcceptKey } from '../../../src/websocket/handshake.ts';

test('productOf names the proxy from Via, Server, X-Squid-Error and x-wsgate-error', () => {
  const cases: [HeaderPairs, string | undefined][] = [
    [[['Via', '1.1 proxy.corp (squid/6.10)']], 'Squid 6.10'],
    [[['Server', 'squid/5.7']], 'Squid 5.7'],
    [[['X-Squid-Error', 'ERR_ACCESS_DENIED 0']], 'Squid'],
    [[['x-wsgate-error', 'WSG_PROXY_AUTH_REQUIRED']], 'wsgate'],
    [[['Via', '1.1 wsgate-a1b2c3']], 'wsgate'],
    [[['Server', 'Zscaler/6.2']], 'Zscaler'],
    [[['Server', 'nginx/1.22.1']], 'nginx 1.22.1'],
    [[['Content-Type', 'text/html']], undefined],
  ];
  for (const [headers, expected] of cases) assert.equal(productOf(headers), expected, JSON.stringify(headers));
});

test('judgeConnect: 200, 407 with schemes, 403 on 443 and elsewhere, 502', () => {
  const base = { headers: [] as HeaderPairs, port: 443, hadCredentials: false };
  assert.equal(judgeConnect({ ...base, status: 200, statusLine: '200 Connection established' }).code, 'CONNECT_OK');
  const auth = judgeConnect({
    ...base,
    status: 407,
    statusLine: '407 Proxy Authentication Required',
    headers: [['Proxy-Authenticate', 'NTLM']],
  });
  assert.equal(auth.code, 'CONNECT_AUTH_REQUIRED');
  assert.match(auth.hint ?? '', /not Basic.*cntlm/);
  const wrong = judgeConnect({
    ...base,
    hadCredentials: true,
    status: 407,
    statusLine: '407',
    headers: [['Proxy-Authenticate', 'Basic realm="x"']],
  });
  assert.match(wrong.hint ?? '', /rejected the user and password/);
  assert.equal(judgeConnect({ ...base, status: 403, statusLine: '403 Forbidden' }).code, 'CONNECT_REFUSED');
  assert.equal(
    judgeConnect({ ...base, port: 8080, status: 403, statusLine: '403 Forbidden' }).code,
    'CONNECT_REFUSED_PORT',
  );
  assert.equal(judgeConnect({ ...base, status: 502, statusLine: '502 Bad Gateway' }).code, 'CONNECT_UPSTREAM_FAILED');
  assert.equal(judgeConnect({ ...base, status: 400, statusLine: '400 Bad Request' }).code, 'CONNECT_FAILED');
});

test('judgeUpgrade: 101 good and bad, stripped, 200, refusals, proxy errors', () => {
  const key = 'dGhlIHNhbXBsZSBub25jZQ==';
  const good: HeaderPairs = [
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Accept', computeAcceptKey(key)],
  ];
  const base = { key, proxied: false, hadCredentials: false };
  const up = (status: number, headers: HeaderPairs, extra: Partial<Parameters<typeof judgeUpgrade>[0]> = {}) =>
    judgeUpgrade({ ...base, status, statusLine: String(status), headers, ...extra }).code;
  assert.equal(up(101, good), 'UPGRADE_OK');
  assert.equal(up(101, [good[0]!, good[1]!, ['Sec-WebSocket-Accept', 'x']]), 'UPGRADE_BAD_ACCEPT');
  assert.equal(up(101, [good[0]!, good[1]!]), 'UPGRADE_BAD_ACCEPT');
  assert.equal(up(101, [good[2]!]), 'UPGRADE_BAD_101');
  assert.equal(up(426, [['Upgrade', 'websocket']]), 'UPGRADE_STRIPPED');
  assert.equal(up(400, [], { proxied: true }), 'UPGRADE_STRIPPED');
  assert.equal(up(200, [['Via', '1.1 box']]), 'UPGRADE_STRIPPED');
  assert.equal(up(200, []), 'UPGRADE_NOT_WEBSOCKET');
  assert.equal(up(403, []), 'UPGRADE_REFUSED');
  assert.equal(up(403, [], { proxied: true }), 'UPGRADE_REFUSED');
  assert.equal(up(404, []), 'UPGRADE_REFUSED');
  assert.equal(up(407, [['Proxy-Authenticate', 'Basic realm="x"']], { proxied: true }), 'UPGRADE_AUTH_REQUIRED');
  assert.equal(up(503, [['Server', 'squid']], { proxied: true }), 'UPGRADE_PROXY_ERROR');
  const squid = judgeUpgrade({
    ...base,
    proxied: true,
    status: 400,
    statusLine: '400',
    headers: [['Via', '1.1 p (squid/5.7)']],
  });
  assert.match(squid.hint ?? '', /http_upgrade_request_protocols websocket allow all/);
});

test('judgeNegotiation: RFC 6455 §4.1 failures and what is fine', () => {
  const n = (offeredProtocols: string[], headers: HeaderPairs) =>
    judgeNegotiation({ offeredProtocols, offeredExtensions: ['permessage-deflate'], headers }).code;
  assert.equal(n([], []), 'NEGOTIATE_OK');
  assert.equal(n(['chat'], [['Sec-WebSocket-Protocol', 'chat']]), 'NEGOTIATE_OK');
  assert.equal(n([], [['Sec-WebSocket-Protocol', 'chat']]), 'NEGOTIATE_SUBPROTOCOL_UNOFFERED');
  assert.equal(n(['a'], [['Sec-WebSocket-Protocol', 'b']]), 'NEGOTIATE_SUBPROTOCOL_UNOFFERED');
  assert.equal(n(['chat'], []), 'NEGOTIATE_SUBPROTOCOL_MISSING');
  assert.equal(n([], [['Sec-WebSocket-Extensions', 'x-webkit-deflate-frame']]), 'NEGOTIATE_EXTENSION_UNOFFERED');
  assert.equal(n([], [['Sec-WebSocket-Extensions', 'permessage-deflate; server_no_context_takeover']]), 'NEGOTIATE_OK');
});

test('judgeUpgrade: an error page the proxy wrote itself is the proxy refusing, not the server nor a stripped Upgrade', () => {
  const base = { key: 'k', proxied: true, hadCredentials: false };
  const squid403 = judgeUpgrade({
    ...base,
    status: 403,
    statusLine: '403 Forbidden',
    headers: [
      ['Server', 'squid/5.7'],
      ['X-Squid-Error', 'ERR_ACCESS_DENIED 0'],
    ],
  });
  assert.equal(squid403.code, 'UPGRADE_REFUSED');
  assert.match(squid403.detail, /from Squid 5\.7: the proxy answered the handshake itself/);
  assert.doesNotMatch(squid403.hint ?? '', /Origin/);
  const wsgate426 = judgeUpgrade({
    ...base,
    status: 426,
    statusLine: '426 Upgrade Required',
    headers: [
      ['Upgrade', 'websocket'],
      ['X-Wsgate-Error', 'WSG_FAULT_INJECTED'],
    ],
  });
  assert.equal(wsgate426.code, 'UPGRADE_REFUSED');
  // Without a proxy on the path the same answer is the server's (a wsgate reverse listener's) refusal.
  const direct = judgeUpgrade({
    ...base,
    proxied: false,
    status: 403,
    statusLine: '403',
    headers: [['X-Wsgate-Error', 'X']],
  });
  assert.match(direct.hint ?? '', /Origin/);
});

test('judgeIdle: survived, Close, FIN/RST cut, silently dead; the keepalive hint is below the cut-off', () => {
  assert.equal(judgeIdle({ how: 'alive', afterMs: 5000, pongMs: 2 }, 5000).code, 'IDLE_SURVIVED');
  const closed = judgeIdle({ how: 'close', afterMs: 30_000, code: 1001, reason: 'idle' }, 60_000);
  assert.equal(closed.code, 'IDLE_CLOSED');
  assert.match(closed.detail, /after about 30 s without a frame from the probe, with Close 1001 "idle"/);
  const cut = judgeIdle({ how: 'rst', afterMs: 60_200 }, 90_000);
  assert.equal(cut.code, 'IDLE_CUT');
  assert.match(cut.detail, /after about 60 s \(TCP RST without a Close frame/);
  assert.match(cut.hint ?? '', /every 30 s/);
  assert.equal(judgeIdle({ how: 'silent', afterMs: 10_000 }, 10_000).code, 'IDLE_DEAD');
});

test('judgeIdle: for a cut-off under 2 s the suggested interval is below it, in milliseconds', () => {
  assert.match(judgeIdle({ how: 'fin', afterMs: 1003 }, 3000).hint ?? '', /every 500 ms; .* below 1\.0 s/);
  assert.match(judgeIdle({ how: 'silent', afterMs: 1000 }, 1000).hint ?? '', /every 500 ms/);
  assert.match(judgeIdle({ how: 'fin', afterMs: 300 }, 3000).hint ?? '', /every 150 ms/);
  assert.match(judgeIdle({ how: 'fin', afterMs: 2000 }, 3000).hint ?? '', /every 1 s/);
});

test('judgeIdle: a cut while the server was sending is not an idle cut; one long after its last frame is, timed from it', () => {
  // Ticks every ~100 ms, cut 60 ms after the last: the connection was busy.
  const busy = judgeIdle({ how: 'fin', afterMs: 1520, traffic: { frames: 14, quietMs: 60, longestGapMs: 104 } }, 4000);
  assert.equal(busy.code, 'IDLE_CUT_BUSY');
  assert.equal(busy.ok, false);
  assert.match(
    busy.detail,
    /cut after about 1\.5 s \(TCP FIN without a Close frame\), though it was not idle: the server sent 14 frames during the silence, the last 60 ms before the cut/,
  );
  assert.doesNotMatch(busy.hint ?? '', /every/);
  // A quiet spell no longer than the longest pause already survived (50 ms or 10% to spare) is traffic's rhythm;
  // a longer one is what an idle timer waits for.
  const edge = judgeIdle({ how: 'rst', afterMs: 3000, traffic: { frames: 3, quietMs: 140, longestGapMs: 100 } }, 4000);
  assert.equal(edge.code, 'IDLE_CUT_BUSY');
  const past = judgeIdle({ how: 'rst', afterMs: 3000, traffic: { frames: 3, quietMs: 200, longestGapMs: 100 } }, 4000);
  assert.equal(past.code, 'IDLE_CUT');
  // Three frames early on, then 30 s of quiet: an idle cut-off of about 30 s, not the 31 s since the silence began.
  const idle = judgeIdle(
    { how: 'fin', afterMs: 31_000, traffic: { frames: 3, quietMs: 30_000, longestGapMs: 400 } },
    60_000,
  );
  assert.equal(idle.code, 'IDLE_CUT');
  assert.match(
    idle.detail,
    /after about 30 s without traffic \(the server's last frame came 1\.0 s into the silence; TCP FIN without a Close frame/,
  );
  assert.match(idle.hint ?? '', /every 15 s/);
});

test('judgeIdle: a silence not checked with a ping (pings get no pong) is survived with a warning, never dead', () => {
  const v = judgeIdle({ how: 'unchecked', afterMs: 5000 }, 5000);
  assert.deepEqual([v.ok, v.warn, v.code], [true, true, 'IDLE_SURVIVED']);
  assert.match(v.detail, /no Close, FIN or RST during 5\.0 s of silence; not confirmed with a ping/);
});

const cert = (subject: string, issuer: string): ChainCert => ({
  subject,
  issuer,
  validFrom: 'Jan 1 00:00:00 2026 GMT',
  validTo: 'Jan 1 00:00:00 2027 GMT',
  fingerprint256: subject,
});

test('judgeTls: intercepted through a proxy, unknown issuer direct, expired, private root, public root', () => {
  const base: TlsFacts = {
    protocol: 'TLSv1.3',
    alpn: 'http/1.1',
    chain: [cert('CN=app.example', 'CN=Corp Inspection CA')],
    authorized: false,
    error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    publicRoot: false,
    proxied: true,
    insecure: false,
    host: 'app.example',
  };
  const intercepted = judgeTls(base);
  assert.equal(intercepted.code, 'TLS_INTERCEPTED');
  assert.match(intercepted.detail, /TLS is intercepted by CN=Corp Inspection CA/);
  assert.equal(judgeTls({ ...base, proxied: false }).code, 'TLS_UNKNOWN_ISSUER');
  const expired = judgeTls({ ...base, error: 'CERT_HAS_EXPIRED' });
  assert.equal(expired.code, 'TLS_CERT_INVALID');
  assert.match(expired.detail, /expired on Jan 1 00:00:00 2027 GMT/);
  assert.equal(judgeTls({ ...base, error: 'ERR_TLS_CERT_ALTNAME_INVALID' }).code, 'TLS_CERT_INVALID');
  const insecure = judgeTls({ ...base, insecure: true });
  assert.deepEqual([insecure.ok, insecure.warn], [true, true]);
  const privateRoot = judgeTls({ ...base, authorized: true, error: undefined, proxied: false });
  assert.deepEqual([privateRoot.code, privateRoot.warn], ['TLS_PRIVATE_ROOT', true]);
  const trustedInspector = judgeTls({ ...base, authorized: true, error: undefined });
  assert.deepEqual([trustedInspector.code, trustedInspector.ok], ['TLS_INTERCEPTED', true]);
  const fine = judgeTls({ ...base, authorized: true, error: undefined, publicRoot: true });
  assert.equal(fine.code, 'TLS_OK');
  assert.match(fine.detail, /TLSv1\.3, ALPN http\/1\.1, chain CN=app\.example/);
});

test('diffHandshakes / judgeCompare: same, proxy breaks it, headers added and changed', () => {
  const d: HeaderPairs = [
    ['Upgrade', 'websocket'],
    ['Sec-WebSocket-Extensions', 'permessage-deflate'],
    ['Date', 'x'],
  ];
  const same = diffHandshakes({ status: 101, headers: d }, { status: 101, headers: [...d.slice(0, 2), ['Date', 'y']] });
  assert.equal(same.same, true);
  assert.equal(judgeCompare(same).code, 'COMPARE_SAME');
  const broken = diffHandshakes({ status: 101, headers: d }, { status: 400, headers: [['Via', '1.1 p']] });
  assert.deepEqual(
    broken.removed.map(([n]) => n),
    ['upgrade', 'sec-websocket-extensions'],
  );
  assert.deepEqual(broken.added, [['via', '1.1 p']]);
  assert.equal(judgeCompare(broken).code, 'COMPARE_PROXY_BREAKS');
  const changed = diffHandshakes(
    { status: 101, headers: d },
    { status: 101, headers: [d[0]!, ['Sec-WebSocket-Extensions', 'x']] },
  );
  assert.deepEqual(changed.changed, [{ name: 'sec-websocket-extensions', direct: 'permessage-deflate', proxied: 'x' }]);
  assert.equal(judgeCompare(changed).code, 'COMPARE_DIFFERENT');
});
