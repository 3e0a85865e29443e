// `wsgate probe` through a forward wsgate playing each fault profile (docs/rules.md, src/rules/profiles.ts), so the
// failure each profile imitates is diagnosed with the same step and code as the real thing: squid-default (stripped
// Upgrade on ws://, CONNECT refused to a non-443 port), auth-407, ssl-inspect (re-signed TLS, the issuer named), and
// an idle cut after 2 s without a Close frame (an idleCut rule; the idle-cut-60s profile is the same at 60 s).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeTestCa, startTlsEchoServer } from '../../helpers/tls.ts';
import { forwardConfig, startProxy } from '../forward/helpers.ts';
import { failure, probe, startWsEcho, stepOf } from './helpers.ts';

test('profile squid-default: ws:// loses its Upgrade', async (t) => {
  const echo = await startWsEcho(t);
  const gw = await startProxy(t, forwardConfig({ profile: 'squid-default' }));
  const report = await probe({ url: echo.url, proxy: gw.url() });
  assert.deepEqual(failure(report), { step: 'upgrade', code: 'UPGRADE_STRIPPED' }, JSON.stringify(report.steps.at(-1)));
});

test('profile squid-default: CONNECT to a non-443 port is refused', async (t) => {
  const echo = await startWsEcho(t);
  const gw = await startProxy(t, forwardConfig({ profile: 'squid-default' }));
  const report = await probe({ url: echo.url, proxy: gw.url(), tunnel: true });
  assert.deepEqual(failure(report), { step: 'connect', code: 'CONNECT_REFUSED_PORT' });
});

test('profile auth-407: the probe names Basic and how to give credentials', async (t) => {
  const echo = await startWsEcho(t);
  const gw = await startProxy(t, forwardConfig({ profile: 'auth-407' }));
  const report = await probe({ url: echo.url, proxy: gw.url(), tunnel: true });
  assert.deepEqual(failure(report), { step: 'connect', code: 'CONNECT_AUTH_REQUIRED' });
  assert.match(report.verdict.detail, /offers Basic/);
});

test('profile ssl-inspect: TLS is intercepted, and the verdict names the issuer', async (t) => {
  const ca = await makeTestCa();
  const server = await startTlsEchoServer(t, await ca.issue());
  const gw = await startProxy(t, forwardConfig({ profile: 'ssl-inspect' }));
  const report = await probe({ url: `${server.wss}/echo`, proxy: gw.url(), ca: [ca.cert] });
  assert.deepEqual(failure(report), { step: 'tls', code: 'TLS_INTERCEPTED' });
  assert.match(report.verdict.detail, /TLS is intercepted by /);
  const issuer = (stepOf(report, 'tls').facts['chain'] as { issuer: string }[])[0]?.issuer ?? '';
  assert.ok(issuer !== '' && report.verdict.detail.includes(issuer), `${issuer} in ${report.verdict.detail}`);
});

test('an idleCut rule (2 s): the probe sees the cut without a Close frame', async (t) => {
  const echo = await startWsEcho(t);
  const gw = await startProxy(
    t,
    forwardConfig({}, { listener: { rules: ['cut'] }, rules: [{ name: 'cut', actions: [{ idleCut: '2s' }] }] }),
  );
  const report = await probe({ url: echo.url, proxy: gw.url(), idle: 5000 });
  assert.deepEqual(failure(report), { step: 'idle', code: 'IDLE_CUT' });
  assert.match(report.verdict.detail, /after about 2\.\d s/);
});
