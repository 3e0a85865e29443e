// The admin listener's guards over real HTTP: Host (DNS rebinding), the token (header only, constant-time
// comparison), cross-origin writes (Origin, Sec-Fetch-Site, Content-Type) and the WebSocket feed's Origin; and the
// start-up refusal of an admin API beyond loopback without a token.
import assert from 'node:assert/strict';
import { hostname, networkInterfaces } from 'node:os';
import { test } from 'node:test';
import WebSocket from 'ws';
import { configFromObject } from '../../../src/config/load.ts';
import { ownHostNames, tokenMatches } from '../../../src/inspector/admin-server.ts';
import { formatHostPort } from '../../../src/net/host-port.ts';
import { call, startEchoUpstream, startInspected } from './helpers.ts';

test('an admin API bound beyond loopback without a token is a config error naming inspector.token', () => {
  assert.throws(
    () =>
      configFromObject(
        { listeners: [{ bind: '127.0.0.1:0', forward: {} }], inspector: { bind: '0.0.0.0:9090' } },
        'x.yaml',
      ),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'WSG_CONFIG_INVALID');
      assert.match(err.message, /inspector\.token/);
      assert.match(err.message, /beyond loopback/);
      return true;
    },
  );
  // With a token (from the environment, as ${VAR}), or on loopback, it is valid.
  const withToken = configFromObject(
    { listeners: [{ bind: '127.0.0.1:0', forward: {} }], inspector: { bind: '0.0.0.0:9090', token: 'abc' } },
    'x.yaml',
  );
  assert.equal(withToken.inspector?.token, 'abc');
  assert.equal(
    configFromObject({ listeners: [{ bind: '127.0.0.1:0', forward: {} }], inspector: { bind: '[::1]:0' } }, 'x.yaml')
      .inspector?.token,
    undefined,
  );
});

test('a foreign Host gets 403 on every path; the listener’s own names pass', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url);
  for (const host of ['evil.example', `evil.example:${gate.adminPort}`, '127.0.0.1', `127.0.0.2:${gate.adminPort}`]) {
    for (const path of ['/api/connections', '/', '/healthz']) {
      const r = await call(gate.adminPort, 'GET', path, { headers: { host } });
      assert.equal(r.status, 403, `${host} ${path}`);
      assert.equal(r.json.error.code, 'WSG_ADMIN_HOST');
    }
  }
  for (const host of [
    `127.0.0.1:${gate.adminPort}`,
    `localhost:${gate.adminPort}`,
    `LOCALHOST:${gate.adminPort}`,
    `[::1]:${gate.adminPort}`,
  ]) {
    assert.equal((await call(gate.adminPort, 'GET', '/api/connections', { headers: { host } })).status, 200, host);
  }
});

test('with a token configured: header only, wrong or missing is 401, a cookie does not count', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url, { inspector: { token: 'correct-horse' } });
  const none = await call(gate.adminPort, 'GET', '/api/connections');
  assert.equal(none.status, 401);
  assert.equal(none.json.error.code, 'WSG_ADMIN_TOKEN');
  assert.equal(
    (await call(gate.adminPort, 'GET', '/api/connections', { headers: { authorization: 'Bearer wrong' } })).status,
    401,
  );
  assert.equal(
    (await call(gate.adminPort, 'GET', '/api/connections', { headers: { cookie: 'token=correct-horse' } })).status,
    401,
  );
  assert.equal((await call(gate.adminPort, 'GET', '/api/connections?token=correct-horse')).status, 401);
  assert.equal(
    (await call(gate.adminPort, 'GET', '/api/connections', { headers: { authorization: 'Bearer correct-horse' } }))
      .status,
    200,
  );
  assert.equal(
    (await call(gate.adminPort, 'GET', '/api/connections', { headers: { 'x-wsgate-token': 'correct-horse' } })).status,
    200,
  );
  const post = await call(gate.adminPort, 'POST', '/api/connections/w1/close', { body: { code: 1000 } });
  assert.equal(post.status, 401);
  const posted = await call(gate.adminPort, 'POST', '/api/connections/w1/close', {
    headers: { 'x-wsgate-token': 'correct-horse' },
    body: { code: 1000 },
  });
  assert.equal(posted.status, 404);
  // Health checks stay open to probes (Host is still checked).
  const health = await call(gate.adminPort, 'GET', '/healthz');
  assert.notEqual(health.status, 401);
  // The right token vouches for any Host (a scrape by pod IP); a wrong one does not, nor does none.
  const podIp = `10.1.2.3:${gate.adminPort}`;
  const scraped = await call(gate.adminPort, 'GET', '/metrics', {
    headers: { host: podIp, authorization: 'Bearer correct-horse' },
  });
  assert.equal(scraped.status, 200);
  const foreign: Record<string, string>[] = [{ host: podIp }, { host: podIp, authorization: 'Bearer wrong' }];
  for (const headers of foreign) {
    const refused = await call(gate.adminPort, 'GET', '/api/connections', { headers });
    assert.equal(refused.status, 403);
    assert.equal(refused.json.error.code, 'WSG_ADMIN_HOST');
  }
});

