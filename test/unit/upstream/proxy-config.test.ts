// Which upstream proxy applies (proxy URL grammar: test/unit/net/proxy-url.test.ts):
// the environment (lower case wins, empty means none), `via:` by name or "direct", NO_PROXY; and how a proxy's
// refusal is explained.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EMPTY_NO_PROXY } from '../../../src/net/no-proxy.ts';
import { parseProxyUrl } from '../../../src/net/proxy-url.ts';
import { chooseProxy, makeProxy, NO_ENV_PROXIES, proxiesFromEnv } from '../../../src/upstream/proxy-config.ts';
import { refusalDetail } from '../../../src/upstream/proxy-tunnel.ts';

test('the environment: lower case wins, empty means none, invalid values are warnings', () => {
  const env = proxiesFromEnv({
    http_proxy: 'http://lower:1',
    HTTP_PROXY: 'http://upper:1',
    HTTPS_PROXY: 'http://secure:3128',
    no_proxy: '.internal',
    NO_PROXY: 'ignored.test',
  });
  assert.equal(env.http?.url.host, 'lower:1');
  assert.equal(env.http?.name, 'http_proxy');
  assert.equal(env.https?.url.host, 'secure:3128');
  assert.equal(env.https?.name, 'HTTPS_PROXY');
  assert.deepEqual(env.https?.noProxy.source, ['.internal']);
  assert.deepEqual(env.warnings, []);
  const emptied = proxiesFromEnv({ https_proxy: '', HTTPS_PROXY: 'http://upper:1' });
  assert.equal(emptied.https, undefined);
  const bad = proxiesFromEnv({ HTTPS_PROXY: 'socks5://h:1', NO_PROXY: 'ok.test, http://x' });
  assert.equal(bad.https, undefined);
  assert.equal(bad.warnings.length, 2);
  assert.match(bad.warnings.join('\n'), /HTTPS_PROXY: socks5/);
  assert.match(bad.warnings.join('\n'), /NO_PROXY: ignoring invalid entries "http:\/\/x"/);
});

test('choosing: via name, via direct, environment by traffic kind, NO_PROXY and loopback', () => {
  const corpUrl = parseProxyUrl('http://corp:3128');
  assert.ok(corpUrl.ok);
  const corp = makeProxy('corp', corpUrl.url, undefined, EMPTY_NO_PROXY);
  const env = proxiesFromEnv({ HTTP_PROXY: 'http://plain:80', HTTPS_PROXY: 'http://tls:3128', NO_PROXY: 'skip.test' });
  const proxies = { named: new Map([['corp', corp]]), env };
  const pick = (via: string | undefined, kind: 'http' | 'https' | 'tunnel', host: string, port = 443) =>
    chooseProxy(proxies, via, kind, host, port).proxy?.name ?? 'direct';
  assert.equal(pick('corp', 'http', 'a.test'), 'corp');
  assert.equal(pick('direct', 'https', 'a.test'), 'direct');
  assert.equal(pick(undefined, 'http', 'a.test'), 'HTTP_PROXY');
  assert.equal(pick(undefined, 'https', 'a.test'), 'HTTPS_PROXY');
  assert.equal(pick(undefined, 'tunnel', 'a.test'), 'HTTPS_PROXY');
  assert.equal(pick(undefined, 'https', 'x.skip.test'), 'direct');
  assert.equal(pick(undefined, 'https', '127.0.0.1'), 'direct');
  assert.equal(pick('corp', 'https', 'localhost'), 'direct');
  // A CONNECT tunnel falls back to HTTP_PROXY when only that is set.
  const onlyHttp = { named: new Map(), env: proxiesFromEnv({ HTTP_PROXY: 'http://plain:80' }) };
  assert.equal(chooseProxy(onlyHttp, undefined, 'tunnel', 'a.test', 443).proxy?.name, 'HTTP_PROXY');
  assert.equal(chooseProxy(onlyHttp, undefined, 'https', 'a.test', 443).proxy, undefined);
  assert.match(chooseProxy({ named: new Map(), env: NO_ENV_PROXIES }, undefined, 'http', 'a.test', 80).why, /no proxy/);
  assert.match(
    chooseProxy(proxies, undefined, 'https', 'x.skip.test', 443).why,
    /direct: matches no-proxy entry "skip\.test" \(HTTPS_PROXY\)/,
  );
});

test('refusals say what to do', () => {
  const url = parseProxyUrl('http://u:p@corp:3128');
  assert.ok(url.ok);
  const withCreds = makeProxy('corp', url.url, url.authorization, EMPTY_NO_PROXY);
  const without = makeProxy('HTTPS_PROXY', url.url, undefined, EMPTY_NO_PROXY);
  assert.match(
    refusalDetail(without, 407, 'Basic realm="corp"'),
    /requires authentication \(Basic realm="corp"\); put user:password in the proxy URL \(HTTPS_PROXY\)/,
  );
  assert.match(
    refusalDetail(withCreds, 407, 'Basic realm="corp"'),
    /rejected the credentials in the proxy URL \(corp\)/,
  );
  assert.match(
    refusalDetail(withCreds, 407, 'Negotiate'),
    /asks for Negotiate authentication, and wsgate sends Basic only/,
  );
  assert.match(refusalDetail(withCreds, 403, undefined), /^403 Forbidden: its policy/);
  assert.match(refusalDetail(withCreds, 503, undefined), /^503 Service Unavailable: the proxy could not reach/);
});
