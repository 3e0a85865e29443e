// The TLS files a config names, checked before anything listens: each one that cannot be used is reported at the
// key naming it (file:line:col), and all of them in one go, as config issues are.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfigText } from '../../../src/config/load.ts';
import { loadConfigTls } from '../../../src/tls/config-tls.ts';

const config = (listenerTls: string) =>
  loadConfigText(
    `listeners:
  - name: web
    bind: 127.0.0.1:0
${listenerTls}    routes: [{ upstream: app }]
upstreams:
  - name: app
    url: wss://127.0.0.1:1
    tls: { ca: /nonexistent/wsgate-ca.pem }
`,
    'c.yaml',
    {},
  );

test('every unusable TLS file is named at its key, all at once', async () => {
  await assert.rejects(
    loadConfigTls(config('    tls: { cert: /nonexistent/c.pem, key: /nonexistent/k.pem }\n')),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'WSG_TLS_FILES');
      assert.equal(
        err.message,
        '2 TLS files cannot be used:\n' +
          'c.yaml:4:5 listeners[0].tls: cannot use certificate file /nonexistent/c.pem: no such file\n' +
          'c.yaml:9:5 upstreams[0].tls: cannot use upstream CA file /nonexistent/wsgate-ca.pem: no such file',
      );
      return true;
    },
  );
});

test('one unusable file keeps its own code, led by its place', async () => {
  await assert.rejects(loadConfigTls(config('')), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'WSG_TLS_CERT_READ');
    assert.equal(
      err.message,
      'c.yaml:8:5 upstreams[0].tls: cannot use upstream CA file /nonexistent/wsgate-ca.pem: no such file',
    );
    return true;
  });
});
