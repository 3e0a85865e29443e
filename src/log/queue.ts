// Bounds the memory a log destination may hold. Lines are written asynchronously (the proxy never waits on a disk
// or a pipe), so a slow disk or a stdout pipe whose reader stopped would otherwise queue every line in memory and
// grow with traffic. Above log.maxQueueBytes pending, the traffic log's per-frame lines are shed before they are
// built (the traffic log asks `shed()`); access, error and lifecycle lines are still queued, up to four times the
// cap, and only past that dropped too. What was dropped is counted and said in one `log.dropped` line when the
// destination catches up, and every 10 s while it does not.
//
// Pending bytes come from public API only: sonic-boom's 'write' event (bytes it wrote) against what was handed to
// it, or a Node stream's writableLength. sonic-boom's own maxLength is not used: it would drop any line, access
// lines included. Writes that fail (a full disk) are the same case as a slow destination, reported and retried.
//
// Size: over 400 lines because shedding, batching into one Buffer, failing writes, reopening and retargeting all
// work on the same pending-bytes state of one destination; split, each part would reach into the others' fields.
import type { Writable } from 'node:stream';
import type pino from 'pino';

type Destination = ReturnType<typeof pino.destination>;
// sonic-boom sets `fd` and `destroyed` on the instance; its typings leave them out.
type SonicBoom = Destination & { readonly fd: number; readonly destroyed?: boolean };

/** How often a destination that stays behind is reported. */
export const DROP_REPORT_INTERVAL_MS = 10_000;

/** A batch of lines for sonic-boom is handed over at this size, or FLUSH_DELAY_MS after its first line. */
const BATCH_CHARS = 64 * 1024;

/**
 * How long a line may wait for others before its batch is written. Each hand-over is a write on libuv's pool (a
 * thread wake-up and a system call): handed over every event-loop turn, a single connection's ping-pong wrote once
 * per frame, which cost it more than building the lines. 10 ms is well below what a person watching `wsgate tail`
 * notices, as nginx's `access_log … flush=` does at a coarser scale.
 */
export const FLUSH_DELAY_MS = 10;

/** Access, error and lifecycle lines may use this many times the cap before they are dropped too. */
export const KEPT_LINES_FACTOR = 4;

/** While writes fail (a full disk), how often the lines kept meanwhile are tried again when no new line comes. */
export const WRITE_RETRY_MS = 1000;

/**
 * A destination's writes failing (ENOSPC, EIO, EFBIG, a stdout whose reader is gone) and writing again. Lines wait
 * in memory meanwhile, bounded as for a slow destination: traffic lines are shed past the cap.
 */
export type WriteFailure = {
  destination: string;
  /** The error's code, e.g. ENOSPC. */
  code: string;
  message: string;
  recovered: boolean;
  /** How long writes failed, on recovery. */
  ms?: number;
  /** On recovery: bytes of lines dropped meanwhile because the file was not open (traffic lines shed not counted). */
  droppedBytes?: number;
};

export type DropReport = {
  /** "stdout", or the file. */
  destination: string;
  /** Traffic lines shed since the last report (0 in a recovery that follows a report of drops). */
  dropped: number;
  /** Other lines dropped past the hard ceiling since the last report. */
  droppedOther: number;
  /** Bytes waiting to be written when the report was made. */
  pendingBytes: number;
  maxQueueBytes: number;
  /** How long the destination has been behind, up to this report. */
  ms: number;
  /** True when the destination caught up, false when it is still behind. */
  recovered: boolean;
};

export type LogQueueOptions = {
  /** Where lines go: a sonic-boom destination (pino.destination) or any Node writable stream. */
  out: Destination | Writable;
  /** The name reports use: "stdout" or the file path. */
  name: string;
  maxBytes: number;
  /**
   * The sonic-boom was made with contentMode "buffer": batches are handed over encoded once here, rather than as a
   * string sonic-boom measures, writes and encodes again when the write completes.
   */
  bufferMode?: boolean | undefined;
  /** Turns each JSON line into what is written (pino-pretty); lines are written as they are without it. */
  format?: ((line: string) => string) | undefined;
  /** Told when writes start failing and when they succeed again. */
  onWriteFailure?: ((failure: WriteFailure) => void) | undefined;
};

