// Fuzzing what an upstream answers to a WebSocket handshake, through a reverse route and through a forward
// listener (absolute-form ws): status lines of every kind, 101s with a right, wrong, missing or doubled
// Sec-WebSocket-Accept, odd Upgrade, Connection and extension headers, bodies with and without framing, frames
// right behind the head, raw bytes; then the upstream ends, stays open, or resets. Property: the client gets an
// answer or a close within the bound, and, once it half-closes, a close; a 101 reaches the client only with the
// accept its key calls for; no handler throws; a healthy handshake works after each batch; the heap stays bounded.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import fc from 'fast-check';
import { computeAcceptKey } from '../../src/websocket/handshake.ts';
import { Channel } from '../helpers/entry-kinds.ts';
import { parseResponse } from '../helpers/raw.ts';
import { type LogCapture, reverseConfig, startTestWsgate } from '../helpers/wsgate.ts';
import { forwardConfig, startProxy } from '../integration/forward/helpers.ts';
import { anyBytes, encodeFrameSpec, frameSpec, latin1, token } from './arbitraries.ts';
import { budget, closedWithin, forget, fuzz, show, statusOf, untracked } from './support.ts';

const HANDSHAKE_TIMEOUT_MS = 300;
const ANSWER_MS = HANDSHAKE_TIMEOUT_MS + 3000;
const CLOSE_MS = 3000;
const ACCEPT = '{accept}';

type Answer = { head: string; body: string; after: 'end' | 'open' | 'reset' };

const statusLine = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('HTTP/1.1 101 Switching Protocols', 'HTTP/1.1 101 ') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'HTTP/1.0 101 Switching Protocols',
      'HTTP/1.1 200 OK',
      'HTTP/1.1 426 Upgrade Required',
      'HTTP/1.1 302 Found',
      'HTTP/1.1 100 Continue',
      'HTTP/1.1 204 No Content',
      'HTTP/1.1 304 Not Modified',
      'HTTP/1.1 500 Internal Server Error',
      'HTTP/1.1 999 What',
      'HTTP/1.1 1010 x',
      'HTTP/2 101',
      'HTTP/1.1 101',
      'HTTP/1.1  101 x',
      'ICY 200 OK',
      'HTTP/1.1 abc',
      '',
    ),
  },
  { weight: 1, arbitrary: anyBytes(20) },
);

const HEADERS = [
  'Upgrade: websocket',
  'Upgrade: WebSocket',
  'Upgrade: h2c',
  'Upgrade: websocket, h2c',
  'Upgrade:',
  'Connection: Upgrade',
  'Connection: upgrade, keep-alive',
  'Connection: close',
  `Sec-WebSocket-Accept: ${ACCEPT}`,
  `Sec-WebSocket-Accept: ${ACCEPT}`,
  'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=',
  'Sec-WebSocket-Accept: ',
  'Sec-WebSocket-Extensions: permessage-deflate',
  'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8; client_no_context_takeover',
  'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=99',
  'Sec-WebSocket-Extensions: x-unknown',
  'Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate',
  'Sec-WebSocket-Protocol: chat',
  'Content-Length: 0',
  'Content-Length: 5',
  'Content-Length: 100000',
  'Content-Length: -1',
  'Content-Length: 5, 6',
  'Transfer-Encoding: chunked',
  'Content-Type: text/plain',
  'Set-Cookie: a=b',
  'X-Header:\tvalue',
  ' folded',
  'no colon',
  ': empty name',
];

const responseHead = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({
        status: statusLine,
        headers: fc.array(
          fc.oneof(
            { weight: 6, arbitrary: fc.constantFrom(...HEADERS) },
            { weight: 1, arbitrary: fc.tuple(token(10), anyBytes(10)).map(([n, v]) => `${n}: ${v}`) },
          ),
          { maxLength: 8 },
        ),
        eol: fc.oneof({ weight: 8, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constant('\n') }),
        complete: fc.oneof({ weight: 8, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      })
      .map(({ status, headers, eol, complete }) => {
        const head = [status, ...headers].join(eol);
        return complete ? `${head}${eol}${eol}` : head;
      }),
  },
  { weight: 1, arbitrary: anyBytes(64) },
);

const answer: fc.Arbitrary<Answer> = fc.record({
  head: responseHead,
  body: fc.oneof(
    { weight: 3, arbitrary: fc.constant('') },
    {
      weight: 1,
      arbitrary: fc.constantFrom('hello', '0\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n', 'HTTP/1.1 200 OK\r\n\r\n'),
    },
    {
      weight: 1,
      arbitrary: fc.array(frameSpec(false), { maxLength: 3 }).map((fs) => fs.map(encodeFrameSpec).join('')),
    },
    { weight: 1, arbitrary: anyBytes(32) },
  ),
  after: fc.constantFrom('end', 'end', 'end', 'end', 'open', 'reset'),
});

