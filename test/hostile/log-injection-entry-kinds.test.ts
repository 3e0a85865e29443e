// Hostile case 40 on every entry kind (log-injection.test.ts has the reverse listener and the logger itself): request
// targets, header values, absolute-form hosts and CONNECT targets carrying `\n{"level":60}`, ESC, U+2028, a C1 CSI
// and a bidi override, sent to a reverse listener, a forward listener (absolute-form and CONNECT), inside a plain
// CONNECT tunnel and inside an intercepted TLS session. Each gets its exact status; the JSON log stays one valid line
// per event with no raw control, nothing forged; and a pretty (TTY) log of a forward listener prints one line per
// event with every control escaped.
//
// Inside a plain tunnel a request line cut by a raw LF is not HTTP to the sniffer (it needs `METHOD target
// HTTP/1.x`): the tunnel is spliced blindly to its CONNECT target, like any other protocol, and nothing of it is
// logged but the tunnel's byte counts. The upstream answers it, hence the 200 in that row.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { startWsgate } from '../../src/app/app.ts';
import { configFromObject } from '../../src/config/load.ts';
import { createLogger } from '../../src/log/logger.ts';
import { assertHealthy, CONNECT_TUNNEL, ENTRY_KINDS, type Entry } from '../helpers/entry-kinds.ts';
import { parseResponse, startRawSink } from '../helpers/raw.ts';
import { rawExchange } from '../helpers/servers.ts';
import { forwardConfig } from '../integration/forward/helpers.ts';

/** Anything a terminal or a line splitter could act on; tab is the one control a log line may keep. */
const RAW_CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** U+2028, a C1 CSI and a bidi override as UTF-8, sent as latin1 bytes (obs-text to an HTTP parser). */
const OBS_TEXT = Buffer.from('evil\u2028\u009b2J\u202e', 'utf8').toString('latin1');

type Probe = { what: string; bytes: (e: Entry) => Buffer; status: number; code?: string };

