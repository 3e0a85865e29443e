// Absolute-form requests through the forward proxy reuse kept-alive connections to the target (undici's pool): one
// the target closed just as a request went out is replaced by a new one for an idempotent request, as the reverse
// proxy does (src/upstream/http-retry.ts); a POST is never sent twice.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyAgent, request } from 'undici';
import { closesKeptAlive } from '../../helpers/servers.ts';
import { forwardConfig, startProxy } from './helpers.ts';

test('a kept-alive connection the target closed under a GET: sent again on a new one; a POST is not', async (t) => {
  const target = await closesKeptAlive(t);
  const gw = await startProxy(t, forwardConfig());
  const get = async (path: string, method: 'GET' | 'POST' = 'GET') => {
    // A new client connection each time: only wsgate's own connections to the target are reused.
    const agent = new ProxyAgent(gw.url());
    try {
      const res = await request(`${target.url}${path}`, {
        dispatcher: agent,
        method,
        body: method === 'POST' ? 'one order' : null,
      });
      return { status: res.statusCode, body: await res.body.text() };
    } finally {
      await agent.close();
    }
  };
  for (let i = 0; i < 3; i++) assert.deepEqual(await get(`/page/${i}`), { status: 200, body: 'ok' }, `GET ${i}`);
  assert.equal(target.requests.length, 3);
  assert.equal(target.connections(), 3);
  const accessRetries = gw.logs.events('http.access').map((e) => e['retries']);
  assert.deepEqual(accessRetries, [undefined, 1, 1], 'the access line counts the retries');
  const retries = gw.logs.events('http.upstream_retry');
  assert.deepEqual(
    retries.map((e) => [e['reason'], e['code']]),
    [
      ['kept-alive connection closed', 'WSG_UPSTREAM_RESET'],
      ['kept-alive connection closed', 'WSG_UPSTREAM_RESET'],
    ],
  );
  const post = await get('/order', 'POST');
  assert.equal(post.status, 502);
  assert.equal(target.connections(), 3, 'the POST was not sent again');
  assert.equal(gw.logs.events('http.upstream_retry').length, 2);
});
