// The pretty main log (a terminal's default): an event per frame or message is one line, as `wsgate tail` shows it,
// and a handshake's header lists print a header per line; what came from the wire stays escaped either way.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { startWsgate } from '../../../src/app/app.ts';
import { configFromObject } from '../../../src/config/load.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { prettyFormatter, terminalColor } from '../../../src/log/pretty.ts';
import { reverseConfig } from '../../helpers/wsgate.ts';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

/** Anything a terminal could act on; pretty text keeps newlines between events and nothing else. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** The events of pretty text: each "[time] LEVEL: message" line with the indented lines under it. */
function eventsOf(text: string): { head: string; fields: string[] }[] {
  const events: { head: string; fields: string[] }[] = [];
  for (const line of text.split('\n').slice(0, -1)) {
    if (/^\[\d\d:\d\d:\d\d\.\d{3}\] [A-Z]+:/.test(line)) events.push({ head: line, fields: [] });
    else {
      assert.match(line, /^\s/, `neither an event nor indented: ${JSON.stringify(line)}`);
      events.at(-1)!.fields.push(line);
    }
  }
  return events;
}

test('a tapped connection in the pretty log: one line per frame and message, the headers one per line', async (t) => {
  const upstream = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => upstream.once('listening', () => resolve()));
  upstream.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  t.after(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
  const url = `ws://127.0.0.1:${(upstream.address() as { port: number }).port}`;

  const out = new Capture();
  const log = createLogger({ level: 'info', format: 'pretty', stream: out });
  const config = reverseConfig([{ upstream: url }], { tap: { level: 'payload' } });
  const running = await startWsgate(configFromObject(config, '<test>'), log);
  t.after(() => running.shutdown());
  const port = [...running.listeners.values()][0]!.port;

  const hostile = 'hi\u001b[2J\n{"level":60}\u202eend';
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { 'X-Trace': 'abc\u009b31m' } });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(hostile);
  await new Promise((resolve) => ws.once('message', resolve));
  ws.close(1000, 'bye');
  await new Promise((resolve) => ws.once('close', resolve));
  const deadline = Date.now() + 5000;
  while (!out.text.includes('■ closed') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));

  const text = out.text;
  for (const line of text.split('\n')) assert.doesNotMatch(line, RAW_CONTROL, JSON.stringify(line));
  const events = eventsOf(text);
  const perFrame = events.filter((e) => / INFO: w\d+ [→←] /.test(e.head));
  // A text message and a close each way: a frame line and a message line for each.
  assert.equal(perFrame.length, 8, text);
  for (const e of perFrame) assert.deepEqual(e.fields, [], `no fields under ${e.head}`);
  const sent = perFrame.find((e) => e.head.includes('→ text'));
  assert.ok(sent, text);
  // The preview as `wsgate tail` shows it: JSON-quoted, each control escaped once.
  assert.ok(sent.head.endsWith(`"hi\\u001b[2J\\n{\\"level\\":60}\\u202eend"`), sent.head);
  assert.ok(perFrame.some((e) => /← close +5 B 1000 "bye"$/.test(e.head)));

  const open = events.find((e) => e.head.includes('WebSocket open'));
  assert.ok(open, text);
  assert.ok(open.fields.includes('    request:'), open.fields.join('\n'));
  // Header names as the client sent them, a header per line; a C1 control (CSI, sent as byte 0x9B) escaped, in the
  // request and in what was forwarded.
  assert.equal(open.fields.filter((f) => f === '      X-Trace: abc\\x9b31m').length, 2, open.fields.join('\n'));
  assert.ok(open.fields.includes(`      Host: 127.0.0.1:${port}`), open.fields.join('\n'));
  assert.ok(open.fields.some((f) => /^ {6}Sec-WebSocket-Accept: \S+=$/.test(f)));
  // The end in one line too: who ended it, how, the close code and what went each way.
  const close = events.find((e) => e.head.includes('■ closed'));
  assert.match(
    String(close?.head),
    /INFO: w\d+ ■ closed by client \(close, CC\) code 1000 "bye" after \d+ ms; → 1 msgs 42 B, ← 1 msgs 34 B$/,
  );
  assert.deepEqual(close?.fields, []);
});

