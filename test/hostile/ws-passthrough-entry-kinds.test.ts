// Hostile cases 22-33 as wsgate runs them today, on every entry kind: passthrough (tap.onViolation "log", the
// default). The terminating relay those cases describe is not built yet; until it is, wsgate observes and the
// upstream decides. For each rule-breaking frame stream a client sends through a reverse listener, a forward
// listener (absolute-form), a CONNECT tunnel or an intercepted TLS session: the upstream receives exactly the bytes
// the client sent, one coded ws.violation line names the rule (with the close code RFC 6455 gives it), and the
// upstream's verdict — its close frame — reaches the client byte for byte; the same the other way for case 23 (a
// masked frame from the upstream). A connection opened beforehand and a fresh one are served after all of them.
// (With tap.onViolation "close" wsgate stops the frame and closes both sides with the code itself: ws-limits.test.ts;
// the same verdicts against a real `ws` echo: conformance/rfc6455.test.ts.)
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { assertHealthy, type Channel, ENTRY_KINDS, type Entry } from '../helpers/entry-kinds.ts';
import { closePayload, frame } from '../helpers/probe.ts';
import { randomKey } from '../helpers/raw.ts';
import { waitUntil } from '../helpers/raw-ws.ts';

const TEXT = 1;
const BINARY = 2;
const CONTINUATION = 0;
const CLOSE = 8;
const PING = 9;

type Case = { name: string; frames: () => Buffer; code: string; closeCode: number };

const CASES: readonly Case[] = [
  {
    name: '22 unmasked client frame',
    frames: () => frame({ op: TEXT, payload: 'x', mask: false }),
    code: 'WSG_WS_UNMASKED_FRAME',
    closeCode: 1002,
  },
  {
    name: '24 RSV1 without an extension',
    frames: () => frame({ op: TEXT, rsv: 4, payload: 'x' }),
    code: 'WSG_WS_UNEXPECTED_RSV1',
    closeCode: 1002,
  },
  {
    name: '24 RSV2 and RSV3',
    frames: () => frame({ op: TEXT, rsv: 3, payload: 'x' }),
    code: 'WSG_WS_UNEXPECTED_RSV2_RSV3',
    closeCode: 1002,
  },
  {
    name: '24 opcode 0x3',
    frames: () => frame({ op: 3, payload: 'x' }),
    code: 'WSG_WS_RESERVED_OPCODE',
    closeCode: 1002,
  },
  { name: '24 opcode 0xB', frames: () => frame({ op: 0xb }), code: 'WSG_WS_RESERVED_OPCODE', closeCode: 1002 },
  {
    name: '25 ping with 126 bytes',
    frames: () => frame({ op: PING, payload: Buffer.alloc(126) }),
    code: 'WSG_WS_CONTROL_TOO_LONG',
    closeCode: 1002,
  },
  {
    name: '25 fragmented ping',
    frames: () => frame({ op: PING, fin: 0, payload: 'a' }),
    code: 'WSG_WS_CONTROL_FRAGMENTED',
    closeCode: 1002,
  },
  {
    name: '26 continuation without a started message',
    frames: () => frame({ op: CONTINUATION, payload: 'x' }),
    code: 'WSG_WS_UNEXPECTED_CONTINUATION',
    closeCode: 1002,
  },
  {
    name: '26 new TEXT before FIN',
    frames: () => Buffer.concat([frame({ op: TEXT, fin: 0, payload: 'a' }), frame({ op: TEXT, payload: 'b' })]),
    code: 'WSG_WS_EXPECTED_CONTINUATION',
    closeCode: 1002,
  },
  {
    name: '28 invalid UTF-8 text (C0 AF)',
    frames: () => frame({ op: TEXT, payload: Buffer.from([0xc0, 0xaf]) }),
    code: 'WSG_WS_INVALID_UTF8',
    closeCode: 1007,
  },
  {
    name: '28 invalid UTF-8 close reason',
    frames: () => frame({ op: CLOSE, payload: closePayload(1000, Buffer.from([0xff])) }),
    code: 'WSG_WS_INVALID_CLOSE_REASON',
    closeCode: 1007,
  },
  {
    name: '29 close code 999',
    frames: () => frame({ op: CLOSE, payload: closePayload(999) }),
    code: 'WSG_WS_INVALID_CLOSE_CODE',
    closeCode: 1002,
  },
  {
    name: '29 one-byte close body',
    frames: () => frame({ op: CLOSE, payload: Buffer.from([3]) }),
    code: 'WSG_WS_CLOSE_ONE_BYTE',
    closeCode: 1002,
  },
  {
    name: '30 length 2^63',
    frames: () => frame({ op: BINARY, len64: 1n << 63n }),
    code: 'WSG_WS_LENGTH_MSB_SET',
    closeCode: 1009,
  },
  {
    name: '30 length 2^53',
    frames: () => frame({ op: BINARY, len64: 1n << 53n }),
    code: 'WSG_WS_LENGTH_UNSUPPORTED',
    closeCode: 1009,
  },
  {
    name: '33 20 000 one-byte fragments without FIN',
    frames: () =>
      Buffer.concat([
        frame({ op: TEXT, fin: 0, payload: 'a' }),
        ...Array.from({ length: 20_000 }, () => frame({ op: CONTINUATION, fin: 0, payload: 'a' })),
      ]),
    code: 'WSG_WS_TOO_MANY_FRAGMENTS',
    closeCode: 1008,
  },
];

