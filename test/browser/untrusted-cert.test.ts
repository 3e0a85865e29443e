// The untrustedCert fault as a browser meets it: headless Chromium through a wsgate forward listener with
// `forward.profile: ssl-inspect` refuses the re-signed certificate (ERR_CERT_AUTHORITY_INVALID), like a machine
// behind a TLS inspector whose CA it never installed. The control: the same Chromium, trusting the site's own
// certificate, loads the page through a forward listener without the profile.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { spkiSha256 } from '../../src/tls/ca.ts';
import { CHROMIUM, chromiumSkip, launchThroughProxy } from '../helpers/chromium.ts';
import { forwardConfig, startProxy } from '../integration/forward/helpers.ts';
import { startRecordingTlsServer, upstreamCa } from '../integration/intercept/helpers.ts';

const page = `<!doctype html>
<meta charset="utf-8"><title>loaded</title>`;

test('Chromium refuses the certificate of an ssl-inspect proxy (untrustedCert) with an authority error', {
  skip: chromiumSkip,
}, async (t) => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is required in CI`);
  const leaf = await (await upstreamCa()).issue({ names: ['site.test'] });
  const site = await startRecordingTlsServer(t, leaf, (path) =>
    path === '/' ? { type: 'text/html; charset=utf-8', body: page } : undefined,
  );
  // Chromium trusts exactly the site's own key: a genuine tunnel works, a re-signed one cannot.
  const siteSpki = spkiSha256(new X509Certificate(leaf.cert));
  const url = `https://site.test:${site.port}/`;

  const plain = await startProxy(t, forwardConfig(), { names: ['site.test'] });
  const control = await launchThroughProxy(t, plain.port(), [`--ignore-certificate-errors-spki-list=${siteSpki}`]);
  const ok = await (await control.newPage()).goto(url);
  assert.equal(ok?.status(), 200, 'without the fault the page loads');

  const inspecting = await startProxy(t, forwardConfig({ profile: 'ssl-inspect' }), { names: ['site.test'] });
  const context = await launchThroughProxy(t, inspecting.port(), [`--ignore-certificate-errors-spki-list=${siteSpki}`]);
  const tab = await context.newPage();
  const failure = await tab.goto(url).then(
    () => undefined,
    (error: Error) => error,
  );
  assert.ok(failure, 'the navigation failed');
  assert.match(failure.message, /ERR_CERT_AUTHORITY_INVALID|ERR_CERT_/);
  const line = await inspecting.logs.waitFor('connect.fault');
  assert.equal(line.fault, 'untrustedCert');
  assert.equal(line.rule, 'ssl-inspect/resign');
});
