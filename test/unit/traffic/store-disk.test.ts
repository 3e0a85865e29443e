// The session file on its own (a real SQLite file written by its worker thread): records come back as they went
// in, paged and filtered; past maxBytes the oldest messages are deleted (rotation); a temporary file is removed on
// close; a configured one keeps earlier runs apart from this one.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { attachStoredData } from '../../../src/traffic/records.ts';
import type { StoredMessage } from '../../../src/traffic/store.ts';
import { SessionFile } from '../../../src/traffic/store-disk.ts';
import { tempDir } from '../../helpers/tls.ts';

function message(seq: number, conn: string, preview: string): StoredMessage {
  return {
    seq,
    conn,
    time: new Date(1_800_000_000_000 + seq).toISOString(),
    dir: seq % 2 === 0 ? 'toClient' : 'toUpstream',
    kind: 'text',
    size: preview.length,
    compressed: false,
    fragments: 1,
    preview,
    truncated: seq === 3,
  };
}

test('records round-trip, paged and filtered by connection, direction, type and text', async (t) => {
  const errors: string[] = [];
  const file = new SessionFile({ file: undefined, maxBytes: 1 << 30, onError: (m) => errors.push(m) });
  t.after(() => file.close());
  for (let seq = 1; seq <= 40; seq++) file.append(message(seq, seq <= 20 ? 'a' : 'b', `msg ${seq}`));
  const first = await file.query('a', { after: 0, limit: 5 });
  assert.deepEqual(
    first.messages.map((m) => m.seq),
    [1, 2, 3, 4, 5],
  );
  assert.equal(first.more, true);
  assert.equal(first.total, 20);
  assert.deepEqual(first.messages[2], message(3, 'a', 'msg 3'));
  const next = await file.query('a', { after: 5, limit: 100, direction: 'toClient' });
  assert.deepEqual(
    next.messages.map((m) => m.seq),
    [6, 8, 10, 12, 14, 16, 18, 20],
  );
  assert.equal(next.more, false);
  assert.deepEqual(
    (await file.query('b', { after: 0, limit: 100, text: 'MSG 3' })).messages.map((m) => m.seq),
    [30, 31, 32, 33, 34, 35, 36, 37, 38, 39],
  );
  assert.deepEqual((await file.query('a', { after: 0, limit: 10, before: 3 })).messages.length, 2);
  assert.equal((await file.query('a', { after: 0, limit: 10, type: 'binary' })).messages.length, 0);
  assert.deepEqual(errors, []);
  const path = file.file;
  assert.ok(existsSync(path));
  await file.close();
  assert.equal(existsSync(path), false, 'the temporary session file is removed on close');
});

test('past maxBytes the oldest messages are deleted and counted', async (t) => {
  const file = new SessionFile({ file: undefined, maxBytes: 200_000, onError: () => {} });
  t.after(() => file.close());
  const big = 'y'.repeat(1000);
  for (let seq = 1; seq <= 1000; seq++) file.append(message(seq, 'c', big));
  const page = await file.query('c', { after: 0, limit: 1000 });
  assert.ok(page.rotated > 0, 'some messages were rotated out');
  assert.ok(page.total < 200, `kept ${page.total}`);
  assert.equal(page.total + page.rotated, 1000);
  // What is left is the newest, in order.
  assert.equal(page.messages[page.messages.length - 1]!.seq, 1000);
  for (let i = 1; i < page.messages.length; i++) assert.equal(page.messages[i]!.seq, page.messages[i - 1]!.seq + 1);
});

