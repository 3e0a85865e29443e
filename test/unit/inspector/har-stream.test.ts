// The HAR export is written entry by entry and waits for a slow reader: a reader that stops reading stops the
// export from building more entries (memory stays bounded by what the socket holds), and what it reads in the end
// is one valid HAR. A real server on 127.0.0.1 and a real client socket.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { sendHarStream } from '../../../src/inspector/har-stream.ts';
import { harChunks, harLog } from '../../../src/traffic/har.ts';

test('harChunks joins into the same HAR as harLog', () => {
  const entries = [{ a: 1 }, { b: 'two' }, { c: [3] }];
  assert.deepEqual(JSON.parse([...harChunks(entries, '1.2.3')].join('')), harLog(entries, '1.2.3'));
  assert.deepEqual(JSON.parse([...harChunks([], '1.2.3')].join('')), harLog([], '1.2.3'));
});

test('a reader that stops reading stops the export from building entries', async (t) => {
  const total = 2000;
  let built = 0;
  function* entries() {
    for (let i = 0; i < total; i++) {
      built++;
      yield { i, data: 'x'.repeat(16 * 1024) };
    }
  }
  // Listeners left on the answer by the waits for the reader: one per wait would add hundreds here.
  let closeListenersAtEnd = -1;
  const server = http.createServer((_req, res) => {
    const baseline = res.listenerCount('close');
    void sendHarStream(res, 'big.har', entries(), 'test').then(() => {
      closeListenersAtEnd = res.listenerCount('close') - baseline;
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const { port } = server.address() as net.AddressInfo;

  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write('GET /api/har HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  socket.pause();
  // 2000 entries of 16 KiB are 32 MiB; a paused reader lets the kernel and the stream buffer hold a few MiB.
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(built < total / 4, `built ${built} of ${total} entries for a reader that read nothing`);

  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.resume();
  await once(socket, 'end');
  const raw = Buffer.concat(chunks).toString('latin1');
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
  assert.match(head, /^HTTP\/1\.1 200/);
  assert.match(head, /transfer-encoding: chunked/i);
  assert.match(head, /content-disposition: attachment; filename="big.har"/i);
  assert.equal(built, total);
  const body = dechunk(Buffer.from(raw.slice(head.length + 4), 'latin1'));
  const har = JSON.parse(body.toString('utf8')) as { log: { version: string; entries: { i: number }[] } };
  assert.equal(har.log.version, '1.2');
  assert.equal(har.log.entries.length, total);
  assert.equal(har.log.entries[total - 1]!.i, total - 1);
  assert.equal(closeListenersAtEnd, 0, 'listeners left on the answer by the waits for the reader');
});

test('a reader that goes away ends the export', async (t) => {
  let built = 0;
  let done: () => void;
  const finished = new Promise<void>((r) => {
    done = r;
  });
  function* entries() {
    for (let i = 0; i < 100_000; i++) {
      built++;
      yield { i, data: 'y'.repeat(16 * 1024) };
    }
  }
  const server = http.createServer((_req, res) => void sendHarStream(res, 'x.har', entries(), 'test').then(done));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const { port } = server.address() as net.AddressInfo;
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  await once(socket, 'data');
  socket.destroy();
  await finished;
  assert.ok(built < 100_000, `built all ${built} entries for a reader that left`);
});

function dechunk(buf: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    const size = Number.parseInt(buf.subarray(at, eol).toString('latin1'), 16);
    if (size === 0) return Buffer.concat(out);
    out.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

test('HEAD answers the headers and builds no entry', async (t) => {
  let built = 0;
  function* entries() {
    for (let i = 0; i < 10; i++) {
      built++;
      yield { i };
    }
  }
  const server = http.createServer((_req, res) => void sendHarStream(res, 'h.har', entries(), 'test'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const { port } = server.address() as net.AddressInfo;
  const res = await fetch(`http://127.0.0.1:${port}/api/har`, { method: 'HEAD' });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.equal(built, 0);
});
