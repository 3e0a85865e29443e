// RFC 6455 conformance through wsgate, in passthrough with the tap at "payload": for every case of the shared
// raw-socket probe (../shared/conformance), a client talking to a `ws` echo THROUGH wsgate must meet exactly what it
// meets talking to the echo directly: same status, same close code. wsgate observes violations; the upstream decides.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateRawSync, constants as zc } from 'node:zlib';
import { WebSocketServer } from 'ws';
import { closePayload, frame, type ProbeCase, type ProbeResult, runProbe } from '../../helpers/probe.ts';
import { reverseConfig, startTestWsgate } from '../../helpers/wsgate.ts';

const TXT = 1;
const BIN = 2;
const CONT = 0;
const CLOSE = 8;
const PING = 9;
const PONG = 10;
const closeWith = (code: number) => (r: ProbeResult) => r.frames.some((f) => f.op === CLOSE && f.code === code);

const CASES: ProbeCase[] = [
  {
    name: '01 valid handshake, correct Accept',
    send: () => [frame({ op: CLOSE, payload: closePayload(1000) })],
    expect: (r) => r.status === 101 && r.accepted,
  },
  {
    name: '02 masked text echoed unmasked',
    send: () => [frame({ op: TXT, payload: 'hello' })],
    expect: (r) => r.frames[0]?.op === TXT && !r.frames[0].masked && r.frames[0].payload.toString() === 'hello',
  },
  {
    name: '03 70000 B binary (64-bit length)',
    send: () => [frame({ op: BIN, payload: Buffer.alloc(70000, 7) })],
    expect: (r) => r.frames[0]?.op === BIN && r.frames[0].payload.length === 70000,
  },
  {
    name: '04 unmasked client frame -> 1002',
    send: () => [frame({ op: TXT, payload: 'x', mask: false })],
    expect: closeWith(1002),
  },
  {
    name: '05 RSV1 without extension -> 1002',
    send: () => [frame({ op: TXT, rsv: 4, payload: 'x' })],
    expect: closeWith(1002),
  },
  { name: '06 RSV2|RSV3 -> 1002', send: () => [frame({ op: TXT, rsv: 3, payload: 'x' })], expect: closeWith(1002) },
  {
    name: '07 reserved data opcode 0x3 -> 1002',
    send: () => [frame({ op: 3, payload: 'x' })],
    expect: closeWith(1002),
  },
  { name: '08 reserved control opcode 0xB -> 1002', send: () => [frame({ op: 0xb })], expect: closeWith(1002) },
  {
    name: '09 ping of 126 B -> 1002',
    send: () => [frame({ op: PING, payload: Buffer.alloc(126) })],
    expect: closeWith(1002),
  },
  {
    name: '10 fragmented ping -> 1002',
    send: () => [frame({ op: PING, fin: 0, payload: 'a' })],
    expect: closeWith(1002),
  },
  {
    name: '11 ping 125 B -> pong',
    send: () => [frame({ op: PING, payload: Buffer.alloc(125, 1) })],
    expect: (r) => r.frames[0]?.op === PONG && r.frames[0].payload.length === 125,
  },
  {
    name: '12 unsolicited pong ignored',
    send: () => [frame({ op: PONG, payload: 'x' }), frame({ op: TXT, payload: 'y' })],
    expect: (r) => r.frames[0]?.op === TXT && !r.closed,
  },
  {
    name: '13 invalid UTF-8 text -> 1007',
    send: () => [frame({ op: TXT, payload: Buffer.from([0xc0, 0xaf]) })],
    expect: closeWith(1007),
  },
  {
    name: '14 UTF-8 split across fragments',
    send: () => [
      frame({ op: TXT, fin: 0, payload: Buffer.from([0xe2, 0x82]) }),
      frame({ op: CONT, payload: Buffer.from([0xac]) }),
    ],
    expect: (r) => r.frames[0]?.payload.toString() === '\u20ac',
  },
  {
    name: '15 continuation without start -> 1002',
    send: () => [frame({ op: CONT, payload: 'x' })],
    expect: closeWith(1002),
  },
  {
    name: '16 TEXT inside a fragmented message -> 1002',
    send: () => [frame({ op: TXT, fin: 0, payload: 'a' }), frame({ op: TXT, payload: 'b' })],
    expect: closeWith(1002),
  },
  {
    name: '17 ping between fragments',
    send: () => [
      frame({ op: TXT, fin: 0, payload: 'a' }),
      frame({ op: PING, payload: 'p' }),
      frame({ op: CONT, payload: 'b' }),
    ],
    expect: (r) =>
      r.frames.some((f) => f.op === PONG) && r.frames.some((f) => f.op === TXT && f.payload.toString() === 'ab'),
  },
  {
    name: '18 close 1000 echoed',
    send: () => [frame({ op: CLOSE, payload: closePayload(1000) })],
    expect: closeWith(1000),
  },
  {
    name: '19 close 999 -> 1002',
    send: () => [frame({ op: CLOSE, payload: closePayload(999) })],
    expect: closeWith(1002),
  },
  {
    name: '20 close 1005 on the wire -> 1002',
    send: () => [frame({ op: CLOSE, payload: closePayload(1005) })],
    expect: closeWith(1002),
  },
  {
    name: '21 close 5000 -> 1002',
    send: () => [frame({ op: CLOSE, payload: closePayload(5000) })],
    expect: closeWith(1002),
  },
  {
    name: '22 one-byte close body -> 1002',
    send: () => [frame({ op: CLOSE, payload: Buffer.from([3]) })],
    expect: closeWith(1002),
  },
  {
    name: '23 invalid UTF-8 close reason -> 1007',
    send: () => [frame({ op: CLOSE, payload: closePayload(1000, Buffer.from([0xff])) })],
    expect: closeWith(1007),
  },
  {
    name: '24 length 2^63 -> close',
    send: () => [frame({ op: BIN, len64: 1n << 63n })],
    expect: (r) => r.frames.some((f) => f.op === CLOSE && [1002, 1009].includes(f.code ?? 0)),
  },
  { name: '25 length 2^53 -> 1009', send: () => [frame({ op: BIN, len64: 1n << 53n })], expect: closeWith(1009) },
  {
    name: '26 frame over maxPayload -> 1009',
    send: () => [frame({ op: BIN, len64: 2n * 1048576n })],
    expect: closeWith(1009),
  },
  {
    name: '27 non-minimal 64-bit length',
    send: () => [frame({ op: TXT, payload: 'hello', len64: 5n })],
    expect: (r) => r.frames[0]?.payload.toString() === 'hello' || closeWith(1002)(r),
  },
  {
    name: '28 permessage-deflate bomb (8 KiB -> 8 MiB) -> 1009',
    ext: 'permessage-deflate',
    send: () => [BOMB],
    expect: closeWith(1009),
  },
  {
    name: '29 RSV1 on a control frame with deflate -> 1002',
    ext: 'permessage-deflate',
    send: () => [frame({ op: PING, rsv: 4 })],
    expect: closeWith(1002),
  },
  {
    name: '30 ping flood of 5000',
    send: () => [
      Buffer.concat(Array.from({ length: 5000 }, () => frame({ op: PING, payload: 'x' }))),
      frame({ op: TXT, payload: 'alive' }),
    ],
    expect: (r) =>
      r.frames.some((f) => f.op === TXT && f.payload.toString() === 'alive') ||
      (r.closed && r.frames.filter((f) => f.op === PONG).length <= 100),
    wait: 10_000,
  },
  {
    name: '30b 20000 one-byte fragments without FIN',
    send: () => [
      frame({ op: TXT, fin: 0, payload: 'a' }),
      Buffer.concat(Array.from({ length: 20000 }, () => frame({ op: CONT, fin: 0, payload: 'a' }))),
    ],
    expect: (r) => r.closed || r.frames.some((f) => f.op === CLOSE),
    wait: 10_000,
  },
  {
    name: '30c close 1001 -> close reply',
    send: () => [frame({ op: CLOSE, payload: closePayload(1001) })],
    expect: closeWith(1001),
  },
  {
    name: '31 Sec-WebSocket-Version 12 -> 426',
    headers: { 'Sec-WebSocket-Version': '12' },
    expect: (r) => [400, 426].includes(r.status ?? 0) && /sec-websocket-version:[^\r]*13/i.test(r.respHead),
  },
  {
    name: '32 bad Sec-WebSocket-Key -> 400',
    headers: { 'Sec-WebSocket-Key': 'short' },
    expect: (r) => r.status === 400,
  },
  {
    name: '33 no Upgrade token -> no 101',
    headers: { Upgrade: null, Connection: 'keep-alive' },
    expect: (r) => r.status !== 101,
  },
  {
    name: '34 POST with Upgrade -> no 101',
    rawRequest: (k) =>
      `POST /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${k}\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n`,
    expect: (r) => r.status !== 101,
    answeredByProxy: 'a handshake that is not a GET is refused by wsgate with 400 (hostile case 18), never forwarded',
  },
  {
    name: '35 2000 request headers (CVE-2024-37890 shape)',
    rawRequest: (k) =>
      `GET /echo HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 2000 }, (_, i) => `x${i}: y\r\n`).join('')}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${k}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    expect: (r) => r.status !== 101,
  },
  { name: '36 20 KiB header -> 431', headers: { 'X-Big': 'a'.repeat(20000) }, expect: (r) => r.status === 431 },
  {
    name: '37 Sec-WebSocket-Protocol ReDoS shape',
    headers: { 'Sec-WebSocket-Protocol': `b${' '.repeat(8000)}x` },
    expect: (r) => r.status !== undefined,
  },
];

// Built once: compressing 8 MiB inside send() would stall every other case running at the same time.
const BOMB_DEFLATED = deflateRawSync(Buffer.alloc(8 * 1048576), { finishFlush: zc.Z_SYNC_FLUSH });
const BOMB = frame({ op: BIN, rsv: 4, payload: BOMB_DEFLATED.subarray(0, BOMB_DEFLATED.length - 4) });

const firstClose = (r: ProbeResult) => r.frames.find((f) => f.op === CLOSE)?.code;

test('every probe case meets the same verdict through wsgate as directly', { timeout: 60_000 }, async (t) => {
  // The echo the shared probe is written against: ws with a 1 MiB maxPayload and deflate for every message.
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    maxPayload: 1024 * 1024,
    perMessageDeflate: { threshold: 0 },
  });
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await new Promise((resolve) => wss.once('listening', resolve));
  t.after(() => {
    for (const c of wss.clients) c.terminate();
    wss.close();
  });
  const echoPort = (wss.address() as { port: number }).port;
  const gw = await startTestWsgate(
    t,
    reverseConfig([{ upstream: `ws://127.0.0.1:${echoPort}` }], { tap: { level: 'payload' } }),
  );

  const run = (port: number) => Promise.all(CASES.map((c) => runProbe(port, '/echo', c)));
  // One target after the other: 80 hostile connections at once on 2 shared cores is a load test, not a probe.
  const direct = await run(echoPort);
  const proxied = await run(gw.port);
  const failures: string[] = [];
  CASES.forEach((c, i) => {
    const d = direct[i]!;
    const p = proxied[i]!;
    if (!c.expect(d)) failures.push(`${c.name}: fails directly too (status ${d.status}, close ${firstClose(d)})`);
    if (!c.expect(p))
      failures.push(
        `${c.name}: through wsgate status ${p.status}, close ${firstClose(p)}; directly ${d.status}, ${firstClose(d)}`,
      );
    else if (!c.answeredByProxy && (d.status !== p.status || firstClose(d) !== firstClose(p))) {
      failures.push(
        `${c.name}: verdict changed: direct ${d.status}/${firstClose(d)}, through wsgate ${p.status}/${firstClose(p)}`,
      );
    }
  });
  assert.deepEqual(failures, []);

  // wsgate saw the violations it passed through, with their RFC rule, without acting on them.
  const violations = gw.logs.events('ws.violation').map((l) => l.code);
  for (const code of [
    'WSG_WS_UNMASKED_FRAME',
    'WSG_WS_RESERVED_OPCODE',
    'WSG_WS_CONTROL_TOO_LONG',
    'WSG_WS_INVALID_UTF8',
  ]) {
    assert.ok(violations.includes(code), `violation ${code} reported (saw ${[...new Set(violations)].join(', ')})`);
  }
  // And it still serves afterwards.
  const alive = await runProbe(gw.port, '/echo', {
    name: 'alive',
    send: () => [frame({ op: TXT, payload: 'ok' })],
    expect: (r) => r.frames[0]?.payload.toString() === 'ok',
  });
  assert.equal(alive.frames[0]?.payload.toString(), 'ok');
});