/** A TCP upstream that answers each handshake (path /run-N) with the answer registered for N, accept filled in. */
async function startScriptedUpstream(t: TestContext) {
  const answers = new Map<string, Answer>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      socket.resume();
      const text = head.toString('latin1', 0, end);
      const run = /^GET \S*\/(run-\d+|healthy)/.exec(text)?.[1] ?? '';
      const key = /^sec-websocket-key:\s*(\S+)/im.exec(text)?.[1] ?? '';
      const given = answers.get(run) ?? {
        head: `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`,
        body: '',
        after: 'open',
      };
      answers.delete(run);
      socket.write(latin1(`${given.head.replaceAll(ACCEPT, computeAcceptKey(key))}${given.body}`));
      if (given.after === 'end') socket.end();
      else if (given.after === 'reset') socket.resetAndDestroy();
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, answers };
}

function handshake(target: string, host: string, key: string): string {
  return [
    `GET ${target} HTTP/1.1`,
    `Host: ${host}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits',
    '',
    '',
  ].join('\r\n');
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return cond();
}

type Gate = { name: string; port: number; target: (path: string) => string; host: string; logs: LogCapture };

async function exchange(t: TestContext, gate: Gate, path: string): Promise<Buffer> {
  const channel = await Channel.tcp(untracked(t), gate.port);
  const key = randomBytes(16).toString('base64');
  channel.write(handshake(gate.target(path), gate.host, key));
  const answered = await waitFor(() => channel.closed || channel.received.includes('\r\n\r\n'), ANSWER_MS);
  if (!answered) throw new Error(`hang: no answer and no close within ${ANSWER_MS} ms; got ${show(channel.received)}`);
  const head = parseResponse(channel.received);
  if (head?.status === 101) {
    assert.equal(head.headers['sec-websocket-accept'], computeAcceptKey(key), 'a 101 with the wrong accept passed');
  }
  if (!channel.socket.destroyed) channel.socket.end();
  const closed = await closedWithin(channel.socket, CLOSE_MS);
  const received = channel.received;
  channel.destroy();
  forget(channel.socket);
  if (!closed) throw new Error(`hang: not closed ${CLOSE_MS} ms after the client's FIN; got ${show(received)}`);
  return received;
}

async function gates(t: TestContext, upstreamPort: number): Promise<Gate[]> {
  const limits = { handshakeTimeout: `${HANDSHAKE_TIMEOUT_MS}ms` };
  const reverse = await startTestWsgate(
    t,
    reverseConfig([{ upstream: `ws://127.0.0.1:${upstreamPort}` }], { limits, tap: { level: 'payload' } }),
  );
  const authority = `127.0.0.1:${upstreamPort}`;
  const forward = await startProxy(
    t,
    forwardConfig({ allowHosts: ['127.0.0.1'], allowPorts: [String(upstreamPort)] }, { limits }),
  );
  return [
    { name: 'reverse', port: reverse.port, target: (p) => p, host: 'wsgate.test', logs: reverse.logs },
    {
      name: 'forward absolute-form',
      port: forward.port(),
      target: (p) => `http://${authority}${p}`,
      host: authority,
      logs: forward.logs,
    },
  ];
}

test('fuzz upstream answers to the WebSocket handshake', async (t) => {
  const upstream = await startScriptedUpstream(t);
  const all = await gates(t, upstream.port);
  let run = 0;
  for (const gate of all) {
    const { runs, seconds } = budget(50, 1.5);
    const result = await fuzz({
      name: `upstream handshake answers (${gate.name})`,
      arbitrary: answer,
      runs,
      seconds,
      logs: [gate.logs],
      render: (a) => `${show(a.head + a.body)} then ${a.after}`,
      async property(a) {
        run += 1;
        upstream.answers.set(`run-${run}`, a);
        const received = await exchange(t, gate, `/run-${run}`);
        // A refusal is relayed as the upstream wrote it, so any three-digit status may come back.
        if (received.length > 0) assert.ok(statusOf(received) !== undefined, `not an HTTP response: ${show(received)}`);
      },
      async healthy() {
        const received = await exchange(t, gate, '/healthy');
        assert.equal(statusOf(received), 101, `healthy handshake: ${show(received)}`);
      },
    });
    assert.ok(result.runs > 0);
    t.diagnostic(`${gate.name}: ${result.summary}`);
  }
});
