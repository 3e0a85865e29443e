// TLS upstreams (wss:// and https://): verified against the system roots plus the upstream's tls.ca, with a
// servername override; certificate failures become 502 WSG_UPSTREAM_CERT naming the reason and the issuer, for
// WebSocket handshakes and plain requests alike; tls.insecure works but is warned about on every connection.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import {
  type CertAndKey,
  makeSelfSigned,
  makeTestCa,
  startTlsEchoServer,
  type TestCa,
  tempDir,
  writePem,
} from '../../helpers/tls.ts';
import { openWs, type Refusal, refusedHandshake, roundTrip, sha256Hex } from '../../helpers/ws-client.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';

const DAY = 24 * 60 * 60 * 1000;

async function get(url: string): Promise<Refusal> {
  const res = await fetch(url);
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

/** wsgate with one route to a named upstream `up` (url, tls) for every path. */
async function gatewayTo(t: TestContext, url: string, tls?: Record<string, unknown>) {
  return startTestWsgate(
    t,
    reverseConfig([{ upstream: 'up' }], { upstreams: [{ name: 'up', url, ...(tls ? { tls } : {}) }] }),
  );
}

let sharedCa: Promise<TestCa> | undefined;
const testCa = () => {
  sharedCa ??= makeTestCa('wsgate upstream test CA');
  return sharedCa;
};

async function upstreamWith(t: TestContext, pair: CertAndKey) {
  return startTlsEchoServer(t, pair);
}

test('ws client → wsgate → wss upstream trusted through tls.ca: text and binary echo identical', async (t) => {
  const ca = await testCa();
  const dir = tempDir(t);
  const upstream = await upstreamWith(t, await ca.issue());
  const gw = await gatewayTo(t, upstream.wss, { ca: writePem(dir, 'ca.pem', ca.cert) });
  const ws = await openWs(`${gw.ws}/chat`);
  t.after(() => ws.terminate());
  const text = await roundTrip(ws, 'hello over wss ✓');
  assert.equal(text.isBinary, false);
  assert.equal(text.data.toString('utf8'), 'hello over wss ✓');
  for (const size of [1, 64 * 1024, 1024 * 1024]) {
    const payload = randomBytes(size);
    const reply = await roundTrip(ws, payload);
    assert.equal(reply.isBinary, true);
    assert.equal(sha256Hex(reply.data), sha256Hex(payload), `binary ${size} bytes`);
  }
  ws.close(1000);
  await once(ws, 'close');
  const closed = await gw.logs.waitFor('ws.close');
  assert.equal(closed.upstream, 'up');
  // The TLS handshake's share of the time until the upstream connection was made (HAR's ssl).
  const open = await gw.logs.waitFor('ws.open');
  assert.ok(typeof open.tlsMs === 'number' && open.tlsMs <= Number(open.dialMs), JSON.stringify(open));
});

test('plain HTTP to an https upstream is verified the same way (tls.ca)', async (t) => {
  const ca = await testCa();
  const dir = tempDir(t);
  const upstream = await upstreamWith(t, await ca.issue());
  const gw = await gatewayTo(t, upstream.https, { ca: writePem(dir, 'ca.pem', ca.cert) });
  const res = await get(`${gw.http}/hello?x=1`);
  assert.equal(res.status, 200);
  const echoed = JSON.parse(res.body) as { url: string; headers: Record<string, string> };
  assert.equal(echoed.url, '/hello?x=1');
  assert.equal(echoed.headers['x-forwarded-proto'], 'http');
});

test('tls.servername sets the name sent and checked (an upstream reached by IP, its certificate for a DNS name)', async (t) => {
  const ca = await testCa();
  const dir = tempDir(t);
  const upstream = await upstreamWith(t, await ca.issue({ names: ['internal.wsgate.test'] }));
  const caFile = writePem(dir, 'ca.pem', ca.cert);
  const gw = await gatewayTo(t, upstream.wss, { ca: caFile, servername: 'internal.wsgate.test' });
  const ws = await openWs(`${gw.ws}/x`);
  t.after(() => ws.terminate());
  assert.equal((await roundTrip(ws, 'sni')).data.toString(), 'sni');
  const res = await get(`${gw.http}/y`);
  assert.equal(res.status, 200);

  // Without the override the same upstream fails the hostname check: the override is what made it pass.
  const plain = await gatewayTo(t, upstream.wss, { ca: caFile });
  const refused = await refusedHandshake(`${plain.ws}/x`);
  assert.equal(refused.headers['x-wsgate-error'], 'WSG_UPSTREAM_CERT');
  assert.match(refused.body, /hostname mismatch/);
});

test('an inline wss:// URL with a certificate from an unknown CA gets 502 WSG_UPSTREAM_CERT (system roots only)', async (t) => {
  const ca = await testCa();
  const upstream = await upstreamWith(t, await ca.issue());
  const gw = await startTestWsgate(t, reverseConfig([{ upstream: upstream.wss }]));
  const refused = await refusedHandshake(`${gw.ws}/x`);
  assert.equal(refused.status, 502);
  assert.equal(refused.headers['x-wsgate-error'], 'WSG_UPSTREAM_CERT');
  assert.match(refused.body, /unknown issuer/);
  assert.match(refused.body, /issuer: CN=wsgate upstream test CA, O=wsgate tests/);
});

type Failure = {
  name: string;
  reason: RegExp;
  make: (ca: TestCa) => Promise<CertAndKey>;
  issuer: RegExp;
  detail: RegExp;
};

const FAILURES: Failure[] = [
  {
    name: 'expired',
    reason: /: expired \(/,
    make: (ca) => ca.issue({ notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) }),
    issuer: /issuer: CN=wsgate upstream test CA/,
    detail: /it expired on /,
  },
  {
    name: 'not yet valid',
    reason: /: not yet valid \(/,
    make: (ca) => ca.issue({ notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 10 * DAY) }),
    issuer: /issuer: CN=wsgate upstream test CA/,
    detail: /it is valid only from /,
  },
  {
    name: 'wrong host',
    reason: /: hostname mismatch \(/,
    make: (ca) => ca.issue({ names: ['other.wsgate.test'] }),
    issuer: /issuer: CN=wsgate upstream test CA/,
    detail: /it is for DNS:other\.wsgate\.test, not 127\.0\.0\.1/,
  },
  {
    name: 'unknown issuer',
    reason: /: unknown issuer \(/,
    // A TLS inspector's CA that nobody here trusts signs the certificate: the body names it.
    make: async () => (await makeTestCa('Corp TLS Inspection CA')).issue(),
    issuer: /issuer: CN=Corp TLS Inspection CA, O=wsgate tests/,
    detail: /issued by a CA that is not trusted here/,
  },
  {
    name: 'self-signed',
    reason: /: self-signed \(/,
    make: () => makeSelfSigned(),
    issuer: /issuer: CN=self-signed\.test/,
    detail: /signed itself/,
  },
];

for (const failure of FAILURES) {
  test(`upstream certificate ${failure.name}: 502 WSG_UPSTREAM_CERT with the reason, for a handshake and a request`, async (t) => {
    const ca = await testCa();
    const dir = tempDir(t);
    const upstream = await upstreamWith(t, await failure.make(ca));
    const caFile = writePem(dir, 'ca.pem', ca.cert);
    const wsGw = await gatewayTo(t, upstream.wss, { ca: caFile });
    const refused = await refusedHandshake(`${wsGw.ws}/chat`);
    assert.equal(refused.status, 502);
    assert.equal(refused.headers['x-wsgate-error'], 'WSG_UPSTREAM_CERT');
    assert.match(refused.body, failure.reason);
    assert.match(refused.body, failure.detail);
    assert.match(refused.body, failure.issuer);
    assert.match(refused.body, /hint: If a TLS inspector/);
    const line = await wsGw.logs.waitFor('ws.upstream_error');
    assert.equal(line.code, 'WSG_UPSTREAM_CERT');

    const httpGw = await gatewayTo(t, upstream.https, { ca: caFile });
    const res = await get(`${httpGw.http}/page`);
    assert.equal(res.status, 502);
    assert.equal(res.headers['x-wsgate-error'], 'WSG_UPSTREAM_CERT');
    assert.match(res.body, failure.reason);
    assert.match(res.body, failure.issuer);
    const httpLine = await httpGw.logs.waitFor('http.upstream_error');
    assert.equal(httpLine.code, 'WSG_UPSTREAM_CERT');
    // Nothing was sent over the unverified connections: the upstream never saw a request or a handshake.
    assert.equal(upstream.requests(), 0);
  });
}

test('tls.insecure connects to a self-signed upstream, warned at start and on every connection', async (t) => {
  const upstream = await upstreamWith(t, await makeSelfSigned());
  const gw = await gatewayTo(t, upstream.wss, { insecure: true });
  const started = gw.logs.events('tls.insecure_upstream');
  assert.equal(started.length, 1, 'one warning at start');
  assert.equal(started[0]!.level, 'warn');
  for (const n of [1, 2]) {
    const ws = await openWs(`${gw.ws}/x`);
    assert.equal((await roundTrip(ws, `insecure ${n}`)).data.toString(), `insecure ${n}`);
    ws.terminate();
  }
  const perConnection = gw.logs.events('tls.insecure_upstream').slice(1);
  assert.equal(perConnection.length, 2);
  for (const line of perConnection) {
    assert.equal(line.level, 'warn');
    assert.equal(line.authorized, false);
    assert.equal(line.authorizationError, 'DEPTH_ZERO_SELF_SIGNED_CERT');
    assert.match(String(line.id), /^w/);
  }

  const httpGw = await gatewayTo(t, upstream.https, { insecure: true });
  const res = await get(`${httpGw.http}/p`);
  assert.equal(res.status, 200);
  const httpWarnings = httpGw.logs.events('tls.insecure_upstream');
  assert.equal(httpWarnings.length, 2, 'start + the one upstream connection');
  assert.match(String(httpWarnings[1]!.id), /^r/);
});

test('upstream-side TLS secrets go to the key log (tls.keyLog)', async (t) => {
  const ca = await testCa();
  const dir = tempDir(t);
  const upstream = await upstreamWith(t, await ca.issue());
  const keyLog = join(dir, 'keys.log');
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: 'up' }], {
      upstreams: [{ name: 'up', url: upstream.wss, tls: { ca: writePem(dir, 'ca.pem', ca.cert) } }],
      tls: { keyLog },
    }),
  );
  const ws = await openWs(`${gw.ws}/x`);
  await roundTrip(ws, 'k');
  ws.terminate();
  assert.equal((await get(`${gw.http}/p`)).status, 200);
  await gw.running.shutdown();
  const lines = readFileSync(keyLog, 'utf8').trim().split('\n');
  // Node and the echo server agree on TLS 1.3: one CLIENT_TRAFFIC_SECRET_0 per connection (WebSocket + HTTP).
  const secrets = lines.filter((l) => l.startsWith('CLIENT_TRAFFIC_SECRET_0 '));
  assert.equal(secrets.length, 2, lines.join('\n'));
  for (const line of lines) assert.match(line, /^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]+$/);
});