test('own names: bind address, loopback names; on a wildcard bind also the machine’s addresses and host name', () => {
  assert.deepEqual([...ownHostNames('127.0.0.1', 9090)].sort(), ['127.0.0.1:9090', '[::1]:9090', 'localhost:9090']);
  const wildcard = ownHostNames('0.0.0.0', 9090);
  assert.ok(wildcard.has(`${hostname().toLowerCase()}:9090`));
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) assert.ok(wildcard.has(formatHostPort(a.address, 9090).toLowerCase()), a.address);
  }
  assert.ok(ownHostNames('127.0.0.1', 80).has('localhost'), 'port 80 may be left out of Host');
});

test('the token comparison is exact (hashes compared in constant time)', () => {
  assert.equal(tokenMatches('abc', 'abc'), true);
  assert.equal(tokenMatches('abc', 'abd'), false);
  assert.equal(tokenMatches('abc', 'abcd'), false);
  assert.equal(tokenMatches('abc', ''), false);
});

test('cross-origin POSTs are refused; so is a form-type body; same-origin and Origin-less JSON pass', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url);
  const path = '/api/connections/w-none/close';
  const evil = await call(gate.adminPort, 'POST', path, {
    headers: { origin: 'https://evil.example' },
    body: { code: 1000 },
  });
  assert.equal(evil.status, 403);
  assert.equal(evil.json.error.code, 'WSG_ADMIN_ORIGIN');
  assert.equal(evil.headers['access-control-allow-origin'], undefined);
  const nullOrigin = await call(gate.adminPort, 'POST', path, { headers: { origin: 'null' }, body: { code: 1000 } });
  assert.equal(nullOrigin.status, 403);
  const otherPort = await call(gate.adminPort, 'POST', path, {
    headers: { origin: `http://127.0.0.1:${gate.port}` },
    body: { code: 1000 },
  });
  assert.equal(otherPort.status, 403, 'the proxy listener’s origin is another origin');
  const crossSite = await call(gate.adminPort, 'POST', path, {
    headers: { 'sec-fetch-site': 'cross-site' },
    body: { code: 1000 },
  });
  assert.equal(crossSite.status, 403);
  const form = await call(gate.adminPort, 'POST', path, {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: { code: 1000 },
  });
  assert.equal(form.status, 415);
  assert.equal(form.json.error.code, 'WSG_ADMIN_CONTENT_TYPE');
  const plain = await call(gate.adminPort, 'POST', path, {
    headers: { 'content-type': 'text/plain' },
    body: { code: 1000 },
  });
  assert.equal(plain.status, 415);
  const preflight = await call(gate.adminPort, 'OPTIONS', path, {
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
  });
  assert.equal(preflight.headers['access-control-allow-origin'], undefined);
  assert.ok(preflight.status >= 400);
  // The admin's own origin, and scripts that send no Origin, reach the handler (a 404: no such connection).
  const same = await call(gate.adminPort, 'POST', path, {
    headers: { origin: `http://127.0.0.1:${gate.adminPort}` },
    body: { code: 1000 },
  });
  assert.equal(same.status, 404);
  assert.equal((await call(gate.adminPort, 'POST', path, { body: { code: 1000 } })).status, 404);
  const badJson = await call(gate.adminPort, 'POST', '/api/connections/w-none/send', {
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(badJson.status, 400);
});

test('the WebSocket feed refuses a foreign Origin', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url);
  const status = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gate.adminPort}/api/events/ws`, { origin: 'https://evil.example' });
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.on('open', () => reject(new Error('a foreign page opened the feed')));
    ws.on('error', () => {});
  });
  assert.equal(status, 403);
  const own = new WebSocket(`ws://127.0.0.1:${gate.adminPort}/api/events/ws`, {
    origin: `http://127.0.0.1:${gate.adminPort}`,
  });
  await new Promise((resolve, reject) => {
    own.once('open', resolve);
    own.once('error', reject);
  });
  own.close();
});

test('a body over the admin API’s 1 MiB is 413 WSG_ADMIN_BODY_TOO_LARGE, announced or streamed', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url);
  const big = { level: 'x'.repeat(1024 * 1024 + 1) };
  const announced = await call(gate.adminPort, 'PUT', '/api/log', { body: big });
  assert.equal(announced.status, 413);
  assert.equal(announced.json.error.code, 'WSG_ADMIN_BODY_TOO_LARGE');
  assert.match(announced.json.error.message, /1 MiB/);
  const chunked = await call(gate.adminPort, 'PUT', '/api/log', {
    headers: { 'transfer-encoding': 'chunked' },
    body: big,
  });
  assert.equal(chunked.status, 413);
  assert.equal(chunked.json.error.code, 'WSG_ADMIN_BODY_TOO_LARGE');
  // A body within the limit still reaches the handler.
  assert.equal((await call(gate.adminPort, 'PUT', '/api/log', { body: { level: 'info' } })).status, 200);
});
