// The session file: message records written to SQLite (node:sqlite) by a worker thread (store-disk-worker.ts),
// so history the memory store evicted stays readable, paged and filtered, through the same API. The main thread
// only collects records into a batch and posts it every 50 ms (or at 1,000 records): structured cloning of one
// array (large payloads copied and transferred instead) is the whole cost on the proxy's thread. The file is
// bounded (inspector.store.maxFileBytes; the oldest messages are deleted past it) and, when no file was
// configured, a temporary one removed on close.
// docs/admin-api.md records why SQLite and not append-only JSON lines.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { attachStoredData } from './records.ts';
import type { MessageQuery, StoredMessage } from './store.ts';

const FLUSH_MS = 50;
const FLUSH_ROWS = 1000;
/**
 * Batches posted and not yet inserted, past which whole payloads are left out of new batches (previews still go):
 * a worker that falls behind must not queue the proxy's traffic in memory without limit.
 */
const MAX_BATCHES_IN_FLIGHT = 8;
/**
 * Payloads of at least this many bytes go to the worker as a copy it takes over (transferred) rather than cloned:
 * a structured clone copies twice and grows its buffer as it goes, 1-3 ms of CPU per MiB here against 0.2-0.6 for
 * a copy; below it the two cost the same within noise (scratch measurements, 64 B to 1 MiB).
 */
const TRANSFER_MIN_BYTES = 16 * 1024;

type Row = {
  seq: number;
  conn: string;
  time: string;
  dir: string;
  kind: string;
  preview: string | null;
  rest: string;
  /** Only when asked for (one message, HAR): the whole payload, and whether it was cut. */
  data?: Uint8Array | string | null;
  data_truncated?: number | null;
};

export type DiskPage = { messages: StoredMessage[]; total: number; more: boolean; rotated: number };

function fromRow(r: Row): StoredMessage {
  const rest = JSON.parse(r.rest) as Omit<StoredMessage, 'seq' | 'conn' | 'time' | 'dir' | 'kind' | 'preview'>;
  const m: StoredMessage = {
    seq: r.seq,
    conn: r.conn,
    time: r.time,
    dir: r.dir as StoredMessage['dir'],
    kind: r.kind,
    ...(r.preview === null ? {} : { preview: r.preview }),
    ...rest,
  };
  if (r.data !== undefined && r.data !== null)
    attachStoredData(m, { bytes: r.data, truncated: r.data_truncated === 1 });
  return m;
}

/** A payload as posted to the worker: large bytes as a copy of their own, listed in `transfer`. */
function forWorker(bytes: Uint8Array | string, transfer: ArrayBuffer[]): Uint8Array | string {
  if (typeof bytes === 'string' || bytes.length < TRANSFER_MIN_BYTES) return bytes;
  // The memory store keeps the original for the API; the worker gets the copy, which leaves this thread.
  const copy = new Uint8Array(bytes);
  transfer.push(copy.buffer);
  return copy;
}

export class SessionFile {
  #worker: Worker;
  #batch: StoredMessage[] = [];
  #timer: NodeJS.Timeout | undefined;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #tempDir: string | undefined;
  #closed: Promise<void> | undefined;
  #onError: (message: string) => void;
  #inFlight = 0;
  /** Whole payloads left out of the file because the worker was behind (their previews are there). */
  skippedPayloads = 0;
  readonly file: string;

  constructor(options: { file: string | undefined; maxBytes: number; onError: (message: string) => void }) {
    if (options.file === undefined) this.#tempDir = mkdtempSync(join(tmpdir(), 'wsgate-session-'));
    this.file = options.file ?? join(this.#tempDir!, 'session.sqlite');
    this.#onError = options.onError;
    this.#worker = new Worker(new URL('./store-disk-worker.ts', import.meta.url), {
      workerData: { file: this.file, maxBytes: options.maxBytes, temporary: this.#tempDir !== undefined },
    });
    // The worker must not keep the process alive on its own; pending queries keep it referenced while they wait.
    this.#worker.unref();
    this.#worker.on('message', (msg: { id?: number; result?: unknown; error?: string }) => {
      if (msg.id === undefined) {
        // An insert's answer (done, or failed) frees its place.
        this.#inFlight = Math.max(0, this.#inFlight - 1);
        if (msg.error !== undefined) this.#onError(msg.error);
        return;
      }
      const waiter = this.#pending.get(msg.id);
      if (waiter === undefined) return;
      this.#pending.delete(msg.id);
      if (this.#pending.size === 0) this.#worker.unref();
      if (msg.error !== undefined) waiter.reject(new Error(msg.error));
      else waiter.resolve(msg.result);
    });
    this.#worker.on('error', (err) => {
      this.#onError(err.message);
      for (const waiter of this.#pending.values()) waiter.reject(err);
      this.#pending.clear();
    });
  }

  append(message: StoredMessage): void {
    if (this.#closed) return;
    // The record itself: turning it into a row (JSON for the rest of its fields) is the worker's job.
    this.#batch.push(message);
    if (this.#batch.length >= FLUSH_ROWS) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#batch.length === 0) return;
    // The whole payload is a non-enumerable field (lists never carry it): the worker gets it spelled out.
    const behind = this.#inFlight >= MAX_BATCHES_IN_FLIGHT;
    const transfer: ArrayBuffer[] = [];
    const rows = this.#batch.map((m) => {
      if (m.data === undefined) return m;
      if (behind) {
        this.skippedPayloads++;
        return m;
      }
      return { ...m, data: forWorker(m.data.bytes, transfer), dataTruncated: m.data.truncated };
    });
    this.#inFlight++;
    this.#batch = [];
    this.#worker.postMessage({ type: 'insert', rows }, transfer);
  }

  #call(message: Record<string, unknown>): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.ref();
      this.#worker.postMessage({ ...message, id });
    });
  }

  /** Messages of one connection after `after` (and before `before`, when given), in order. */
  async query(
    conn: string,
    q: MessageQuery & { before?: number | undefined; withData?: boolean | undefined },
  ): Promise<DiskPage> {
    // What is still in the batch is written first, so a query sees every message appended before it.
    this.flush();
    const result = (await this.#call({
      type: 'query',
      query: {
        conn,
        after: q.after,
        before: q.before,
        limit: q.limit,
        direction: q.direction,
        type: q.type,
        text: q.text,
        withData: q.withData === true,
      },
    })) as { rows: Row[]; total: number; more: boolean; rotated: number };
    return { messages: result.rows.map(fromRow), total: result.total, more: result.more, rotated: result.rotated };
  }

  /** One message with its whole payload, or undefined when the file does not have it (never, or rotated out). */
  async one(conn: string, seq: number): Promise<StoredMessage | undefined> {
    this.flush();
    const result = (await this.#call({ type: 'one', conn, seq })) as { row: Row | undefined };
    return result.row === undefined ? undefined : fromRow(result.row);
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.flush();
      try {
        await this.#call({ type: 'close' });
      } catch {
        // A worker that already failed has nothing left to close.
      }
      await this.#worker.terminate();
      if (this.#tempDir !== undefined) rmSync(this.#tempDir, { recursive: true, force: true });
    })();
    return this.#closed;
  }
}
