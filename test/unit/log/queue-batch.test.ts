// LogQueue hands a sonic-boom destination the lines of one event-loop turn as one write (as a Buffer in buffer
// mode): pending bytes count the batch before it is handed over, the order of lines is kept, flush() and close()
// hand over what is waiting, and shed() still sees the batch.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import pino from 'pino';
import { LogQueue } from '../../../src/log/queue.ts';
import { tempDir } from '../../helpers/tls.ts';

for (const bufferMode of [true, false]) {
  test(`lines written together are one write, in order (${bufferMode ? 'buffer' : 'utf8'} mode)`, async (t) => {
    const file = join(tempDir(t, 'wsgate-queue-batch-'), 'out.log');
    const out = pino.destination({ dest: file, sync: false, ...(bufferMode ? { contentMode: 'buffer' } : {}) });
    const writes: number[] = [];
    out.on('write', (n: number) => writes.push(n));
    const queue = new LogQueue({ out, name: file, maxBytes: 1 << 20, bufferMode });
    await new Promise((r) => out.once('ready', r));
    const lines = Array.from({ length: 200 }, (_, i) => `{"n":${i},"s":"é→"}\n`);
    for (const line of lines) queue.write(line);
    // In buffer mode the batch is already UTF-8 (bytes); a string batch counts UTF-16 units.
    const waiting = bufferMode ? Buffer.byteLength(lines.join('')) : lines.join('').length;
    assert.equal(queue.pendingBytes(), waiting, 'the batch counts while it waits');
    await new Promise((r) => setImmediate(r));
    const deadline = Date.now() + 5000;
    while (queue.pendingBytes() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(queue.pendingBytes(), 0);
    assert.equal(writes.length, 1, 'one write for the batch');
    assert.equal(writes[0], Buffer.byteLength(lines.join('')));
    queue.write('{"last":true}\n');
    await queue.close();
    assert.equal(readFileSync(file, 'utf8'), `${lines.join('')}{"last":true}\n`);
  });
}

test('shed() sees lines waiting in the batch', async (t) => {
  const file = join(tempDir(t, 'wsgate-queue-batch-'), 'out.log');
  const out = pino.destination({ dest: file, sync: false, contentMode: 'buffer' });
  const queue = new LogQueue({ out, name: file, maxBytes: 1000, bufferMode: true });
  assert.equal(queue.shed(), false);
  queue.write(`${'x'.repeat(1200)}\n`);
  assert.equal(queue.shed(), true, 'over the cap before the turn ends');
  await queue.close();
});

/** A buffer-mode queue over a sonic-boom file, and the byte counts of the writes sonic-boom made. */
async function bufferQueue(t: TestContext): Promise<{ file: string; writes: number[]; queue: LogQueue }> {
  const file = join(tempDir(t, 'wsgate-queue-batch-'), 'out.log');
  const out = pino.destination({ dest: file, sync: false, contentMode: 'buffer' });
  const writes: number[] = [];
  out.on('write', (n: number) => writes.push(n));
  const queue = new LogQueue({ out, name: file, maxBytes: 1 << 24, bufferMode: true });
  await new Promise((r) => out.once('ready', r));
  return { file, writes, queue };
}

test('buffer mode: batches of up to 64 KiB, a longer line on its own, every byte in order', async (t) => {
  const { file, writes, queue } = await bufferQueue(t);
  const lines = [
    ...Array.from({ length: 1000 }, (_, i) => `{"n":${i},"pad":"${'x'.repeat(200)}","s":"é→"}\n`),
    `{"long":"${'y'.repeat(100_000)}"}\n`,
    '{"after":true}\n',
  ];
  for (const line of lines) queue.write(line);
  await queue.close();
  assert.equal(readFileSync(file, 'utf8'), lines.join(''));
  assert.ok(writes.length >= 5, `several writes (${writes.length})`);
  assert.ok(writes.includes(Buffer.byteLength(lines[1000]!)), 'the long line went alone');
  assert.ok(
    writes.every((n) => n <= 64 * 1024 || n === Buffer.byteLength(lines[1000]!)),
    `no batch over 64 KiB: ${writes.join(' ')}`,
  );
});

test('buffer mode: batches a few milliseconds apart share a Buffer without overwriting what is not yet written', async (t) => {
  const { file, writes, queue } = await bufferQueue(t);
  const lines: string[] = [];
  for (let batch = 0; batch < 6; batch++) {
    for (let i = 0; i < 3; i++) {
      const line = `{"batch":${batch},"i":${i},"s":"é→${'z'.repeat(batch * 7)}"}\n`;
      lines.push(line);
      queue.write(line);
    }
    // Past FLUSH_DELAY_MS: the batch is handed over, the next one is written behind it in the same Buffer.
    await new Promise((r) => setTimeout(r, 25));
  }
  await queue.close();
  assert.equal(readFileSync(file, 'utf8'), lines.join(''));
  assert.ok(writes.length >= 6, `one write per batch at least (${writes.length})`);
});