test('the pretty formatter: a worker is named, pino-pretty colours the line, other values print as JSON', () => {
  const line = (o: Record<string, unknown>) =>
    JSON.stringify({ level: 'info', time: '2026-12-04T12:00:01.020Z', conn: 'w3', ...o });
  const frame = { event: 'ws.frame', dir: 'toClient', opcode: 'binary', fin: false, rsv1: true, length: 2048 };
  const plain = prettyFormatter(false);
  const text = plain(line({ ...frame, worker: 2 }));
  assert.match(text, /^\[\d\d:\d\d:\d\d\.020\] INFO: worker 2: w3 ← frame binary 2\.0 KiB \(more\) rsv1\n$/);
  const colored = prettyFormatter(true)(line(frame));
  // pino-pretty colours the message as a whole (an ESC inside a message would be dropped, so the text has none).
  assert.ok(colored.includes('\u001b[36mw3 ← frame binary 2.0 KiB (more) rsv1\u001b[39m'), JSON.stringify(colored));
  assert.equal(colored.split('\n').length, 2, 'one line');
  // A request list that is not [name, value] pairs prints as pino-pretty would print it.
  const odd = plain(line({ event: 'ws.open', request: { a: 1 }, msg: 'open' }));
  assert.match(odd, /request: \{\n {6}"a": 1\n {4}\}/);
  // An event with no one-line text keeps its fields.
  const other = plain(line({ event: 'ws.unknown', n: 1, msg: 'x' }));
  assert.match(other, /INFO: x\n {4}conn: "w3"\n {4}event: "ws\.unknown"\n {4}n: 1\n$/);
});

test('access and tunnel lines are one line each, their strings escaped; a warning keeps its fields', () => {
  const plain = prettyFormatter(false);
  const at = { level: 'info', time: '2026-12-04T12:00:01.020Z' };
  const access = plain(
    JSON.stringify({
      ...at,
      id: 'f7',
      event: 'http.access',
      method: 'GET',
      url: 'http://a.test/x',
      status: 403,
      ms: 2,
      code: 'WSG_FORWARD_DENIED',
      completed: false,
      msg: 'GET http://a.test/x\u001b[2J\u202e 403',
    }),
  );
  assert.equal(
    access,
    '[12:00:01.020] INFO: f7 GET http://a.test/x\\e[2J\\u202e 403 (2 ms, WSG_FORWARD_DENIED, not completed)\n',
  );
  const tunnel = plain(
    JSON.stringify({
      ...at,
      id: 'c2',
      worker: 1,
      event: 'connect.close',
      bytesToUpstream: 88,
      bytesToClient: 4096,
      endedBy: 'wsgate',
      how: 'idle',
      msg: 'CONNECT a.test:443 (tls) closed after 5 ms',
    }),
  );
  assert.equal(
    tunnel,
    '[12:00:01.020] INFO: worker 1: c2 CONNECT a.test:443 (tls) closed after 5 ms (88 B up, 4.0 KiB down; ended by wsgate (idle))\n',
  );
  const warned = plain(
    JSON.stringify({ ...at, level: 'warn', id: 'f8', event: 'http.access', ms: 1, msg: 'GET / 502' }),
  );
  assert.match(warned, /WARN: GET \/ 502\n {4}id: "f8"\n {4}event: "http\.access"\n {4}ms: 1\n$/);
});

test('a failed reload lists its config issues once: in its message, not again as JSON below it', () => {
  const plain = prettyFormatter(false);
  const issues = [
    { file: 'w.yaml', line: 6, col: 19, path: 'listeners[0].routes[0].upstream', message: 'expected a ws:// URL' },
    { file: 'w.yaml', line: 7, col: 9, path: 'listeners[0].routes[0].upstrem', message: 'unknown key "upstrem"' },
  ];
  const msg = `config reload failed; keeping the running config:\n${issues.map((i) => `${i.file}:${i.line}:${i.col} ${i.path}: ${i.message}`).join('\n')}`;
  const at = {
    level: 'error',
    time: '2026-12-04T12:00:01.020Z',
    event: 'config.reload_failed',
    code: 'WSG_CONFIG_INVALID',
  };
  const text = plain(JSON.stringify({ ...at, file: 'w.yaml', issues, msg }));
  assert.equal(text.split('unknown key').length, 2, text);
  assert.doesNotMatch(text, /issues:/);
  assert.match(text, /^ {4}code: "WSG_CONFIG_INVALID"$/m);
  // Issues the message does not say stay.
  const other = plain(JSON.stringify({ ...at, issues, msg: 'config reload failed' }));
  assert.match(other, /^ {4}issues: \[/m);
});

test('colours at a terminal only, and not when NO_COLOR is set to anything (no-color.org)', () => {
  assert.equal(terminalColor(true, {}), true);
  assert.equal(terminalColor(false, {}), false);
  assert.equal(terminalColor(undefined, {}), false);
  assert.equal(terminalColor(true, { NO_COLOR: '1' }), false);
  assert.equal(terminalColor(true, { NO_COLOR: '' }), true);
});
