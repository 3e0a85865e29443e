// What the admin API and keepalive do to live connections, on both paths: send a message to either side (on
// passthrough only at a message boundary, never inside a fragmented message), close with a code to one side or
// both, refuse what cannot be done, and keep a silent connection open through an idle timeout with wsgate's own
// pings (the pongs counted). Connections no rule touches stay byte for byte while another route is relayed.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { OPCODE, RawWsClient, startRawUpstream, waitUntil } from '../../helpers/raw-ws.ts';
import { connect, handRules, startGate, startUpstream, until } from './support.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('a connection no rule touches stays byte for byte (SHA-256 both ways) while another path is relayed', async (t) => {
  const upstream = await startRawUpstream(t);
  const gate = await startGate(t, {
    upstreamPort: upstream.port,
    rules: (path) => (path === '/relayed' ? handRules() : handRules({ needsRelay: false })),
  });
  const relayed = await RawWsClient.connect(t, gate.port, { path: '/relayed' });
  const client = await RawWsClient.connect(t, gate.port, { path: '/plain' });
  const up = await upstream.connection('/plain');
  for (let i = 0; i < 40; i++) {
    const size = [0, 1, 125, 126, 65535, 65536, 70_000][i % 7]!;
    const payload = randomBytes(size);
    const cut = Math.floor(size / 2);
    await client.send({ opcode: OPCODE.BINARY, payload: payload.subarray(0, cut), fin: false });
    await client.send({ opcode: OPCODE.PING, payload: Buffer.from(`p${i}`) });
    await client.send({ opcode: OPCODE.CONTINUATION, payload: payload.subarray(cut), fin: true });
    await up.send({ opcode: i % 2 ? OPCODE.TEXT : OPCODE.BINARY, payload: i % 2 ? `text ${i} é€😀` : payload });
  }
  await waitUntil(() => up.receivedLength === client.sentBytes().length, 'every client byte at the upstream');
  await waitUntil(() => client.receivedLength === up.sentBytes().length, 'every upstream byte at the client');
  assert.equal(sha(up.received()), sha(client.sentBytes()));
  assert.equal(sha(client.received()), sha(up.sentBytes()));
  const plainOpen = gate.of('/plain').find((e) => e.type === 'open');
  assert.equal(plainOpen?.type === 'open' && plainOpen.relay, undefined, 'passthrough');
  const relayedOpen = gate.of('/relayed').find((e) => e.type === 'open');
  assert.equal(relayedOpen?.type === 'open' && relayedOpen.relay, true);
  assert.equal((await gate.session('/plain')).mode, 'passthrough');
  void relayed;
});

test('passthrough send: at a message boundary only, masked toward the server, unmasked toward the client', async (t) => {
  const upstream = await startRawUpstream(t);
  const gate = await startGate(t, { upstreamPort: upstream.port });
  const client = await RawWsClient.connect(t, gate.port, { path: '/send' });
  const up = await upstream.connection('/send');
  const session = await gate.session('/send');
  // The client is in the middle of a fragmented message: the admin's message must wait for its end.
  await client.send({ opcode: OPCODE.TEXT, payload: 'part one, ', fin: false });
  await waitUntil(() => up.frames.length === 1, 'the first fragment');
  assert.deepEqual(session.send('server', { type: 'text', data: Buffer.from('from the admin') }), { ok: true });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(up.frames.length, 1, 'nothing inside the fragmented message');
  await client.send({ opcode: OPCODE.CONTINUATION, payload: 'part two', fin: true });
  await waitUntil(() => up.frames.length === 3, 'the last fragment and the admin message');
  assert.deepEqual(
    up.frames.map((f) => [f.opcode, f.fin, f.masked, f.payload.toString()]),
    [
      [OPCODE.TEXT, false, true, 'part one, '],
      [OPCODE.CONTINUATION, true, true, 'part two'],
      [OPCODE.TEXT, true, true, 'from the admin'],
    ],
  );
  assert.deepEqual(session.send('client', { type: 'binary', data: Buffer.from([9, 8, 7]) }), { ok: true });
  await waitUntil(() => client.frames.length === 1, 'the admin message at the client');
  assert.deepEqual(
    client.frames.map((f) => [f.opcode, f.masked, [...f.payload]]),
    [[OPCODE.BINARY, false, [9, 8, 7]]],
  );
});

test('passthrough close: code and reason to the client; the server hears the client answer; then refusals', async (t) => {
  const serverSaw: { code: number; reason: string }[] = [];
  const upstream = await startUpstream(t, {
    onConnection: (ws) => ws.on('close', (code, reason) => serverSaw.push({ code, reason: reason.toString() })),
  });
  const gate = await startGate(t, { upstreamPort: upstream.port });
  const c = await connect(`${gate.url}/pclose`);
  const session = await gate.session('/pclose');
  assert.deepEqual(session.close(1005, '', 'both'), {
    ok: false,
    reason: 'close code 1005 may not be sent (RFC 6455 §7.4)',
  });
  assert.deepEqual(session.close(4321, 'admin says bye', 'client'), { ok: true });
  assert.deepEqual(await c.closed, { code: 4321, reason: 'admin says bye' });
  await until(() => serverSaw[0], 'the server close');
  assert.equal(serverSaw[0]!.code, 4321);
  assert.equal(session.send('client', { type: 'text', data: Buffer.from('late') }).ok, false);
  assert.equal(session.close(1000, '', 'both').ok, false);
  const end = await gate.end('/pclose');
  assert.equal(end.endedBy, 'wsgate');
  assert.equal(end.termination, 'WC');
  assert.equal(end.closeCode, 4321);
});

