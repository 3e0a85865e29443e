// limits.clientIpv6Prefix: behind a layer-4 balancer (PROXY protocol), IPv6 clients are counted by their /64 for
// maxConnectionsPerClient, so a client rotating addresses inside its network cannot take a fresh limit per address.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { formatProxyV1, type ProxiedAddress } from '../../../src/net/proxy-protocol.ts';
import { RawClient, startRawSink } from '../../helpers/raw.ts';
import { startTestWsgate } from '../../helpers/wsgate.ts';

const FRONT6: ProxiedAddress = { address: '2001:db8::1', port: 80, family: 'IPv6' };

function client(address: string, port = 40000): ProxiedAddress {
  return { address, port, family: 'IPv6' };
}

async function setup(t: TestContext, limits: Record<string, unknown>) {
  const sink = await startRawSink(t);
  return startTestWsgate(t, {
    listeners: [{ name: 'lb', bind: '127.0.0.1:0', proxyProtocol: true, routes: [{ upstream: sink.wsUrl }] }],
    limits,
    shutdown: { grace: '200ms' },
  });
}

/** Opens a kept-alive request as `from`; the status it got. */
async function getAs(t: TestContext, port: number, from: ProxiedAddress): Promise<{ status: number; code?: string }> {
  const raw = await RawClient.connect(t, port);
  raw.write(`${formatProxyV1(from, FRONT6)}GET /keep HTTP/1.1\r\nHost: app.test\r\n\r\n`);
  const res = await raw.response();
  const code = res.headers['x-wsgate-error'];
  return code === undefined ? { status: res.status } : { status: res.status, code: String(code) };
}

test('maxConnectionsPerClient counts an IPv6 client by its /64: another address in it is over the limit', async (t) => {
  const gw = await setup(t, { maxConnectionsPerClient: 1 });
  assert.deepEqual(await getAs(t, gw.port, client('2001:db8:5:6::10')), { status: 200 });
  // A second address of the same /64 while the first connection is open: the same client, one over.
  const again = await getAs(t, gw.port, client('2001:db8:5:6:abcd::1', 40001));
  assert.deepEqual(again, { status: 503, code: 'WSG_TOO_MANY_CONNECTIONS' });
  // The next /64 is another client.
  assert.deepEqual(await getAs(t, gw.port, client('2001:db8:5:7::10')), { status: 200 });
  const line = await gw.logs.waitFor('conn.limit');
  assert.deepEqual([line['client'], line['clientNetwork']], ['2001:db8:5:6:abcd::1', '2001:db8:5:6::/64']);
  assert.match(String(line['msg']), /counted as its network 2001:db8:5:6::\/64/);
});

test('clientIpv6Prefix 128 counts each IPv6 address on its own', async (t) => {
  const gw = await setup(t, { maxConnectionsPerClient: 1, clientIpv6Prefix: 128 });
  assert.deepEqual(await getAs(t, gw.port, client('2001:db8:5:6::10')), { status: 200 });
  assert.deepEqual(await getAs(t, gw.port, client('2001:db8:5:6::11', 40001)), { status: 200 });
  const same = await getAs(t, gw.port, client('2001:db8:5:6::10', 40002));
  assert.deepEqual(same, { status: 503, code: 'WSG_TOO_MANY_CONNECTIONS' });
  const line = await gw.logs.waitFor('conn.limit');
  assert.deepEqual([line['client'], line['clientNetwork']], ['2001:db8:5:6::10', undefined]);
});