test('whole payloads reach the file byte for byte, small and large, and the memory store keeps its own', async (t) => {
  const file = new SessionFile({ file: undefined, maxBytes: 1 << 30, onError: () => {} });
  t.after(() => file.close());
  // Large payloads are copied and transferred to the worker, small ones cloned: both must arrive whole, and the
  // bytes the memory store holds must stay readable (a transferred original would be detached, length 0).
  const sizes = [5, 16 * 1024 - 1, 16 * 1024, 300_000];
  const kept: Uint8Array[] = [];
  sizes.forEach((size, i) => {
    const bytes = new Uint8Array(size).map((_, j) => (j * 31 + i) & 0xff);
    kept.push(bytes);
    const m: StoredMessage = { ...message(i + 1, 'a', 'p'), kind: 'binary', size };
    attachStoredData(m, { bytes, truncated: false });
    file.append(m);
  });
  file.flush();
  for (const [i, size] of sizes.entries()) {
    assert.equal(kept[i]!.length, size, `the memory store's ${size} B stay readable`);
  }
  for (const [i, size] of sizes.entries()) {
    const back = await file.one('a', i + 1);
    const data = back?.data;
    assert.ok(data !== undefined && typeof data.bytes !== 'string', `message ${i + 1} has its bytes`);
    assert.equal(Buffer.compare(Buffer.from(data.bytes as Uint8Array), Buffer.from(kept[i]!)), 0, `${size} B equal`);
  }
});

test('a configured file keeps an earlier run: this run numbers from 1 again, and neither replaces nor mixes', async (t) => {
  const dir = tempDir(t, 'wsgate-session-runs-');
  const path = join(dir, 'session.sqlite');
  // Run 1: connection w1 (ids restart with the process, as seqs do), ten messages.
  const first = new SessionFile({ file: path, maxBytes: 1 << 30, onError: () => {} });
  for (let seq = 1; seq <= 10; seq++) first.append(message(seq, 'w1', `first ${seq}`));
  await first.close();
  // Run 2: another w1, four messages with the same seqs.
  const errors: string[] = [];
  const second = new SessionFile({ file: path, maxBytes: 1 << 30, onError: (m) => errors.push(m) });
  t.after(() => second.close());
  for (let seq = 1; seq <= 4; seq++) second.append(message(seq, 'w1', `second ${seq}`));
  const page = await second.query('w1', { after: 0, limit: 100 });
  assert.deepEqual(
    page.messages.map((m) => [m.seq, m.preview]),
    [1, 2, 3, 4].map((seq) => [seq, `second ${seq}`]),
  );
  assert.equal(page.total, 4);
  assert.equal((await second.one('w1', 2))?.preview, 'second 2');
  assert.equal(await second.one('w1', 7), undefined, "run 1's seventh message is not this run's");
  assert.deepEqual((await second.query('w1', { after: 2, limit: 1 })).messages[0]?.seq, 3);
  await second.close();
  assert.deepEqual(errors, []);
  const db = new DatabaseSync(path, { readOnly: true });
  const previews = (db.prepare('SELECT preview FROM messages ORDER BY seq').all() as { preview: string }[]).map(
    (r) => r.preview,
  );
  db.close();
  assert.equal(previews.length, 14, 'both runs are in the file');
  assert.deepEqual(previews.slice(0, 2), ['first 1', 'first 2']);
  assert.deepEqual(previews.slice(-1), ['second 4']);
});

test("past maxBytes an earlier run's messages go first, and this run counts only its own as rotated", async (t) => {
  const dir = tempDir(t, 'wsgate-session-rotate-');
  const path = join(dir, 'session.sqlite');
  const big = 'z'.repeat(1000);
  const first = new SessionFile({ file: path, maxBytes: 1 << 30, onError: () => {} });
  for (let seq = 1; seq <= 100; seq++) first.append(message(seq, 'w1', big));
  await first.close();
  const second = new SessionFile({ file: path, maxBytes: 60_000, onError: () => {} });
  t.after(() => second.close());
  for (let seq = 1; seq <= 30; seq++) second.append(message(seq, 'w1', big));
  const page = await second.query('w1', { after: 0, limit: 100 });
  assert.equal(page.total, 30, "this run's messages fit in the limit once run 1's are gone");
  assert.equal(page.rotated, 0);
  await second.close();
  const db = new DatabaseSync(path, { readOnly: true });
  const left = Number((db.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n);
  db.close();
  assert.ok(left >= 30 && left < 60, `run 1 rotated out first (${left} rows left)`);
});