function isSonicBoom(out: Destination | Writable): out is SonicBoom {
  return !('writableLength' in out);
}

type Out = { boom: SonicBoom; stream?: undefined } | { boom?: undefined; stream: Writable };

/** The destination pino writes to: every line passes through write(); the traffic log asks shed() first. */
export class LogQueue {
  /** "stdout" or the file path; retarget() changes it. */
  name: string;
  /** log.maxQueueBytes; a reload may change it. */
  maxBytes: number;
  #out: Out;
  #format: ((line: string) => string) | undefined;
  /** For sonic-boom: bytes handed over minus bytes it reported written. */
  #handed = 0;
  #dropped = 0;
  #droppedOther = 0;
  /** A report of drops went out during the current time behind: its end is reported too, dropped or not. */
  #reportedBehind = false;
  /** Since the start, for metrics (the fields above restart at every report). */
  #totalDropped = 0;
  #totalDroppedOther = 0;
  #behindSince: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reporter: ((report: DropReport) => void) | undefined;
  #closing: Promise<void> | undefined;
  #closed: (() => void) | undefined;
  // sonic-boom: lines of the last few milliseconds, handed over at once (see #batched). In buffer mode they are
  // written straight into a Buffer (#buf: bytes before #start are handed over, #start to #used wait), else
  // collected as strings (#batch, #batchChars).
  #batch: string[] = [];
  #batchChars = 0;
  #buf: Buffer | undefined;
  #start = 0;
  #used = 0;
  #batchScheduled = false;
  #bufferMode: boolean;
  #onWriteFailure: ((failure: WriteFailure) => void) | undefined;
  /** Since when writes fail, with the first error's code; undefined while they succeed. */
  #failing: { since: number; code: string; droppedBytes: number } | undefined;
  #lastError: unknown;
  #retry: NodeJS.Timeout | undefined;

  constructor(options: LogQueueOptions) {
    this.name = options.name;
    this.maxBytes = options.maxBytes;
    this.#format = options.format;
    this.#bufferMode = options.bufferMode === true;
    this.#onWriteFailure = options.onWriteFailure;
    this.#out = this.#attach(options.out);
  }

