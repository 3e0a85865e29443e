// Upstream certificate failures under interception. wsgate verifies the real upstream itself (its roots plus
// forward.upstreamCa), so a bad upstream certificate is never hidden behind wsgate's own leaf: the client, inside
// its decrypted session, gets 502 with x-wsgate-error: WSG_UPSTREAM_CERT and a body naming the reason and the
// issuer — for plain requests and WebSocket handshakes alike — and nothing from the bad upstream.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import tls from 'node:tls';
import WebSocket from 'ws';
import { makeSelfSigned, makeTestCa } from '../../helpers/tls.ts';
import { rawConnect } from '../forward/helpers.ts';
import { requestOver, startInterceptProxy, startRecordingTlsServer, tlsThroughProxy, upstreamCa } from './helpers.ts';

const DAY = 24 * 60 * 60 * 1000;

type Case = {
  name: string;
  pair: () => Promise<{ cert: string; key: string }>;
  reason: string;
  /** What the body says about the certificate, besides the reason. */
  detail: RegExp;
  issuer: RegExp;
};

const cases: Case[] = [
  {
    name: 'expired',
    pair: async () =>
      (await upstreamCa()).issue({
        names: ['bad.test'],
        notBefore: new Date(Date.now() - 60 * DAY),
        notAfter: new Date(Date.now() - DAY),
      }),
    reason: 'expired',
    detail: /it expired on /,
    issuer: /issuer: CN=wsgate interception upstream test CA/,
  },
  {
    name: 'wrong host',
    pair: async () => (await upstreamCa()).issue({ names: ['other.test'] }),
    reason: 'hostname mismatch',
    detail: /it is for DNS:other\.test, not bad\.test/,
    issuer: /issuer: CN=wsgate interception upstream test CA/,
  },
  {
    name: 'unknown issuer',
    // A CA wsgate was not told to trust: what a corporate TLS inspector looks like.
    pair: async () => (await makeTestCa('Corp TLS Inspection CA')).issue({ names: ['bad.test'] }),
    reason: 'unknown issuer',
    detail: /issued by a CA that is not trusted here/,
    issuer: /issuer: CN=Corp TLS Inspection CA/,
  },
  {
    name: 'self-signed',
    pair: () => makeSelfSigned(['bad.test'], 'bad.test'),
    reason: 'self-signed',
    detail: /signed itself/,
    issuer: /issuer: CN=bad\.test/,
  },
];

for (const c of cases) {
  test(`${c.name} upstream certificate under interception: 502 WSG_UPSTREAM_CERT inside the client's TLS`, async (t) => {
    const site = await startRecordingTlsServer(t, await c.pair());
    const gw = await startInterceptProxy(t, { intercept: ['bad.test'], names: ['bad.test'] });
    const { socket } = await tlsThroughProxy(gw.port(), `bad.test:${site.port}`, { ca: gw.caPem });
    const res = await requestOver(socket, '/secret', `bad.test:${site.port}`);
    assert.equal(res.status, 502);
    assert.equal(res.headers['x-wsgate-error'], 'WSG_UPSTREAM_CERT');
    assert.match(res.body, new RegExp(`failed verification: ${c.reason} \\(`));
    assert.match(res.body, c.detail);
    assert.match(res.body, c.issuer);
    // The bad upstream got a TLS handshake attempt and never a request.
    assert.equal(site.requests(), 0);
    const line = await gw.logs.waitFor('forward.upstream_error');
    assert.equal(line.code, 'WSG_UPSTREAM_CERT');
    assert.match(String(line.msg), new RegExp(c.reason));
  });
}

test('a wss handshake to an upstream with a bad certificate gets the same 502 through interception', async (t) => {
  const other = await makeTestCa('Corp TLS Inspection CA');
  const site = await startRecordingTlsServer(t, await other.issue({ names: ['bad.test'] }));
  const gw = await startInterceptProxy(t, { intercept: ['bad.test'], names: ['bad.test'] });
  const tunnel = await rawConnect(gw.port(), `bad.test:${site.port}`);
  assert.equal(tunnel.status, 200);
  const ws = new WebSocket(`wss://bad.test:${site.port}/`, {
    createConnection: (options: object) =>
      tls.connect({ ...(options as tls.ConnectionOptions), socket: tunnel.socket.resume() }),
    ca: gw.caPem,
  });
  const refusal = await new Promise<{ status: number; code: unknown; body: string }>((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: res.headers['x-wsgate-error'], body }));
    });
    ws.on('open', () => reject(new Error('the handshake must not succeed')));
    ws.on('error', () => {});
  });
  assert.equal(refusal.status, 502);
  assert.equal(refusal.code, 'WSG_UPSTREAM_CERT');
  assert.match(refusal.body, /unknown issuer/);
  assert.match(refusal.body, /issuer: CN=Corp TLS Inspection CA/);
  const line = await gw.logs.waitFor('ws.upstream_error');
  assert.equal(line.code, 'WSG_UPSTREAM_CERT');
  assert.equal(site.requests(), 0);
});

test('the same upstream is fine once its CA is trusted through forward.upstreamCa (the fix the 502 points to)', async (t) => {
  const site = await startRecordingTlsServer(t, await (await upstreamCa()).issue({ names: ['good.test'] }));
  const gw = await startInterceptProxy(t, { intercept: ['good.test'], names: ['good.test'] });
  const { socket } = await tlsThroughProxy(gw.port(), `good.test:${site.port}`, { ca: gw.caPem });
  const res = await requestOver(socket, '/ok', `good.test:${site.port}`);
  assert.equal(res.status, 200);

  const untrusting = await startInterceptProxy(t, {
    intercept: ['good.test'],
    names: ['good.test'],
    trustUpstreamCa: false,
  });
  const again = await tlsThroughProxy(untrusting.port(), `good.test:${site.port}`, { ca: untrusting.caPem });
  const refused = await requestOver(again.socket, '/ok', `good.test:${site.port}`);
  assert.equal(refused.status, 502);
  assert.match(refused.body, /unknown issuer/);
});
