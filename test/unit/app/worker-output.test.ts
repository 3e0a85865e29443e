// forwardLines: a worker's stdout reaches the primary's only in whole lines, whatever the chunking, so lines of two
// workers never interleave; a line without an end is held only up to MAX_PARTIAL_LINE.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { forwardLines, MAX_PARTIAL_LINE } from '../../../src/app/worker-output.ts';

function collect(): { from: PassThrough; writes: string[] } {
  const from = new PassThrough();
  const writes: string[] = [];
  forwardLines(from, (data) => void writes.push(data.toString()));
  return { from, writes };
}

/** Lets the 'data' events of what was written so far run. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

test('a line split over chunks is written once, whole', async () => {
  const { from, writes } = collect();
  from.write('{"a":');
  await tick();
  assert.deepEqual(writes, []);
  from.write('1}\n{"b"');
  await tick();
  assert.deepEqual(writes, ['{"a":1}\n']);
  from.write(':2}\n');
  await tick();
  assert.deepEqual(writes, ['{"a":1}\n', '{"b":2}\n']);
});

test('several lines in one chunk are written together, up to the last newline', async () => {
  const { from, writes } = collect();
  from.write('one\ntwo\nthr');
  await tick();
  assert.deepEqual(writes, ['one\ntwo\n']);
});

test('a last line without a newline gets one when the stream ends', async () => {
  const { from, writes } = collect();
  from.end('last words');
  await once(from, 'end');
  assert.deepEqual(writes, ['last words\n']);
});

test('output without a newline is held up to MAX_PARTIAL_LINE, then written as it is', async () => {
  const { from, writes } = collect();
  from.write(Buffer.alloc(MAX_PARTIAL_LINE - 1, 0x61));
  await tick();
  assert.equal(writes.length, 0, 'held while shorter than MAX_PARTIAL_LINE');
  from.write('b');
  await tick();
  assert.equal(writes.length, 1);
  assert.equal(writes[0]?.length, MAX_PARTIAL_LINE);
  from.end('c\n');
  await once(from, 'end');
  assert.deepEqual(writes.slice(1), ['c\n']);
});
