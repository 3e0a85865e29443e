// The session file's worker thread: owns the SQLite database (node:sqlite, WAL), inserts batches of message
// records in one transaction each, deletes the oldest messages past the size limit (rotation), and answers paged,
// filtered queries. It runs off the main thread so that serialisation, SQLite and the disk never hold up the proxy.
// Messages in: { type: 'insert', rows } | { type: 'query', id, query } | { type: 'close', id }.
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';

type Row = { seq: number; conn: string; time: string; dir: string; kind: string; preview: string | null; rest: string };
/** A StoredMessage as the main thread posts it. */
type Posted = {
  seq: number;
  conn: string;
  time: string;
  dir: string;
  kind: string;
  preview?: string | undefined;
  /** The whole payload (text when redacted, else bytes), spelled out by SessionFile.flush. */
  data?: Uint8Array | string | undefined;
  dataTruncated?: boolean | undefined;
};
type Query = {
  conn: string;
  after: number;
  before: number | undefined;
  limit: number;
  direction: string | undefined;
  type: string | undefined;
  text: string | undefined;
  withData: boolean;
};

const { file, maxBytes, temporary } = workerData as { file: string; maxBytes: number; temporary: boolean };
const db = new DatabaseSync(file);
// Whole 64 KiB messages at wire speed made the disk the cost (measured: ~0.8 ms a row with WAL and synchronous
// NORMAL, ~0.55 ms with synchronous OFF, ~0.15-0.2 ms with the rollback journal in memory; docs/admin-api.md). This
// worker is the file's only reader and writer, and the file is a capture, not a system of record: no fsync. A
// temporary file (removed on close, unreadable after a crash anyway) also keeps its journal in memory, so each page
// is written once; a configured file keeps WAL, so a crash of wsgate never leaves it half-written.
db.exec(
  temporary
    ? 'PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF;'
    : 'PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;',
);
db.exec(`
  CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY, conn TEXT NOT NULL, time TEXT NOT NULL, dir TEXT NOT NULL, kind TEXT NOT NULL,
    preview TEXT, rest TEXT NOT NULL, bytes INTEGER NOT NULL, data BLOB, data_truncated INTEGER
  );
  CREATE INDEX IF NOT EXISTS messages_conn ON messages (conn, seq);
  DROP INDEX IF EXISTS messages_dir;
  DROP INDEX IF EXISTS messages_time;
`);
// One index: a page is a connection's rows in seq order, and filters (direction, type, text) are checked on the
// rows of that range, as the page's COUNT already walks them. An index on (conn, dir, seq) cost a third of each
// insert (5.7 -> 3.8 us a row in a scratch loop), on the worker thread that shares the machine's cores with the
// proxy, to speed up one filter of a page.
// A file written before whole payloads were kept has no data columns: they are added (old rows read as previews).
const columns = new Set((db.prepare('PRAGMA table_info(messages)').all() as { name: string }[]).map((c) => c.name));
if (!columns.has('data')) db.exec('ALTER TABLE messages ADD COLUMN data BLOB');
if (!columns.has('data_truncated')) db.exec('ALTER TABLE messages ADD COLUMN data_truncated INTEGER');
// A configured file outlives a run, and each run numbers its messages (and connections) from 1 again: this run's
// rows are stored after the last one already there, so an earlier run's rows are neither replaced nor mixed into
// this run's pages (they stay in the file, oldest first to be rotated out). The API's seqs are this run's.
const base = Number((db.prepare('SELECT COALESCE(MAX(seq), 0) AS n FROM messages').get() as { n: number }).n);
const insert = db.prepare(
  'INSERT INTO messages (seq, conn, time, dir, kind, preview, rest, bytes, data, data_truncated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
);
const selectOne = db.prepare(
  'SELECT seq, conn, time, dir, kind, preview, rest, data, data_truncated FROM messages WHERE conn = ? AND seq = ?',
);
let stored = Number((db.prepare('SELECT COALESCE(SUM(bytes), 0) AS n FROM messages').get() as { n: number }).n);
let rotated = 0;

