// The fault profiles (src/rules/profiles.ts) compile with the engine and carry the faults docs/faults.md says they
// do; the handshake-fault helpers answer as the products they imitate.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROFILE_NAMES, PROFILES } from '../../../src/rules/profiles.ts';
import { compileRules, PROFILE_PREFIX } from '../../../src/rules/rule-set.ts';
import type { ConnectionFacts } from '../../../src/rules/types.ts';
import {
  plainRequestHeaders,
  rejectConnectAnswer,
  stripsUpgrade,
  withoutExtensions,
} from '../../../src/websocket/handshake-faults.ts';

const FACTS: ConnectionFacts = {
  listener: 'proxy',
  route: 'proxy/tunnel',
  host: 'chat.example.test',
  port: 443,
  path: '',
};

function rulesOf(profile: string) {
  return compileRules([]).forConnection(FACTS, [`${PROFILE_PREFIX}${profile}`], { conn: 'c1' });
}

test('every profile is documented data whose rules are named after it', () => {
  assert.deepEqual([...PROFILE_NAMES].sort(), [
    'auth-407',
    'buffering-proxy',
    'idle-cut-60s',
    'squid-default',
    'ssl-inspect',
    'strip-extensions',
  ]);
  for (const name of PROFILE_NAMES) {
    const profile = PROFILES[name]!;
    assert.ok(profile.description.length > 20 && profile.imitates.length > 20, name);
    assert.ok(profile.rules.length > 0, name);
    for (const rule of profile.rules) assert.ok(rule.name.startsWith(`${name}/`), rule.name);
  }
});

test('each profile compiles to the faults it documents, and none needs the relay', () => {
  const squid = rulesOf('squid-default');
  assert.deepEqual(squid.handshake.stripUpgrade, { rule: 'squid-default/upgrade-dropped', inTunnels: false });
  assert.deepEqual(squid.handshake.rejectConnect?.exceptPorts, [443]);
  assert.equal(squid.handshake.rejectConnect?.status, 403);
  assert.equal(rulesOf('auth-407').handshake.rejectConnect?.status, 407);
  assert.equal(rulesOf('ssl-inspect').handshake.untrustedCert?.rule, 'ssl-inspect/resign');
  assert.equal(rulesOf('idle-cut-60s').connection.idleCut?.ms, 60_000);
  assert.equal(rulesOf('buffering-proxy').connection.buffer?.everyMs, 1000);
  assert.equal(rulesOf('strip-extensions').handshake.stripExtensions?.rule, 'strip-extensions/no-deflate');
  for (const name of PROFILE_NAMES) assert.equal(rulesOf(name).needsRelay, false, name);
});

test('rejectConnect: 407 carries Proxy-Authenticate; exceptPorts lets those ports through', () => {
  const auth = rejectConnectAnswer({ rule: 'a', status: 407 }, 443, 'CONNECT x:443');
  assert.equal(auth?.err.status, 407);
  assert.equal(auth?.err.code, 'WSG_FAULT_INJECTED');
  assert.deepEqual(auth?.headers, [['Proxy-Authenticate', 'Basic realm="wsgate"']]);
  const squid = { rule: 's', status: 403 as const, exceptPorts: [443] };
  assert.equal(rejectConnectAnswer(squid, 443, 'CONNECT x:443'), undefined);
  const refused = rejectConnectAnswer(squid, 8443, 'CONNECT x:8443');
  assert.equal(refused?.err.status, 403);
  assert.match(refused?.err.message ?? '', /rejectConnect by rule "s": CONNECT x:8443 is forbidden: only port 443/);
  assert.equal(rejectConnectAnswer(undefined, 80, 'x'), undefined);
});

test('stripUpgrade applies inside tunnels unless inTunnels is false', () => {
  assert.equal(stripsUpgrade({ stripUpgrade: { rule: 'r' } }, true), true);
  assert.equal(stripsUpgrade({ stripUpgrade: { rule: 'r', inTunnels: false } }, true), false);
  assert.equal(stripsUpgrade({ stripUpgrade: { rule: 'r', inTunnels: false } }, false), true);
  assert.equal(stripsUpgrade({}, false), false);
});

test('a stripped handshake is a plain GET that asks the upstream to close', () => {
  const pairs: [string, string][] = [
    ['Host', 'a.test'],
    ['Connection', 'Upgrade'],
    ['Upgrade', 'websocket'],
    ['Sec-WebSocket-Key', 'k'],
    ['Sec-WebSocket-Version', '13'],
    ['Sec-WebSocket-Extensions', 'permessage-deflate'],
    ['Cookie', 'c=1'],
  ];
  // As through Squid 5.7: only the hop-by-hop pair goes; the WebSocket fields reach the server.
  assert.deepEqual(plainRequestHeaders(pairs), [
    ['Host', 'a.test'],
    ['Sec-WebSocket-Key', 'k'],
    ['Sec-WebSocket-Version', '13'],
    ['Sec-WebSocket-Extensions', 'permessage-deflate'],
    ['Cookie', 'c=1'],
    ['Connection', 'close'],
  ]);
  assert.deepEqual(
    withoutExtensions(pairs).map(([n]) => n),
    ['Host', 'Connection', 'Upgrade', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Cookie'],
  );
});
