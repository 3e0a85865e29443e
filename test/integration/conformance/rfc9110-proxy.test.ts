// RFC 9110 corners of plain (non-upgrade) requests, the same through every door (reverse, absolute-form, inside a
// CONNECT tunnel, intercepted TLS), as nginx and Envoy behave: TE is hop-by-hop but its `trailers` member goes on
// (§10.1.4: gRPC and others refuse a request without it), a chunked response's trailer fields reach the client, and
// an upstream's 103 Early Hints is passed on before its answer (§15.2) without its hop-by-hop fields (§7.6.1).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertHealthy, type Channel, ENTRY_KINDS } from '../../helpers/entry-kinds.ts';
import { defaultResponder, type SinkResponder } from '../../helpers/raw.ts';

const TRAILERS =
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n2\r\nok\r\n0\r\nX-Checksum: c0ffee\r\n\r\n';

const EARLY_HINTS =
  'HTTP/1.1 103 Early Hints\r\nLink: </app.js>; rel=preload\r\nConnection: X-Hop\r\nX-Hop: secret\r\n' +
  'Keep-Alive: timeout=5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

function respond(head: string): string {
  const path = /^\S+ (\S+)/.exec(head)?.[1] ?? '/';
  if (path.endsWith('/trailers')) return TRAILERS;
  if (path.endsWith('/hints')) return EARLY_HINTS;
  return defaultResponder(head);
}

/** Waits until the client has received `marker`; fails with what it got. */
async function received(channel: Channel, marker: string, timeoutMs = 3000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = channel.received.toString('latin1');
    if (text.includes(marker)) return text;
    if (channel.closed || Date.now() >= deadline) throw new Error(`no ${JSON.stringify(marker)} in ${text}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const kind of ENTRY_KINDS) {
  test(`${kind.name}: TE keeps only its trailers member on the way to the upstream`, async (t) => {
    const entry = await kind.start(t, {}, { respond });
    const channel = await entry.open(t);
    channel.write(
      `GET ${entry.target('/te')} HTTP/1.1\r\nHost: ${entry.host}\r\nTE: trailers, deflate;q=0.5\r\n` +
        'Connection: TE\r\n\r\n',
    );
    await received(channel, '\r\n\r\nok');
    const head = entry.sink.connections.at(-1)?.heads.at(-1) ?? '';
    assert.match(head, /\r\nte: trailers(\r\n|$)/i, `the upstream is told trailers are welcome: ${head}`);
    assert.doesNotMatch(head, /deflate/i, 'the other TE members end at wsgate');
    channel.destroy();
    await assertHealthy(t, entry);
  });

  test(`${kind.name}: a chunked response's trailer fields reach the client`, async (t) => {
    const entry = await kind.start(t, {}, { respond });
    const channel = await entry.open(t);
    channel.write(`GET ${entry.target('/trailers')} HTTP/1.1\r\nHost: ${entry.host}\r\nTE: trailers\r\n\r\n`);
    const text = await received(channel, '\r\n0\r\n');
    const rest = await received(channel, 'X-Checksum: c0ffee').catch(() => channel.received.toString('latin1'));
    assert.match(rest, /\r\n0\r\nX-Checksum: c0ffee\r\n\r\n$/i, `the trailer section: ${JSON.stringify(text)}`);
    channel.destroy();
    await assertHealthy(t, entry);
  });

  test(`${kind.name}: a 103 Early Hints goes on before the answer, without its hop-by-hop fields`, async (t) => {
    const entry = await kind.start(t, {}, { respond });
    const channel = await entry.open(t);
    channel.write(`GET ${entry.target('/hints')} HTTP/1.1\r\nHost: ${entry.host}\r\n\r\n`);
    const text = await received(channel, '\r\n\r\nok');
    assert.match(text, /^HTTP\/1\.1 103 Early Hints\r\n/, `the 103 first: ${JSON.stringify(text)}`);
    const hints = text.slice(0, text.indexOf('\r\n\r\n'));
    assert.match(hints, /\r\nlink: <\/app\.js>; rel=preload/i);
    assert.doesNotMatch(hints, /x-hop|keep-alive|secret/i, 'hop-by-hop fields end at wsgate');
    assert.match(text.slice(hints.length + 4), /^HTTP\/1\.1 200 OK\r\n/, 'then the answer');
    channel.destroy();
    await assertHealthy(t, entry);
  });

  test(`${kind.name}: an HTTP/1.0 client gets no 103, only the answer`, async (t) => {
    const entry = await kind.start(t, {}, { respond });
    const channel = await entry.open(t);
    channel.write(`GET ${entry.target('/hints')} HTTP/1.0\r\nHost: ${entry.host}\r\n\r\n`);
    const text = await received(channel, '\r\n\r\nok');
    // RFC 9110 §15.2: a server must not send a 1xx response to an HTTP/1.0 client.
    assert.match(text, /^HTTP\/1\.[01] 200 OK\r\n/, JSON.stringify(text));
    assert.doesNotMatch(text, / 103 /);
    channel.destroy();
    await assertHealthy(t, entry);
  });
}