test('relay send and close: messages to both sides in order with the relay, close to both', async (t) => {
  const upstream = await startUpstream(t);
  const gate = await startGate(t, { upstreamPort: upstream.port, rules: () => handRules() });
  const c = await connect(`${gate.url}/rsend`);
  const session = await gate.session('/rsend');
  assert.equal(session.mode, 'relay');
  assert.deepEqual(session.send('server', { type: 'text', data: Buffer.from('to the echo') }), { ok: true });
  assert.deepEqual(session.send('client', { type: 'text', data: Buffer.from('to the client') }), { ok: true });
  await until(() => (c.messages.length === 2 ? true : undefined), 'two messages');
  assert.deepEqual(c.messages.map((m) => m.data.toString()).sort(), ['to the client', 'to the echo']);
  assert.deepEqual(session.close(4000, 'enough', 'both'), { ok: true });
  assert.deepEqual(await c.closed, { code: 4000, reason: 'enough' });
  assert.equal(session.send('client', { type: 'text', data: Buffer.from('late') }).ok, false);
  const end = await gate.end('/rsend');
  assert.equal(end.closeCode, 4000);
  assert.equal(end.clean, true);
});

for (const relayed of [false, true]) {
  test(`keepalive keeps a silent ${relayed ? 'relayed' : 'passthrough'} connection open through an idle timeout`, async (t) => {
    let serverPings = 0;
    let serverPongs = 0;
    const upstream = await startUpstream(t, {
      onConnection: (ws) => {
        ws.on('ping', () => {
          serverPings += 1;
        });
        ws.on('pong', () => {
          serverPongs += 1;
        });
        ws.on('message', (d: Buffer) => ws.send(d));
      },
    });
    const gate = await startGate(t, {
      upstreamPort: upstream.port,
      rules: relayed ? () => handRules() : undefined,
      idleTimeout: 300,
      keepalive: { intervalMs: 80, to: 'both' },
    });
    const path = `/ka-${relayed}`;
    const c = await connect(`${gate.url}${path}`);
    let clientPings = 0;
    let clientPongs = 0;
    c.ws.on('ping', () => {
      clientPings += 1;
    });
    c.ws.on('pong', () => {
      clientPongs += 1;
    });
    // Silent for three idle timeouts.
    await new Promise((r) => setTimeout(r, 900));
    assert.equal(c.ws.readyState, c.ws.OPEN, 'still open');
    assert.ok(clientPings >= 3, `${clientPings} pings at the client`);
    assert.ok(serverPings >= 3, `${serverPings} pings at the server`);
    // The pongs that answer wsgate's pings are wsgate's: neither peer gets the other's.
    assert.equal(clientPongs, 0);
    assert.equal(serverPongs, 0);
    // The peers' own pings still pass, and are answered by the other peer.
    const pong = new Promise<Buffer>((resolve) => c.ws.once('pong', resolve));
    c.ws.ping('mine');
    assert.equal((await pong).toString(), 'mine');
    c.ws.send('still here');
    await until(() => c.messages[0], 'echo');
    c.ws.close(1000);
    await c.closed;
    const end = await gate.end(path);
    assert.ok(end.keepalive !== undefined && end.keepalive.pings >= 6, JSON.stringify(end.keepalive));
    assert.ok(end.keepalive.pongs >= 4, JSON.stringify(end.keepalive));
    assert.equal(end.how, 'close');
  });
}

test('without keepalive the same silence hits the idle timeout', async (t) => {
  const upstream = await startUpstream(t);
  const gate = await startGate(t, { upstreamPort: upstream.port, rules: () => handRules(), idleTimeout: 200 });
  const c = await connect(`${gate.url}/idle`);
  const closed = await c.closed;
  assert.equal(closed.code, 1006);
  const end = await gate.end('/idle');
  assert.equal(end.how, 'idle');
  assert.equal(end.termination, 'WI');
});

test('passthrough send inside a permessage-deflate stream: uncompressed messages arrive at ws on both ends', async (t) => {
  const upstream = await startUpstream(t, { perMessageDeflate: { threshold: 0 } });
  const gate = await startGate(t, { upstreamPort: upstream.port });
  const c = await connect(`${gate.url}/pmd-send`, { perMessageDeflate: { threshold: 0 } });
  const open = gate.of('/pmd-send').find((e) => e.type === 'open');
  assert.match(open?.type === 'open' ? (open.extensions ?? '') : '', /permessage-deflate/);
  const session = await gate.session('/pmd-send');
  // Compressed traffic before and after, so the shared LZ77 contexts are in use around the inserted messages.
  c.ws.send('hello hello hello');
  await until(() => c.messages[0], 'first echo');
  assert.deepEqual(session.send('client', { type: 'text', data: Buffer.from('from wsgate to the client') }), {
    ok: true,
  });
  assert.deepEqual(session.send('server', { type: 'text', data: Buffer.from('from wsgate to the server') }), {
    ok: true,
  });
  c.ws.send('hello hello hello again');
  await until(() => (c.messages.length >= 4 ? true : undefined), 'four messages');
  assert.deepEqual(
    c.messages.map((m) => m.data.toString()).sort(),
    ['from wsgate to the client', 'from wsgate to the server', 'hello hello hello', 'hello hello hello again'].sort(),
  );
  c.ws.close(1000);
  assert.equal((await c.closed).code, 1000);
});