  #attach(out: Destination | Writable): Out {
    // An 'error' nobody listens to is thrown: a full disk would stop the process (or, for sonic-boom, hang it in its
    // exit flush below). Writes that fail are reported and tried again; the proxy carries on. A destination this
    // queue has left (retarget) is not heard any more.
    out.on('error', (err: Error) => {
      if (this.#isCurrent(out)) this.#onError(err);
    });
    if (isSonicBoom(out)) {
      out.on('write', (n: number) => {
        if (!this.#isCurrent(out)) return;
        this.#handed = Math.max(0, this.#handed - n);
        if (this.#failing !== undefined) this.#writesResumed();
        this.#checkRecovered();
      });
      // pino flushes sonic-boom synchronously at exit; sonic-boom's flushSync retries a write that fails with
      // anything but EAGAIN every 100 ms for ever, so a process exiting with its disk full would never end, and it
      // throws for a file not open yet (or never: no permission). What cannot be written by then is lost anyway.
      const flushSync = out.flushSync.bind(out);
      out.flushSync = () => {
        if (this.#failing === undefined && out.destroyed !== true && out.fd >= 0) flushSync();
      };
      return { boom: out };
    }
    out.on('drain', () => {
      if (this.#isCurrent(out)) this.#checkRecovered();
    });
    return { stream: out as Writable };
  }

  #isCurrent(out: Destination | Writable): boolean {
    return this.#out.boom === out || this.#out.stream === out;
  }

  /**
   * Writes to another destination from now on (a reload changed log.file or log.format). What the old one was given
   * is written there before it ends; stdout itself stays open. Whoever holds this queue (pino's loggers and their
   * children, the traffic log of open connections) writes to the new destination without knowing.
   */
  retarget(options: Pick<LogQueueOptions, 'out' | 'name' | 'format'>): void {
    this.#handOver();
    const old = this.#out;
    // The old destination may still hold views of the batch Buffer until it has written them.
    this.#buf = undefined;
    this.#start = 0;
    this.#used = 0;
    this.#handed = 0;
    clearInterval(this.#retry);
    this.#retry = undefined;
    const failing = this.#failing !== undefined;
    this.#failing = undefined;
    this.#lastError = undefined;
    this.name = options.name;
    this.#format = options.format;
    this.#out = this.#attach(options.out);
    if (old.boom !== undefined) {
      // A file failing its writes (a full disk) would hold its end for ever. One still opening ends once open (a
      // file that never opens is garbage with its listener).
      if (old.boom.destroyed) return;
      if (failing && old.boom.fd >= 0) old.boom.destroy();
      else old.boom.end();
    } else if (!old.stream.destroyed) old.stream.end();
  }

  /** Whether writes to the destination are failing now. */
  get failing(): boolean {
    return this.#failing !== undefined;
  }

  #onError(err: NodeJS.ErrnoException): void {
    // pino's own listener on sonic-boom re-emits the same error once.
    if (err === this.#lastError) return;
    this.#lastError = err;
    const { boom } = this.#out;
    if (boom !== undefined && this.#closing !== undefined) {
      this.#giveUp(boom);
      return;
    }
    if (this.#failing !== undefined) return;
    const code = err.code ?? 'EIO';
    this.#failing = { since: performance.now(), code, droppedBytes: 0 };
    this.#onWriteFailure?.({ destination: this.name, code, message: err.message, recovered: false });
    // sonic-boom tries a failed write again on the next write; with no new lines, a timer stands in for them.
    if (boom !== undefined) {
      this.#retry = setInterval(() => {
        if (this.#handed > 0 && !boom.destroyed && boom.fd >= 0) boom.write(Buffer.alloc(0) as unknown as string);
      }, WRITE_RETRY_MS);
      this.#retry.unref();
    }
  }

  /**
   * Ending while writes fail: what waits cannot be written, so close now rather than wait for a disk that may not
   * free. A file that never opened (its directory gone, no permission) has nothing to close: sonic-boom's destroy
   * would wait for an open that will not come.
   */
  #giveUp(boom: SonicBoom): void {
    if (boom.fd < 0) this.#closed?.();
    else if (!boom.destroyed) boom.destroy();
  }

  #writesResumed(): void {
    const failing = this.#failing!;
    this.#failing = undefined;
    this.#lastError = undefined;
    clearInterval(this.#retry);
    this.#retry = undefined;
    this.#onWriteFailure?.({
      destination: this.name,
      code: failing.code,
      message: 'writes succeed again',
      recovered: true,
      ms: Math.round(performance.now() - failing.since),
      droppedBytes: failing.droppedBytes,
    });
  }

  /** Where `log.dropped` lines go (the main logger; for the main destination, itself). */
  reportTo(reporter: (report: DropReport) => void): void {
    this.#reporter = reporter;
  }

  /** Lines dropped since the start: traffic lines shed, and other lines past the hard ceiling (for metrics). */
  droppedTotals(): { traffic: number; other: number } {
    return { traffic: this.#totalDropped, other: this.#totalDroppedOther };
  }

  /** Bytes written to the destination but not yet taken by the disk or the pipe. */
  pendingBytes(): number {
    return this.#out.stream === undefined
      ? this.#handed + this.#batchChars + this.#used - this.#start
      : this.#out.stream.writableLength;
  }

  /**
   * Whether a sheddable (traffic) line must be dropped now because the destination is behind by more than the cap;
   * counts it when so. Called before the line is built, so a stalled destination also saves the work.
   */
  shed(): boolean {
    if (this.pendingBytes() <= this.maxBytes) {
      this.#checkRecovered();
      return false;
    }
    this.#dropped++;
    this.#totalDropped++;
    this.#behind();
    return true;
  }

  /** pino's write: a line that must not be shed, kept unless even the hard ceiling is reached. */
  write(line: string): boolean {
    if (this.pendingBytes() > this.maxBytes * KEPT_LINES_FACTOR) {
      this.#droppedOther++;
      this.#totalDroppedOther++;
      this.#behind();
      return false;
    }
    const text = this.#format === undefined ? line : this.#format(line);
    const { stream } = this.#out;
    if (stream !== undefined) return stream.write(text);
    return this.#batched(text);
  }

  // sonic-boom measures its last buffer (up to 16 KiB, a rope it flattens) on every write and turns each write into
  // a Buffer afterwards, which made one traffic line per frame cost microseconds of copying. Lines are collected
  // instead (in buffer mode, copied into the batch's Buffer as they come) and handed over FLUSH_DELAY_MS after the
  // first, or once a batch is BATCH_CHARS long: one write per batch. Pending bytes count a string batch by its length
  // in UTF-16 units until it is handed over.
  #batched(text: string): boolean {
    if (this.#bufferMode) this.#append(text);
    else {
      this.#batch.push(text);
      this.#batchChars += text.length;
      if (this.#batchChars >= BATCH_CHARS) this.#handOver();
    }
    this.#scheduleBatch();
    return true;
  }

  #scheduleBatch(): void {
    if (!this.#batchScheduled && (this.#used > this.#start || this.#batchChars > 0)) {
      this.#batchScheduled = true;
      setTimeout(this.#onFlushDue, FLUSH_DELAY_MS);
    }
  }

  /**
   * Copies a line into the batch Buffer: one copy per line, where joining the lines and encoding the joined string
   * copied each twice more (and flattened it first). A batch holds up to BATCH_CHARS bytes; a longer line goes alone.
   * Batches follow one another in the same Buffer until it is full, so a slow trickle of lines does not hold a
   * mostly empty Buffer per batch while the destination is behind.
   */
  #append(text: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 unit.
    const most = text.length * 3;
    if (most > BATCH_CHARS) {
      this.#handOver();
      this.#buf = undefined;
      this.#handBytes(Buffer.from(text));
      return;
    }
    const buf = this.#room(most);
    this.#used += buf.write(text, this.#used);
  }

  /** The batch Buffer with at least `most` (≤ BATCH_CHARS) bytes free after #used; a full one is handed over. */
  #room(most: number): Buffer {
    if (this.#buf !== undefined && this.#used + most > this.#buf.length) {
      this.#handOver();
      this.#buf = undefined;
    }
    if (this.#buf === undefined) {
      this.#buf = Buffer.allocUnsafe(BATCH_CHARS);
      this.#start = 0;
      this.#used = 0;
    }
    return this.#buf;
  }

  /**
   * For a line written as bytes straight into the batch (the traffic log's frame and message lines, which then never
   * exist as strings: building, flattening and encoding one cost more than the rest of the line): the Buffer to
   * write into from `lineStart()`, with at least `most` bytes free, or undefined when this destination takes
   * strings only (a stream, a format such as pino-pretty, string batches) or the line would be too long. The
   * writer ends with `commitLine(end)`. Traffic lines only: the caller has asked shed() first.
   */
  lineRoom(most: number): Buffer | undefined {
    return this.takesLineBytes() && most <= BATCH_CHARS ? this.#room(most) : undefined;
  }

  /** Whether lineRoom() can give room at all. */
  takesLineBytes(): boolean {
    return this.#bufferMode && this.#format === undefined && this.#out.boom !== undefined;
  }

  lineStart(): number {
    return this.#used;
  }

  commitLine(end: number): void {
    this.#used = end;
    this.#scheduleBatch();
  }

  #handBytes(bytes: Buffer): void {
    // sonic-boom's types know only strings; in buffer mode it takes Buffers.
    this.#give(bytes as unknown as string, bytes.length);
  }

