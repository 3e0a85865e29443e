import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes } from '../../../src/log/event-text.ts';
import { type RenderOptions, renderTrafficLine } from '../../../src/traffic/render.ts';
import { describeEvent } from '../../../src/traffic/traffic-log.ts';

const plain: RenderOptions = { color: false, frames: false };
const line = (o: Record<string, unknown>) =>
  JSON.stringify({ level: 'info', time: '2026-11-26T12:00:01.020Z', conn: 'w3', ...o });

test('a message wsgate sent itself (admin send, inject, keepalive) is marked so in tail', () => {
  assert.equal(
    renderTrafficLine(
      line({
        event: 'ws.message',
        dir: 'toClient',
        kind: 'text',
        size: 2,
        fragments: 1,
        preview: 'hi',
        origin: 'wsgate',
      }),
      plain,
    ),
    '12:00:01.020 w3 ← text         2 B "hi" (sent by wsgate)',
  );
});

test('one readable line per message, with direction arrow, size and preview', () => {
  assert.equal(
    renderTrafficLine(
      line({ event: 'ws.message', dir: 'toUpstream', kind: 'text', size: 11, fragments: 1, preview: 'hello world' }),
      plain,
    ),
    '12:00:01.020 w3 → text        11 B "hello world"',
  );
  assert.equal(
    renderTrafficLine(
      line({
        event: 'ws.message',
        dir: 'toClient',
        kind: 'binary',
        size: 70000,
        fragments: 3,
        preview: '0001ff',
        truncated: true,
      }),
      plain,
    ),
    '12:00:01.020 w3 ← binary  68.4 KiB 3 frames 0001ff…',
  );
  assert.match(
    renderTrafficLine(
      line({
        event: 'ws.close',
        endedBy: 'client',
        how: 'close',
        termination: 'CC',
        closeCode: 1000,
        clean: true,
        durationMs: 12,
        toUpstream: { messages: 2, bytes: 30 },
        toClient: { messages: 2, bytes: 30 },
      }),
      plain,
    ) ?? '',
    /■ closed by client \(close, CC\) code 1000 after 12 ms/,
  );
});

test('control bytes never reach the terminal raw', () => {
  const out =
    renderTrafficLine(
      line({ event: 'ws.message', dir: 'toUpstream', kind: 'text', size: 9, fragments: 1, preview: 'a\x1b[2Jb\u2028' }),
      plain,
    ) ?? '';
  assert.doesNotMatch(out, /\x1b/);
  assert.doesNotMatch(out, /\u2028/);
  assert.match(out, /\\u001b\[2Jb\\u2028/);
  // Bidi controls (Trojan Source) would make the rest of the line read backwards.
  const bidi =
    renderTrafficLine(
      line({ event: 'ws.message', dir: 'toClient', kind: 'text', size: 9, fragments: 1, preview: 'a\u202eb\u2066c' }),
      plain,
    ) ?? '';
  assert.ok(bidi.endsWith('"a\\u202eb\\u2066c"'), bidi);
  const open =
    renderTrafficLine(
      line({ event: 'ws.open', path: '/x\x1b]0;owned\x07', upstream: 'ws://u', route: 'r', tap: 'meta' }),
      plain,
    ) ?? '';
  assert.doesNotMatch(open, /[\x07\x1b]/);
});

test('filters: connection, direction, text; frames only on request; other lines ignored', () => {
  const msg = line({ event: 'ws.message', dir: 'toClient', kind: 'text', size: 2, fragments: 1, preview: 'hi' });
  assert.equal(renderTrafficLine(msg, { ...plain, conn: 'w9' }), undefined);
  assert.equal(renderTrafficLine(msg, { ...plain, dir: 'toUpstream' }), undefined);
  assert.equal(renderTrafficLine(msg, { ...plain, grep: 'HI' })?.endsWith('"hi"'), true);
  assert.equal(renderTrafficLine(msg, { ...plain, grep: 'nope' }), undefined);
  const frame = line({ event: 'ws.frame', dir: 'toClient', opcode: 'text', length: 2, fin: true });
  assert.equal(renderTrafficLine(frame, plain), undefined);
  assert.match(renderTrafficLine(frame, { ...plain, frames: true }) ?? '', /frame text 2 B/);
  assert.equal(renderTrafficLine(line({ event: 'http.access' }), plain), undefined);
  assert.equal(renderTrafficLine('not json', plain), undefined);
});

test('colours only when asked', () => {
  const msg = line({ event: 'ws.message', dir: 'toClient', kind: 'text', size: 2, fragments: 1, preview: 'hi' });
  assert.match(renderTrafficLine(msg, { ...plain, color: true }) ?? '', /\x1b\[35m←/);
});

test('formatBytes and describeEvent', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(2048), '2.0 KiB');
  assert.equal(formatBytes(3 * 1024 * 1024), '3.0 MiB');
  assert.equal(
    describeEvent({
      type: 'message',
      conn: 'w1',
      route: 'r',
      time: '',
      dir: 'toClient',
      kind: 'pong',
      size: 3,
      fragments: 1,
      compressed: false,
      rttMs: 1.5,
    }),
    '← pong 3 B rtt 1.5 ms',
  );
});

