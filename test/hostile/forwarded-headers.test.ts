// Issue 11, item 6: forwarding headers wsgate vouches for. A client's own X-Forwarded-For/-Proto/-Host and
// Forwarded (any case, repeated) never reach the upstream as if wsgate had set them: on a reverse listener wsgate
// removes them and states what it saw (the peer's address, the scheme, the Host), on plain requests and WebSocket
// handshakes alike. From a peer in the listener's trustForwarded the chain is kept and wsgate's hop appended. Forward
// listeners act as forward proxies do: they add Via on absolute-form requests (none inside a tunnel, where wsgate
// stays invisible), add no forwarding fields and pass the client's own unchanged, on both paths. Asserted on the
// raw heads a sink upstream received.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { RawClient, type RawSink, startRawSink, wsHandshake } from '../helpers/raw.ts';
import { startTestWsgate } from '../helpers/wsgate.ts';
import { forwardConfig, rawConnect, startProxy } from '../integration/forward/helpers.ts';

const SPOOFED = [
  'X-Forwarded-For: 203.0.113.66',
  'x-forwarded-for: 198.51.100.9',
  'X-Forwarded-Proto: https',
  'X-FORWARDED-HOST: evil.test',
  'Forwarded: for=192.0.2.1;host=evil.test;proto=https',
];

const FORWARDING = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded'];