function insertBatch(records: Posted[]): void {
  db.exec('BEGIN');
  try {
    for (const record of records) {
      const { seq, conn, time, dir, kind, preview, data, dataTruncated, ...others } = record;
      const rest = JSON.stringify(others);
      const dataBytes = data === undefined ? 0 : typeof data === 'string' ? data.length * 2 : data.length;
      const bytes = 64 + (preview?.length ?? 0) + rest.length + dataBytes;
      insert.run(
        seq + base,
        conn,
        time,
        dir,
        kind,
        preview ?? null,
        rest,
        bytes,
        data ?? null,
        data === undefined ? null : dataTruncated ? 1 : 0,
      );
      stored += bytes;
    }
    db.exec('COMMIT');
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
  if (stored > maxBytes) rotate();
}

/** Deletes the oldest messages until the file's payload is back under 90% of the limit. */
function rotate(): void {
  const target = maxBytes * 0.9;
  const oldest = db.prepare('SELECT seq, bytes FROM messages ORDER BY seq LIMIT 1000');
  while (stored > target) {
    const rows = oldest.all() as { seq: number; bytes: number }[];
    if (rows.length === 0) break;
    let cut = rows[rows.length - 1]!.seq;
    let freed = 0;
    let ours = 0;
    for (const r of rows) {
      freed += r.bytes;
      if (r.seq > base) ours++;
      if (stored - freed <= target) {
        cut = r.seq;
        break;
      }
    }
    db.prepare('DELETE FROM messages WHERE seq <= ?').run(cut);
    // What this run's API reports as rotated out: its own messages, not an earlier run's.
    rotated += ours;
    stored -= freed;
  }
}

/** A row as the API numbers it: this run's seq. */
function ofThisRun(row: Row): Row {
  row.seq -= base;
  return row;
}

function query(q: Query): { rows: Row[]; total: number; more: boolean } {
  const where = ['conn = ?', 'seq > ?'];
  const args: (string | number)[] = [q.conn, q.after + base];
  if (q.before !== undefined) {
    where.push('seq < ?');
    args.push(q.before + base);
  }
  if (q.direction !== undefined) {
    where.push('dir = ?');
    args.push(q.direction);
  }
  if (q.type !== undefined) {
    where.push('kind = ?');
    args.push(q.type);
  }
  if (q.text !== undefined) {
    where.push("instr(lower(COALESCE(preview, '')), ?) > 0");
    args.push(q.text.toLowerCase());
  }
  const dataColumns = q.withData ? ', data, data_truncated' : '';
  const sql = `SELECT seq, conn, time, dir, kind, preview, rest${dataColumns} FROM messages WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`;
  const rows = (db.prepare(sql).all(...args, q.limit + 1) as Row[]).map(ofThisRun);
  const total = Number(
    (db.prepare('SELECT COUNT(*) AS n FROM messages WHERE conn = ? AND seq > ?').get(q.conn, base) as { n: number }).n,
  );
  return { rows: rows.slice(0, q.limit), total, more: rows.length > q.limit };
}

parentPort!.on(
  'message',
  (msg: { type: string; id?: number; rows?: Posted[]; query?: Query; conn?: string; seq?: number }) => {
    try {
      if (msg.type === 'insert') {
        insertBatch(msg.rows!);
        // The main thread counts batches in flight (store-disk.ts): each insert answers once, done or failed.
        parentPort!.postMessage({ inserted: msg.rows!.length });
      } else if (msg.type === 'query')
        parentPort!.postMessage({ id: msg.id, result: { ...query(msg.query!), rotated } });
      else if (msg.type === 'one') {
        const row = selectOne.get(msg.conn!, msg.seq! + base) as Row | undefined;
        parentPort!.postMessage({ id: msg.id, result: { row: row === undefined ? undefined : ofThisRun(row) } });
      } else if (msg.type === 'close') {
        db.close();
        parentPort!.postMessage({ id: msg.id, result: { closed: true } });
      }
    } catch (err) {
      if (msg.id !== undefined) parentPort!.postMessage({ id: msg.id, error: (err as Error).message });
      else parentPort!.postMessage({ error: (err as Error).message });
    }
  },
);