  /**
   * Hands a batch to sonic-boom. A file that failed to open has nowhere to put it (sonic-boom would throw on the
   * write): the batch is dropped and counted, so memory stays bounded and the report on recovery says so.
   */
  #give(data: string, bytes: number): void {
    const boom = this.#out.boom;
    if (boom === undefined) return;
    if (this.#failing !== undefined && boom.fd < 0) {
      this.#failing.droppedBytes += bytes;
      return;
    }
    this.#handed += bytes;
    try {
      boom.write(data);
    } catch (err) {
      this.#handed -= bytes;
      this.#onError(err as Error);
    }
  }

  #onFlushDue = (): void => {
    this.#batchScheduled = false;
    this.#handOver();
  };

  #handOver(): void {
    if (this.#out.boom === undefined) return;
    if (this.#buf !== undefined && this.#used > this.#start) {
      // sonic-boom keeps this view until it is written: the next batch goes after it, never over it.
      const bytes = this.#buf.subarray(this.#start, this.#used);
      this.#start = this.#used;
      this.#handBytes(bytes);
    }
    if (this.#batch.length === 0) return;
    const text = this.#batch.length === 1 ? this.#batch[0]! : this.#batch.join('');
    this.#batch = [];
    this.#batchChars = 0;
    this.#give(text, Buffer.byteLength(text));
  }

  /** pino's logger.flush(cb) ends here. */
  flush(cb?: (err?: Error | null) => void): void {
    const { boom, stream } = this.#out;
    if (stream === undefined) {
      this.#handOver();
      boom.flush(cb);
      return;
    }
    if (cb === undefined) return;
    if (stream.writableLength === 0) cb();
    else stream.once('drain', () => cb());
  }

  /**
   * Opens the file again at its path (after logrotate moved it away): lines handed over so far go to the old file,
   * later ones to the new. False when this destination is not a file wsgate opened, or is closing.
   */
  reopen(): boolean {
    const { boom } = this.#out;
    // A file that never opened cannot be reopened by sonic-boom (it would close fd -1 and throw): a restart it is.
    if (
      boom === undefined ||
      this.#closing !== undefined ||
      boom.destroyed === true ||
      boom.fd < 0 ||
      this.name === 'stdout'
    ) {
      return false;
    }
    this.#handOver();
    boom.reopen();
    return true;
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Ends the destination once everything is written; a second call waits for the same end. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#report(true);
      this.#handOver();
      clearInterval(this.#retry);
      const { boom, stream } = this.#out;
      const out = boom ?? stream;
      this.#closed = resolve;
      if (boom?.destroyed === true || stream?.destroyed === true) {
        resolve();
        return;
      }
      out.once('close', () => resolve());
      if (boom !== undefined && this.#failing !== undefined) this.#giveUp(boom);
      else out.end();
    });
    return this.#closing;
  }

  #behind(): void {
    if (this.#behindSince !== undefined) return;
    this.#behindSince = performance.now();
    this.#timer = setInterval(() => this.#report(false), DROP_REPORT_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Caught up (half the cap or less pending): say what was lost while behind. */
  #checkRecovered(): void {
    if (this.#behindSince !== undefined && this.pendingBytes() <= this.maxBytes / 2) this.#report(true);
  }

  #report(recovered: boolean): void {
    if (this.#behindSince === undefined) return;
    const dropped = this.#dropped;
    const droppedOther = this.#droppedOther;
    const ms = Math.round(performance.now() - this.#behindSince);
    this.#dropped = 0;
    this.#droppedOther = 0;
    const reportedBefore = this.#reportedBehind;
    if (recovered) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#behindSince = undefined;
      this.#reportedBehind = false;
    }
    // Nothing lost: nothing to say, unless an earlier report said lines were being lost, whose end the reader awaits.
    if (dropped === 0 && droppedOther === 0 && !(recovered && reportedBefore)) return;
    if (!recovered) this.#reportedBehind = true;
    this.#reporter?.({
      destination: this.name,
      dropped,
      droppedOther,
      pendingBytes: this.pendingBytes(),
      maxQueueBytes: this.maxBytes,
      ms,
      recovered,
    });
  }
}
