// Clients that leave before they are answered, on every entry kind: the access line says nobody was answered
// (status 0 and why, never Node's default 200), and a client that only left is no malformed request (no warn line:
// llhttp reports a connection that ends inside a request as HPE_INVALID_EOF_STATE). A truly malformed request
// still gets its 400 and its warn line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Channel, ENTRY_KINDS, type Entry, waitForLine } from '../helpers/entry-kinds.ts';
import { defaultResponder, parseResponse } from '../helpers/raw.ts';
import type { LogLine } from '../helpers/wsgate.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The upstream never answers `/silent`: a client asking for it waits until it leaves. */
const respond = (head: string) => (head.startsWith('GET /silent ') ? undefined : defaultResponder(head));

/** Warn and error lines, but for the CA wsgate creates for interception. */
function warnings(entry: Entry): LogLine[] {
  return entry.logs.lines.filter((l) => ['warn', 'error'].includes(String(l.level)) && l.event !== 'tls.ca_created');
}

/** The client sends FIN (TLS: close_notify first), as a client that gives up does. */
function leave(channel: Channel): void {
  channel.socket.end();
}

for (const kind of ENTRY_KINDS) {
  test(`a client that leaves while the upstream is asked is logged with status 0, no warning [${kind.name}]`, async (t) => {
    const entry = await kind.start(t, {}, { respond });
    const channel = await entry.open(t);
    channel.write(`GET ${entry.target('/silent')} HTTP/1.1\r\nHost: ${entry.host}\r\n\r\n`);
    for (let i = 0; i < 300 && !entry.upstreamText().includes('GET /silent '); i += 1) await sleep(10);
    assert.match(entry.upstreamText(), /GET \/silent /);
    leave(channel);
    const line = await waitForLine(entry.logs, 'http.access', () => true);
    assert.equal(line.status, 0, JSON.stringify(line));
    assert.equal(line.outcome, 'client_gone');
    assert.equal(line.completed, false);
    assert.match(String(line.msg), / 0 \(no response: the client left\)/);
    await sleep(200);
    assert.deepEqual(warnings(entry), []);
  });

  test(`a client that leaves mid-body is logged with status 0, no warning [${kind.name}]`, async (t) => {
    const entry = await kind.start(t, {}, { respond });
    const channel = await entry.open(t);
    channel.write(`POST ${entry.target('/upload')} HTTP/1.1\r\nHost: ${entry.host}\r\nContent-Length: 100\r\n\r\n`);
    channel.write('x'.repeat(10));
    await sleep(100);
    leave(channel);
    const line = await waitForLine(entry.logs, 'http.access', () => true);
    assert.equal(line.status, 0, JSON.stringify(line));
    assert.equal(line.outcome, 'request_cut');
    await sleep(200);
    assert.deepEqual(warnings(entry), []);
  });

  test(`a client that leaves after its 408 gets one warning, the timeout's [${kind.name}]`, async (t) => {
    const entry = await kind.start(t, { headersTimeout: '1s' });
    const channel = await entry.open(t);
    channel.write(`GET ${entry.target('/slow')} HTTP/1.1\r\nHost: ${entry.host}\r\nX-Slow: a`);
    for (let i = 0; i < 400 && parseResponse(channel.received) === undefined; i += 1) await sleep(10);
    assert.equal(parseResponse(channel.received)?.status, 408, channel.received.toString('latin1'));
    leave(channel);
    assert.ok(await channel.waitClosed(), 'closed after the 408');
    await sleep(200);
    assert.deepEqual(
      warnings(entry).map((l) => [l.event, l.code]),
      [['http.client_error', 'WSG_HEADERS_TIMEOUT']],
    );
  });

  test(`a malformed request still gets 400 and a warning [${kind.name}]`, async (t) => {
    const entry = await kind.start(t, {});
    const channel = await entry.open(t);
    channel.write(`GET ${entry.target('/x')} HTTP/1.1\r\nHost: ${entry.host}\r\nBad Name: x\r\n\r\n`);
    const res = await channel.response();
    assert.equal(res.status, 400);
    assert.equal(res.headers['x-wsgate-error'], 'WSG_BAD_REQUEST');
    leave(channel);
    await channel.waitClosed();
    await sleep(200);
    assert.deepEqual(
      warnings(entry).map((l) => [l.event, l.code, l.reason]),
      [['http.client_error', 'WSG_BAD_REQUEST', 'HPE_INVALID_HEADER_TOKEN']],
    );
  });
}
