// `wsgate probe` against a real Squid (Debian's squid, started on a loopback port with a generated config that
// keeps Debian's default access rules): plain ws:// loses its Upgrade (Squid forwards upgrades only when
// http_upgrade_request_protocols allows them), CONNECT to a port other than 443 is refused, and with Basic auth the
// 407 names the scheme and credentials get through. Skipped with a notice where Squid is not installed (outside CI).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apr1, failure, probe, squidSkip, startSquid, startWsEcho, stepOf } from './helpers.ts';

test('the htpasswd hash is what `openssl passwd -apr1` prints', () => {
  // openssl passwd -apr1 -salt abcdefgh pa55word
  assert.equal(apr1('pa55word', 'abcdefgh'), '$apr1$abcdefgh$hbAboF.tMUnn0szRg6OHz.');
});

test('Squid default config, ws:// as a proxied GET: the Upgrade is removed, and the hint names the Squid setting', {
  skip: squidSkip,
}, async (t) => {
  const echo = await startWsEcho(t);
  const squid = await startSquid(t);
  const report = await probe({ url: echo.url, proxy: squid.url });
  assert.deepEqual(failure(report), { step: 'upgrade', code: 'UPGRADE_STRIPPED' }, JSON.stringify(report.steps.at(-1)));
  assert.match(report.proxyProduct ?? '', /^Squid/);
  assert.match(report.verdict.hint ?? '', /http_upgrade_request_protocols websocket allow all/);
  assert.match(report.verdict.hint ?? '', /case-sensitive/);
});

test('Squid with http_upgrade_request_protocols: ws:// works through it', { skip: squidSkip }, async (t) => {
  const echo = await startWsEcho(t);
  const squid = await startSquid(t, { upgrade: true });
  const report = await probe({ url: echo.url, proxy: squid.url, send: 'via squid' });
  assert.equal(report.ok, true, JSON.stringify(report.verdict));
  assert.equal(stepOf(report, 'message').facts['echoed'], true);
});

test('Squid default config: CONNECT to a non-443 port is refused', { skip: squidSkip }, async (t) => {
  const echo = await startWsEcho(t);
  const squid = await startSquid(t);
  const report = await probe({ url: echo.url.replace('ws:', 'wss:'), proxy: squid.url });
  assert.deepEqual(failure(report), { step: 'connect', code: 'CONNECT_REFUSED_PORT' });
  assert.match(report.verdict.detail, /from Squid/);
  assert.match(report.verdict.hint ?? '', /SSL_ports/);
});

test('Squid with Basic auth: 407 names Basic; with credentials the request gets through', {
  skip: squidSkip,
}, async (t) => {
  const echo = await startWsEcho(t);
  const squid = await startSquid(t, { user: { name: 'probe', password: 'pa55word' }, upgrade: true });
  const refused = await probe({ url: echo.url, proxy: squid.url });
  assert.deepEqual(failure(refused), { step: 'upgrade', code: 'UPGRADE_AUTH_REQUIRED' });
  assert.match(refused.verdict.detail, /offers Basic/);
  const url = new URL(squid.url);
  url.username = 'probe';
  url.password = 'pa55word';
  const through = await probe({ url: echo.url, proxy: url.href, send: 'authed' });
  assert.equal(through.ok, true, JSON.stringify(through.verdict));
  const wrong = new URL(squid.url);
  wrong.username = 'probe';
  wrong.password = 'nope';
  const rejected = await probe({ url: echo.url, proxy: wrong.href });
  assert.deepEqual(failure(rejected), { step: 'upgrade', code: 'UPGRADE_AUTH_REQUIRED' });
  assert.match(rejected.verdict.hint ?? '', /rejected the user and password/);
});