/** A request head's fields as lower-cased name → values, in order. */
function fields(head: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    out.set(name, [...(out.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return out;
}

async function reverse(t: TestContext, trustForwarded?: string[]) {
  const sink = await startRawSink(t);
  const gw = await startTestWsgate(t, {
    listeners: [
      {
        name: 'test',
        bind: '127.0.0.1:0',
        ...(trustForwarded === undefined ? {} : { trustForwarded }),
        routes: [{ upstream: sink.wsUrl }],
      },
    ],
    shutdown: { grace: '200ms' },
  });
  return { sink, gw };
}

/** Sends a plain GET and a WebSocket handshake with the spoofed fields; returns the two heads the sink received. */
async function bothHeads(t: TestContext, port: number, sink: RawSink, target = (p: string) => p, host = 'wsgate.test') {
  const plain = await RawClient.connect(t, port);
  plain.write(
    `GET ${target('/plain')} HTTP/1.1\r\nHost: ${host}\r\n${SPOOFED.join('\r\n')}\r\nConnection: close\r\n\r\n`,
  );
  assert.equal((await plain.response()).status, 200);
  const ws = await RawClient.connect(t, port);
  ws.write(wsHandshake(target('/ws'), SPOOFED).replace('Host: wsgate.test', `Host: ${host}`));
  assert.equal((await ws.response()).status, 101);
  const heads = sink.connections.flatMap((c) => c.heads);
  assert.equal(heads.length, 2);
  return {
    plain: fields(heads.find((h) => /^GET \S*\/plain /.test(h))!),
    ws: fields(heads.find((h) => /^GET \S*\/ws /.test(h))!),
  };
}

test('reverse listener, default: the client’s forwarding fields are replaced by what wsgate saw (HTTP and WebSocket)', async (t) => {
  const { sink, gw } = await reverse(t);
  const heads = await bothHeads(t, gw.port, sink);
  for (const [kind, f] of Object.entries(heads)) {
    assert.deepEqual(f.get('x-forwarded-for'), ['127.0.0.1'], `${kind}: X-Forwarded-For`);
    assert.deepEqual(f.get('x-forwarded-proto'), ['http'], `${kind}: X-Forwarded-Proto`);
    assert.deepEqual(f.get('x-forwarded-host'), ['wsgate.test'], `${kind}: X-Forwarded-Host`);
    assert.deepEqual(f.get('forwarded'), ['for=127.0.0.1;proto=http;host=wsgate.test'], `${kind}: Forwarded`);
  }
  assert.doesNotMatch(sink.text(), /203\.0\.113\.66|198\.51\.100\.9|192\.0\.2\.1|evil\.test/);
});

test('reverse listener, peer in trustForwarded: the chain is kept and wsgate’s hop appended', async (t) => {
  const { sink, gw } = await reverse(t, ['10.0.0.0/8', '127.0.0.0/8']);
  const heads = await bothHeads(t, gw.port, sink);
  for (const [kind, f] of Object.entries(heads)) {
    assert.deepEqual(f.get('x-forwarded-for'), ['203.0.113.66, 198.51.100.9, 127.0.0.1'], `${kind}: X-Forwarded-For`);
    assert.deepEqual(f.get('x-forwarded-proto'), ['https'], `${kind}: the trusted proxy’s scheme`);
    assert.deepEqual(f.get('x-forwarded-host'), ['evil.test'], `${kind}: the trusted proxy’s host`);
    assert.deepEqual(
      f.get('forwarded'),
      ['for=192.0.2.1;host=evil.test;proto=https, for=127.0.0.1;proto=http;host=wsgate.test'],
      `${kind}: Forwarded`,
    );
  }
});

test('reverse listener, trustForwarded that does not name the peer: replaced as by default', async (t) => {
  const { sink, gw } = await reverse(t, ['10.0.0.0/8', '::1']);
  const heads = await bothHeads(t, gw.port, sink);
  for (const f of Object.values(heads)) {
    assert.deepEqual(f.get('x-forwarded-for'), ['127.0.0.1']);
    assert.deepEqual(f.get('forwarded'), ['for=127.0.0.1;proto=http;host=wsgate.test']);
  }
});

test('forward listener, absolute-form: Via added, no forwarding fields added, the client’s own unchanged', async (t) => {
  const sink = await startRawSink(t);
  const gw = await startProxy(t, forwardConfig());
  const authority = `127.0.0.1:${sink.port}`;
  const heads = await bothHeads(t, gw.port(), sink, (p) => `http://${authority}${p}`, authority);
  for (const [kind, f] of Object.entries(heads)) {
    // Repeated lines may arrive joined (undici sends one line per field): the same field value (RFC 9110 §5.3).
    assert.equal(f.get('x-forwarded-for')?.join(', '), '203.0.113.66, 198.51.100.9', `${kind}: as sent`);
    assert.deepEqual(f.get('forwarded'), ['for=192.0.2.1;host=evil.test;proto=https'], `${kind}: Forwarded as sent`);
    assert.deepEqual(f.get('x-forwarded-proto'), ['https'], kind);
    assert.deepEqual(f.get('x-forwarded-host'), ['evil.test'], kind);
    assert.match(f.get('via')?.join() ?? '', /^1\.1 wsgate-[0-9a-f]{6}$/, `${kind}: Via`);
  }
});

test('forward listener, inside a CONNECT tunnel: the client’s own fields unchanged, nothing added', async (t) => {
  const sink = await startRawSink(t);
  const gw = await startProxy(t, forwardConfig());
  const authority = `127.0.0.1:${sink.port}`;
  const plain = await rawConnect(gw.port(), authority, {}, 3000);
  t.after(() => plain.socket.destroy());
  plain.socket.resume();
  plain.socket.write(
    `GET /plain HTTP/1.1\r\nHost: ${authority}\r\n${SPOOFED.join('\r\n')}\r\nConnection: close\r\n\r\n`,
  );
  const ws = await rawConnect(gw.port(), authority, {}, 3000);
  t.after(() => ws.socket.destroy());
  ws.socket.resume();
  ws.socket.write(wsHandshake('/ws', SPOOFED).replace('Host: wsgate.test', `Host: ${authority}`));
  const deadline = Date.now() + 3000;
  while (sink.connections.flatMap((c) => c.heads).length < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const heads = sink.connections.flatMap((c) => c.heads);
  assert.equal(heads.length, 2);
  for (const head of heads) {
    const f = fields(head);
    assert.equal(f.get('x-forwarded-for')?.join(', '), '203.0.113.66, 198.51.100.9');
    assert.deepEqual(f.get('forwarded'), ['for=192.0.2.1;host=evil.test;proto=https']);
    assert.equal(f.get('via'), undefined, 'wsgate stays invisible inside a tunnel');
    for (const name of FORWARDING) assert.ok(f.has(name), `${name} passed`);
  }
});