/**
 * 40,000 103 heads of about 512 bytes (20 MiB), then the answer, written by the upstream itself so that the test
 * knows when it is all out: `flushed` resolves once the kernel has taken the last byte, so wsgate has read all but
 * what the socket buffers hold.
 */
function flooding(): { respond: SinkResponder; flushed: Promise<void> } {
  let done: () => void;
  const flushed = new Promise<void>((r) => {
    done = r;
  });
  const respondFlood: SinkResponder = (head, conn) => {
    if (!/^\S+ \S*\/flood /.test(head)) return respond(head);
    const hint = `HTTP/1.1 103 Early Hints\r\nLink: </${'a'.repeat(460)}.js>; rel=preload\r\n\r\n`;
    conn.socket.write(`${hint.repeat(40_000)}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`, () => done());
    return undefined;
  };
  return { respond: respondFlood, flushed };
}

for (const kind of ENTRY_KINDS) {
  test(`${kind.name}: 103s are not buffered for a client that does not read them`, async (t) => {
    const { respond: flood, flushed } = flooding();
    const entry = await kind.start(t, {}, { respond: flood });
    const channel = await entry.open(t);
    channel.socket.pause();
    channel.write(`GET ${entry.target('/flood')} HTTP/1.1\r\nHost: ${entry.host}\r\n\r\n`);
    // wsgate reads the upstream's 20 MiB meanwhile (nothing holds the upstream back); those for a client whose
    // socket is full are dropped. Waited for by progress, not by a fixed time, then a moment for the socket buffers.
    await Promise.race([
      flushed,
      new Promise((_, reject) => setTimeout(() => reject(new Error('the upstream could not send its 20 MiB')), 20_000)),
    ]);
    await new Promise((r) => setTimeout(r, 300));
    channel.socket.resume();
    const text = await received(channel, '\r\n\r\nok', 10_000);
    const hints = text.split('HTTP/1.1 103 ').length - 1;
    assert.ok(hints > 0, 'the first hints went on');
    assert.ok(hints < 20_000, `${hints} of 40,000 hints reached the client: the rest waited in wsgate's memory`);
    channel.destroy();
    await assertHealthy(t, entry);
  });
}

/** Answers an upstream that was reached may send that no HTTP parser takes. */
function malformed(head: string): string | undefined {
  if (/^\S+ \S*\/big /.test(head))
    return `HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(40_000)}\r\nContent-Length: 2\r\n\r\nok`;
  if (/^\S+ \S*\/twice /.test(head)) return 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!';
  return respond(head);
}

for (const kind of ENTRY_KINDS) {
  test(`${kind.name}: an upstream's malformed answer is 502 WSG_UPSTREAM_BAD_RESPONSE, not "unreachable"`, async (t) => {
    const entry = await kind.start(t, {}, { respond: malformed });
    for (const path of ['/big', '/twice']) {
      const channel = await entry.open(t);
      channel.write(`GET ${entry.target(path)} HTTP/1.1\r\nHost: ${entry.host}\r\n\r\n`);
      const res = await channel.response();
      assert.equal(res.status, 502, path);
      assert.equal(res.headers['x-wsgate-error'], 'WSG_UPSTREAM_BAD_RESPONSE', `${path}: ${res.body.toString()}`);
      assert.match(res.body.toString(), /sent an invalid response/);
      channel.destroy();
    }
    await assertHealthy(t, entry);
  });
}
