// Expect: 100-continue through a reverse listener: Node's server answers the client's 100 itself, so the Expect
// ends at wsgate (as nginx drops it) and the request is forwarded like any other, with the same response timeout.
// Sent on, it made http-proxy-3 skip its 'proxyReq' event: no timeout, a silent upstream held the client forever.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rawExchange, startHttpServer, startSilentServer } from '../../helpers/servers.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';

test('Expect: 100-continue to a silent upstream: 504 after responseTimeout, as without Expect', async (t) => {
  const silent = await startSilentServer(t);
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: `http://127.0.0.1:${silent.port}` }], { limits: { responseTimeout: '300ms' } }),
  );
  const raw = await rawExchange(
    gw.port,
    'POST /slow HTTP/1.1\r\nHost: a.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
    4000,
  );
  const text = raw.toString('latin1');
  assert.match(text, /HTTP\/1\.1 504 /, text);
});

test('Expect: 100-continue: the body reaches the upstream, the answer the client', async (t) => {
  const upstream = await startHttpServer(t, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => res.end(`got ${body} expect=${req.headers.expect ?? '-'}`));
  });
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.url }]));
  const raw = await rawExchange(
    gw.port,
    'POST /x HTTP/1.1\r\nHost: a.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
    4000,
  );
  const text = raw.toString('latin1');
  assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/, text);
  assert.match(text, /got hello expect=-/, 'the body went on; the Expect did not');
});