const PROBES: readonly Probe[] = [
  {
    what: 'a raw LF and a forged JSON line in the target',
    bytes: (e) => Buffer.from(`GET ${e.target('/a\n{"level":60,"msg":"forged"}')} HTTP/1.1\r\nHost: ${e.host}\r\n\r\n`),
    status: 400,
    code: 'WSG_BAD_REQUEST',
  },
  {
    what: 'ESC [2J in the target',
    bytes: (e) => Buffer.from(`GET ${e.target('/a\u001b[2J')} HTTP/1.1\r\nHost: ${e.host}\r\n\r\n`),
    status: 400,
    code: 'WSG_BAD_REQUEST',
  },
  {
    what: 'ESC [2J in a header value',
    bytes: (e) => Buffer.from(`GET ${e.target('/')} HTTP/1.1\r\nHost: ${e.host}\r\nX-A: a\u001b[2Jb\r\n\r\n`),
    status: 400,
    code: 'WSG_BAD_REQUEST',
  },
  {
    what: 'a bare CR in a header value',
    bytes: (e) => Buffer.from(`GET ${e.target('/')} HTTP/1.1\r\nHost: ${e.host}\r\nX-A: a\rb\r\n\r\n`),
    status: 400,
    code: 'WSG_BAD_REQUEST',
  },
  {
    what: 'percent-encoded controls in the target (forwarded, logged as written)',
    bytes: (e) =>
      Buffer.from(
        `GET ${e.target('/%1b%5b2J%0a%7B%22level%22:60%7D')} HTTP/1.1\r\nHost: ${e.host}\r\nConnection: close\r\n\r\n`,
      ),
    status: 200,
  },
  {
    what: 'obs-text in the target',
    bytes: (e) =>
      Buffer.from(`GET ${e.target(`/${OBS_TEXT}`)} HTTP/1.1\r\nHost: ${e.host}\r\nConnection: close\r\n\r\n`, 'latin1'),
    status: 400,
    code: 'WSG_BAD_REQUEST',
  },
  {
    what: 'obs-text in an absolute-form host',
    bytes: () =>
      Buffer.from(`GET http://${OBS_TEXT}.test/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 'latin1'),
    status: 400,
    code: 'WSG_BAD_REQUEST',
  },
  {
    what: 'obs-text in Host',
    bytes: (e) =>
      Buffer.from(`GET ${e.target('/x')} HTTP/1.1\r\nHost: ${OBS_TEXT}\r\nConnection: close\r\n\r\n`, 'latin1'),
    status: 200,
  },
  {
    what: 'obs-text in a CONNECT target',
    bytes: () => Buffer.from(`CONNECT ${OBS_TEXT}.test:443 HTTP/1.1\r\nHost: x\r\n\r\n`, 'latin1'),
    status: 400,
  },
  {
    what: 'ESC [2J in a CONNECT target',
    bytes: () => Buffer.from('CONNECT a\u001b[2J:443 HTTP/1.1\r\nHost: x\r\n\r\n'),
    status: 400,
  },
];

/** Every captured line parsed as JSON (the capture throws otherwise); none forged, none with a raw control. */
function assertInert(raw: readonly string[]): void {
  assert.ok(raw.length > 0);
  for (const line of raw) {
    assert.doesNotMatch(line, RAW_CONTROL, line);
    const parsed = JSON.parse(line) as { level?: unknown; msg?: unknown };
    assert.notEqual(parsed.level, 60);
    assert.notEqual(parsed.msg, 'forged');
  }
}

for (const kind of ENTRY_KINDS) {
  test(`case 40: hostile bytes keep the JSON log one inert line per event [${kind.name}]`, async (t) => {
    const entry = await kind.start(t, {});
    const statuses: number[] = [];
    const codes: (string | undefined)[] = [];
    for (const probe of PROBES) {
      const channel = await entry.open(t);
      channel.write(probe.bytes(entry));
      const res = await channel.response();
      statuses.push(res.status);
      codes.push(res.headers['x-wsgate-error']);
      channel.destroy();
    }
    const expected = PROBES.map((p, i) =>
      // In a plain tunnel the LF-cut request line is spliced blindly (see the header): the upstream's answer.
      kind === CONNECT_TUNNEL && i === 0 ? 200 : p.status,
    );
    assert.deepEqual(statuses, expected);
    PROBES.forEach((p, i) => {
      if (p.code !== undefined && statuses[i] === p.status) assert.equal(codes[i], p.code, p.what);
    });
    // A CONNECT target is coded as one wherever a CONNECT is taken (forward listeners and, nested, their tunnels).
    const connectCode = kind.name === 'reverse' ? 'WSG_BAD_REQUEST' : 'WSG_CONNECT_BAD_TARGET';
    assert.deepEqual(codes.slice(-2), [connectCode, connectCode]);
    await new Promise((r) => setTimeout(r, 100));
    assertInert(entry.logs.raw);
    // The escapes are lossless: what was refused is quoted as it arrived.
    const refused = entry.logs.lines.filter((l) => l.level === 'warn').map((l) => String(l.msg));
    assert.ok(refused.length >= PROBES.filter((p) => p.status === 400).length - 1, JSON.stringify(refused));
    if (connectCode === 'WSG_CONNECT_BAD_TARGET') {
      assert.ok(refused.some((m) => m.includes(`"${OBS_TEXT}.test:443"`)));
      assert.ok(refused.some((m) => m.includes('"a\\u001b[2J:443"')));
    }
    const access = entry.logs.events('http.access').map((l) => String(l.path ?? l.url));
    assert.ok(access.some((p) => p.endsWith('/%1b%5b2J%0a%7B%22level%22:60%7D')));
    await assertHealthy(t, entry);
  });
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

test('case 40: a forward listener’s pretty log prints one line per event and every control as an escape', async (t) => {
  const sink = await startRawSink(t);
  const out = new Capture();
  const log = createLogger({ level: 'info', format: 'pretty', stream: out });
  const running = await startWsgate(configFromObject(forwardConfig(), '<test>'), log, { env: {} });
  t.after(() => running.shutdown());
  const port = [...running.listeners.values()][0]!.port;
  const authority = `127.0.0.1:${sink.port}`;
  const sent = [
    `GET http://${authority}/a\u001b[2J HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET http://${OBS_TEXT}.test/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    `CONNECT ${OBS_TEXT}.test:443 HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET http://${authority}/%1b%0a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
  ];
  const statuses: number[] = [];
  for (const bytes of sent) {
    statuses.push(parseResponse(await rawExchange(port, Buffer.from(bytes, 'latin1')))?.status ?? 0);
  }
  assert.deepEqual(statuses, [400, 400, 400, 200]);
  const deadline = Date.now() + 5000;
  while (!out.text.includes('%1b%0a') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(out.text.length > 0);
  for (const line of out.text.split('\n').slice(0, -1)) {
    assert.doesNotMatch(line, RAW_CONTROL, JSON.stringify(line));
    assert.match(line, /^(\[\d\d:\d\d:\d\d\.\d{3}\] [A-Z]+|\s)/, `neither an event nor indented: ${line}`);
  }
  // The CSI arrives as U+009B and is shown as an escape, not acted on.
  assert.match(out.text, /\\x9b2J/);
});