test("the main log's handshake failures are shown (a piped main log has no ws.failed lines), by their own id", () => {
  const main = (o: Record<string, unknown>) =>
    JSON.stringify({ level: 'warn', time: '2026-11-26T12:00:02.500Z', listener: 'web', id: 'w7', ...o });
  assert.equal(
    renderTrafficLine(
      main({
        level: 'info',
        event: 'ws.refused',
        status: 403,
        msg: 'upstream refused the WebSocket upgrade with 403',
      }),
      plain,
    ),
    '12:00:02.500 w7 ✕ handshake upstream refused the WebSocket upgrade with 403',
  );
  const noRoute = main({ event: 'ws.no_route', code: 'WSG_NO_ROUTE', msg: 'no route for x/y' });
  assert.equal(renderTrafficLine(noRoute, plain), '12:00:02.500 w7 ✕ handshake no route for x/y [WSG_NO_ROUTE]');
  assert.equal(renderTrafficLine(noRoute, { ...plain, conn: 'w7' }) !== undefined, true, '--conn finds it by id');
  assert.equal(renderTrafficLine(noRoute, { ...plain, conn: 'w8' }), undefined);
  const misdirected = main({ event: 'ws.misdirected', code: 'WSG_MISDIRECTED_REQUEST', msg: 'for b, opened for a' });
  assert.equal(
    renderTrafficLine(misdirected, plain),
    '12:00:02.500 w7 ✕ handshake for b, opened for a [WSG_MISDIRECTED_REQUEST]',
  );
  // Inside a tunnel the WebSocket's own id is `ws` (the tunnel's is `id`).
  const inTunnel = main({ id: 'c2', ws: 'w9', event: 'upgrade.denied', code: 'WSG_HANDSHAKE_INVALID', msg: 'bad' });
  assert.match(String(renderTrafficLine(inTunnel, plain)), /^12:00:02\.500 w9 ✕ handshake bad/);
  const fault = main({ level: 'info', event: 'ws.fault', fault: 'stripUpgrade', rule: 'r', msg: 'stripped' });
  assert.equal(renderTrafficLine(fault, plain), '12:00:02.500 w7 fault stripUpgrade: stripped');
  // A CONNECT refused before its tunnel opened: a wss:// through a forward listener fails there.
  const tunnel = main({
    id: 'c4',
    event: 'connect.denied',
    code: 'WSG_FORWARD_DENIED',
    msg: 'CONNECT a.test:22: a.test:22 is not allowed through this proxy: port',
  });
  assert.equal(
    renderTrafficLine(tunnel, plain),
    '12:00:02.500 c4 ✕ tunnel CONNECT a.test:22: a.test:22 is not allowed through this proxy: port [WSG_FORWARD_DENIED]',
  );
  // An intercepted tunnel whose client refused wsgate's certificate: the tunnel opened, the wss:// inside did not.
  const untrusted = main({
    id: 'c8',
    event: 'tls.handshake_failed',
    code: 'WSG_TLS_HANDSHAKE',
    target: 'a.test:443',
    msg: "CONNECT a.test:443: TLS interception failed: the client rejected wsgate's certificate",
  });
  assert.equal(
    renderTrafficLine(untrusted, plain),
    "12:00:02.500 c8 ✕ tunnel CONNECT a.test:443: TLS interception failed: the client rejected wsgate's certificate [WSG_TLS_HANDSHAKE]",
  );
  // A TLS listener's own failed handshake names no target: not shown.
  const listenerTls = main({ id: 'h1', event: 'tls.handshake_failed', code: 'WSG_TLS_HANDSHAKE', msg: 'TLS failed' });
  assert.equal(renderTrafficLine(listenerTls, plain), undefined);
  const rejected = main({ level: 'info', id: 'c5', event: 'connect.fault', fault: 'rejectConnect', msg: 'CONNECT x' });
  assert.equal(renderTrafficLine(rejected, plain), '12:00:02.500 c5 fault rejectConnect: CONNECT x');
  assert.equal(renderTrafficLine(main({ id: 'c6', event: 'connect.close', msg: 'closed' }), plain), undefined);
  // Other main-log lines stay out.
  assert.equal(renderTrafficLine(main({ event: 'http.access', status: 404, msg: 'GET /' }), plain), undefined);
  assert.equal(renderTrafficLine(main({ event: 'upgrade.other', msg: 'x' }), plain), undefined);
});

test('an upstream 101 selecting a subprotocol the client did not offer has its own line', () => {
  // As upgrade.ts writes it (ws.handshake.unoffered_protocol): a warn line on the main log, the conn's id as conn.
  const warn = (offeredProtocol: string | null) =>
    line({
      level: 'warn',
      event: 'ws.handshake.unoffered_protocol',
      route: 'web/route-0',
      upstream: 'ws://127.0.0.1:9000',
      protocol: 'chat.v2',
      offeredProtocol,
      msg: "the upstream's 101 selects a subprotocol the client did not offer",
    });
  assert.equal(
    renderTrafficLine(warn('chat.v1, chat.v0'), plain),
    '12:00:01.020 w3 ⚠ unoffered subprotocol chat.v2 from ws://127.0.0.1:9000 (the client offered chat.v1, chat.v0): the client will fail the connection [web/route-0]',
  );
  assert.match(String(renderTrafficLine(warn(null), plain)), /\(the client offered none\)/);
  assert.match(String(renderTrafficLine(warn(null), { ...plain, conn: 'w3' })), /unoffered/, '--conn finds it');
  assert.match(String(renderTrafficLine(warn(null), { ...plain, color: true })), /\x1b\[33m⚠ unoffered/);
  // Escaped like every wire string: a control byte in a selected name never reaches the terminal raw.
  assert.doesNotMatch(String(renderTrafficLine(warn('a\x1b[2Jb'), plain)), /\x1b/);
});
