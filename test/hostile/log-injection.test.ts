// Hostile case 40: bytes from the wire must not forge log lines or reach a terminal raw. Paths and headers carrying
// `\n{"level":60}`, CR, `ESC[2J`, U+2028 and C1 controls, sent through a reverse listener and logged as JSON (one
// line per event, every value intact after JSON.parse, nothing raw) and as pretty text (one line per event, each
// continuation indented, every control byte written as an escape).
//
// What the wire can carry: Node's parser refuses raw CR, LF and ESC in the request target and in header values
// (400, checked below), so those reach the logs only percent-encoded or from wsgate's own text; header values may
// carry bytes 0x80-0xFF (obs-text), which Node reads as latin1, so U+2028 sent as UTF-8 arrives as "â\u0080¨" and a
// 0x9B byte as U+009B, the C1 CSI. Frame payloads (tap: payload) will carry anything; the logger escapes them the
// same way, so the logger is also checked directly with the worst strings.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { type TestContext, test } from 'node:test';
import { startWsgate } from '../../src/app/app.ts';
import { configFromObject } from '../../src/config/load.ts';
import { createLogger, type LogFormat } from '../../src/log/logger.ts';
import { assertHealthy, exchange, startRawSink, wsHandshake } from '../helpers/raw.ts';
import { reverseConfig, startTestWsgate } from '../helpers/wsgate.ts';

/** Anything a terminal or a line splitter could act on; tab is the one control a log line may keep. */
const RAW_CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

const HOSTILE = '/a\n{"level":60,"msg":"forged"}\r\u001b[2J\u2028\u2029\u009b31m\u202eb';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

function routesWithOrigin(upstream: string) {
  return [
    { match: { host: 'app.wsgate.test' }, upstream, allowOrigins: ['https://app.example.test'] },
    { match: { path: '/healthy' }, upstream },
  ];
}

/** Host and Origin values with obs-text bytes: U+2028 as UTF-8, a C1 CSI, a bidi override, as latin1 on the wire. */
const OBS_TEXT = Buffer.from('evil\u2028\u009b2J\u202e', 'utf8').toString('latin1');

function hostileRequests(): (string | Buffer)[] {
  return [
    // Raw controls: refused by the parser.
    `GET /a\n{"level":60} HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET /a\u001b[2J HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u001b[2Jb\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n`,
    // Percent-encoded: accepted, logged as written (text, not controls).
    `GET /%1b%5b2J%0a%7B%22level%22:60%7D HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    // obs-text in Host (no route: the message quotes it) and in Origin (denied: the message quotes it).
    Buffer.from(`GET /x HTTP/1.1\r\nHost: ${OBS_TEXT}\r\nConnection: close\r\n\r\n`, 'latin1'),
    Buffer.from(wsHandshake('/', [`Origin: https://${OBS_TEXT}`]).replace('wsgate.test', 'app.wsgate.test'), 'latin1'),
  ];
}

async function sendAll(t: TestContext, port: number): Promise<number[]> {
  const statuses: number[] = [];
  for (const request of hostileRequests()) statuses.push((await exchange(t, port, request)).response?.status ?? 0);
  return statuses;
}

const EXPECTED_STATUSES = [400, 400, 400, 400, 404, 404, 403];

test('case 40: JSON logs stay one valid line per event with nothing raw, whatever the request carried', async (t) => {
  const sink = await startRawSink(t);
  const gw = await startTestWsgate(t, reverseConfig(routesWithOrigin(sink.wsUrl)));
  assert.deepEqual(await sendAll(t, gw.port), EXPECTED_STATUSES);
  await gw.logs.waitFor('ws.origin_denied');
  const refused = gw.logs.events('http.client_error');
  assert.equal(refused.length, 4);
  assert.ok(refused.every((l) => l.code === 'WSG_BAD_REQUEST' && l.status === 400));
  // Every line the capture got parsed as JSON (it throws otherwise); none is forged, none carries a raw control.
  assert.ok(gw.logs.raw.length > 0);
  for (const raw of gw.logs.raw) {
    assert.doesNotMatch(raw, RAW_CONTROL, raw);
    assert.notEqual(JSON.parse(raw).level, 60);
  }
  assert.equal(gw.logs.lines.filter((l) => l.msg === 'forged').length, 0);
  // The escapes are lossless: the logged values are exactly what arrived.
  const noRoute = gw.logs.events('http.no_route');
  assert.ok(noRoute.some((l) => String(l.msg).includes(OBS_TEXT)));
  const denied = await gw.logs.waitFor('ws.origin_denied');
  assert.equal(denied.origin, `https://${OBS_TEXT}`);
  const access = gw.logs.events('http.access').map((l) => l.path);
  assert.ok(access.includes('/%1b%5b2J%0a%7B%22level%22:60%7D'));
  await assertHealthy(t, gw.port);
});

test('case 40: pretty logs print one line per event and every control as an escape', async (t) => {
  const sink = await startRawSink(t);
  const out = new Capture();
  const log = createLogger({ level: 'info', format: 'pretty', stream: out });
  const running = await startWsgate(configFromObject(reverseConfig(routesWithOrigin(sink.wsUrl)), '<test>'), log);
  t.after(() => running.shutdown());
  const port = [...running.listeners.values()][0]!.port;
  assert.deepEqual(await sendAll(t, port), EXPECTED_STATUSES);
  await assertHealthy(t, port);
  const deadline = Date.now() + 5000;
  while (!out.text.includes('origin') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assertPrettyInert(out.text);
  assert.match(out.text, /not allowed on this route/);
  // The CSI arrives as U+009B and is shown as an escape, not acted on.
  assert.match(out.text, /\\x9b2J/);
});

/** Pretty output: event lines start with "[time]"; everything else is indented; no raw control but newlines. */
function assertPrettyInert(text: string): void {
  assert.ok(text.length > 0);
  for (const line of text.split('\n').slice(0, -1)) {
    assert.doesNotMatch(line, RAW_CONTROL, JSON.stringify(line));
    assert.match(
      line,
      /^(\[\d\d:\d\d:\d\d\.\d{3}\] [A-Z]+|\s)/,
      `a line that is neither an event nor indented: ${line}`,
    );
  }
}

for (const format of ['json', 'pretty'] as const satisfies LogFormat[]) {
  test(`case 40: the ${format} logger escapes a hostile message, fields, nested values and an error`, () => {
    const out = new Capture();
    const log = createLogger({ level: 'info', format, stream: out });
    const err = new Error(`bad ${HOSTILE}`);
    log.warn({ event: 'probe', path: HOSTILE, nested: { list: [HOSTILE] }, err }, `message ${HOSTILE}`);
    assert.ok(out.text.endsWith('\n'));
    if (format === 'json') {
      const lines = out.text.split('\n').slice(0, -1);
      assert.equal(lines.length, 1, 'one event, one line');
      assert.doesNotMatch(lines[0]!, RAW_CONTROL);
      const parsed = JSON.parse(lines[0]!);
      // Escaped, not altered: a reader gets back exactly what was logged.
      assert.equal(parsed.path, HOSTILE);
      assert.equal(parsed.msg, `message ${HOSTILE}`);
      assert.deepEqual(parsed.nested, { list: [HOSTILE] });
      assert.equal(parsed.level, 'warn');
    } else {
      assertPrettyInert(out.text);
      assert.equal(out.text.match(/^\[/gm)?.length, 1, 'one event');
      assert.match(out.text, /message \/a\n {4}\{"level":60,"msg":"forged"\}\\r\\e\[2J\\u2028\\u2029\\x9b31m\\u202eb/);
    }
  });
}