/** Bytes after the first head in `bytes` (what followed the handshake on that connection). */
function afterHead(bytes: Buffer): Buffer {
  const end = bytes.indexOf('\r\n\r\n');
  return end === -1 ? Buffer.alloc(0) : bytes.subarray(end + 4);
}

/** A WebSocket through the entry, and the upstream connection that carries it. */
async function openWebSocket(t: TestContext, entry: Entry, path: string) {
  const channel = await entry.open(t);
  channel.write(
    `GET ${entry.target(path)} HTTP/1.1\r\nHost: ${entry.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomKey()}\r\n\r\n`,
  );
  await waitUntil(() => channel.received.includes('\r\n\r\n'), `${path}: the 101`, 5000);
  assert.match(channel.received.toString('latin1'), /^HTTP\/1\.1 101 /);
  const upstream = entry.sink.connections.find((c) => c.heads.some((h) => h.startsWith(`GET ${path} `)));
  assert.ok(upstream, `${path}: the upstream connection`);
  return { channel, upstream };
}

async function assertMessagePasses(channel: Channel, upstream: { bytes(): Buffer }, what: string): Promise<void> {
  const message = frame({ op: TEXT, payload: `still here: ${what}` });
  const before = afterHead(upstream.bytes()).length;
  channel.write(message);
  await waitUntil(() => afterHead(upstream.bytes()).length >= before + message.length, `${what}: a message upstream`);
  assert.deepEqual(afterHead(upstream.bytes()).subarray(before), message);
}

for (const kind of ENTRY_KINDS) {
  test(`cases 22-33 in passthrough: bytes unchanged, one coded line, the upstream's verdict to the client [${kind.name}]`, async (t) => {
    const entry = await kind.start(t, {}, { config: { tap: { level: 'meta' } } });
    const parallel = await openWebSocket(t, entry, '/parallel');
    for (const [i, c] of CASES.entries()) {
      const path = `/case-${i}`;
      const { channel, upstream } = await openWebSocket(t, entry, path);
      const sent = c.frames();
      channel.write(sent);
      await waitUntil(() => afterHead(upstream.bytes()).length >= sent.length, `${c.name}: every byte upstream`);
      assert.ok(afterHead(upstream.bytes()).equals(sent), `${c.name}: the upstream received the bytes unchanged`);
      await waitUntil(() => entry.logs.events('ws.violation').length >= i + 1, `${c.name}: a ws.violation line`);
      const lines = entry.logs.events('ws.violation');
      assert.equal(lines.length, i + 1, `${c.name}: one line, got ${JSON.stringify(lines.slice(i))}`);
      const line = lines[i]!;
      assert.equal(line.code, c.code, c.name);
      assert.equal(line.closeCode, c.closeCode, c.name);
      assert.equal(line.dir, 'toUpstream', c.name);
      // The upstream decides: its close frame reaches the client unchanged.
      const verdict = frame({ op: CLOSE, mask: false, payload: closePayload(c.closeCode) });
      upstream.socket.write(verdict);
      await waitUntil(() => afterHead(channel.received).length >= verdict.length, `${c.name}: the verdict`);
      assert.ok(afterHead(channel.received).equals(verdict), `${c.name}: the client got the upstream's close as sent`);
      channel.destroy();
    }
    // Case 23 from the other side: a masked frame from the upstream reaches the client as sent; the client's close
    // (1002) reaches the upstream as sent.
    {
      const { channel, upstream } = await openWebSocket(t, entry, '/case-23');
      const masked = frame({ op: TEXT, payload: 'masked by the server' });
      upstream.socket.write(masked);
      await waitUntil(() => afterHead(channel.received).length >= masked.length, '23: the masked frame at the client');
      assert.ok(afterHead(channel.received).equals(masked), '23: the client received the bytes unchanged');
      await waitUntil(() => entry.logs.events('ws.violation').length > CASES.length, '23: a ws.violation line');
      const line = entry.logs.events('ws.violation')[CASES.length]!;
      assert.deepEqual([line.code, line.closeCode, line.dir], ['WSG_WS_MASKED_FRAME', 1002, 'toClient']);
      const verdict = frame({ op: CLOSE, payload: closePayload(1002) });
      channel.write(verdict);
      await waitUntil(() => afterHead(upstream.bytes()).length >= verdict.length, '23: the verdict upstream');
      assert.ok(afterHead(upstream.bytes()).equals(verdict), '23: the upstream got the client’s close as sent');
      channel.destroy();
    }
    assert.equal(entry.logs.events('ws.violation').length, CASES.length + 1, 'one line per case, no more');
    assert.equal(entry.logs.events('internal.error').length, 0);
    await assertMessagePasses(parallel.channel, parallel.upstream, 'the parallel WebSocket');
    await assertHealthy(t, entry);
  });
}
