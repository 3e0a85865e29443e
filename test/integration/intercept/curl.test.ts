// curl through an intercepting wsgate: with `--cacert <wsgate's CA>` it fetches an https page (wsgate verifies the
// real upstream itself); without it curl refuses wsgate's certificate, and wsgate's log says the client does not
// trust its CA and how to fix that. A host not in forward.intercept is tunnelled blindly: the client sees the
// upstream's own certificate (same fingerprint), and wsgate makes no TLS connection of its own.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { curl, eventually } from '../forward/helpers.ts';
import { startInterceptProxy, startRecordingTlsServer, tlsThroughProxy, upstreamCa } from './helpers.ts';

test('curl --cacert <wsgate CA> --proxy fetches an https page through interception', async (t) => {
  const ca = await upstreamCa();
  const site = await startRecordingTlsServer(t, await ca.issue({ names: ['site.test'] }), (path) =>
    path === '/index.html' ? { type: 'text/html', body: '<h1>intercepted page</h1>' } : undefined,
  );
  const gw = await startInterceptProxy(t, { intercept: ['site.test'], names: ['site.test'] });
  const r = await curl([
    '--proxy',
    gw.url(),
    '--cacert',
    gw.caFile,
    '--write-out',
    '\n%{http_code} %{http_version}',
    `https://site.test:${site.port}/index.html`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '<h1>intercepted page</h1>\n200 1.1');
  const access = await gw.logs.waitFor('http.access');
  assert.equal(access.path, '/index.html');
  assert.equal(access.upstream, `site.test:${site.port}`);
  await eventually(() => gw.logs.events('connect.close').length === 1, 5000, 'the tunnel’s close line');
  assert.equal(gw.logs.events('connect.close')[0]!.intercepted, true);
});

test('curl without wsgate’s CA refuses the certificate; wsgate logs that the client does not trust its CA', async (t) => {
  const ca = await upstreamCa();
  const site = await startRecordingTlsServer(t, await ca.issue({ names: ['site.test'] }));
  const gw = await startInterceptProxy(t, { intercept: ['site.test'], names: ['site.test'] });
  const r = await curl(['--proxy', gw.url(), `https://site.test:${site.port}/`]);
  assert.equal(r.code, 60, `curl's "peer certificate cannot be authenticated": ${r.stderr}`);
  const failed = await gw.logs.waitFor('tls.handshake_failed');
  assert.equal(failed.reason, 'client_rejected_certificate');
  assert.equal(failed.code, 'WSG_TLS_HANDSHAKE');
  assert.match(String(failed.msg), /does not trust wsgate's CA .*wsgate ca trust-help --dir /);
  // The destination was never dialed: the handshake failed first.
  assert.equal(site.accepted(), 0);
});

test('a host not in forward.intercept is tunnelled blindly: the client sees the upstream’s own certificate', async (t) => {
  const ca = await upstreamCa();
  const pair = await ca.issue({ names: ['plain.test', 'caught.test'] });
  const site = await startRecordingTlsServer(t, pair);
  const gw = await startInterceptProxy(t, { intercept: ['caught.test'], names: ['plain.test', 'caught.test'] });
  const upstreamFingerprint = new X509Certificate(pair.cert).fingerprint256;

  const blind = await tlsThroughProxy(gw.port(), `plain.test:${site.port}`, { ca: ca.cert });
  const seen = new X509Certificate(blind.socket.getPeerCertificate().raw);
  assert.equal(seen.fingerprint256, upstreamFingerprint, 'the upstream’s certificate, byte for byte');
  blind.socket.destroy();

  const caught = await tlsThroughProxy(gw.port(), `caught.test:${site.port}`, { ca: gw.caPem });
  const leaf = new X509Certificate(caught.socket.getPeerCertificate().raw);
  assert.notEqual(leaf.fingerprint256, upstreamFingerprint);
  assert.ok(leaf.checkIssued(new X509Certificate(gw.caPem)), 'an intercepted host gets wsgate’s leaf');
  caught.socket.destroy();

  await eventually(() => gw.logs.events('connect.close').length === 2, 5000, 'both tunnels closed');
  const byTarget = new Map(gw.logs.events('connect.close').map((l) => [l.target, l]));
  assert.equal(byTarget.get(`plain.test:${site.port}`)!.content, 'tls');
  assert.equal(byTarget.get(`plain.test:${site.port}`)!.intercepted, undefined);
  assert.equal(byTarget.get(`caught.test:${site.port}`)!.intercepted, true);
  // Only the blind tunnel reached the site: the intercepted one sent no request, so wsgate never dialed it.
  assert.equal(site.accepted(), 1);
});
