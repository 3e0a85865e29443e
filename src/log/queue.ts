// Bounds the memory a log destination may hold. Lines are written asynchronously (the proxy never waits on a disk
// or a pipe), so a slow disk or a stdout pipe whose reader stopped would otherwise queue every line in memory and
// grow with traffic. Above log.maxQueueBytes pending, the traffic log's per-frame lines are shed before they are
// built (the traffic log asks `shed()`); access, error and lifecycle lines are still queued, up to four times the
// cap, and only past that dropped too. What was dropped is counted and said in one `log.dropped` line when the
// destination catches up, and every 10 s while it does not.
//
// Pending bytes come from public API only: sonic-boom's 'write' event (bytes it wrote) against what was handed to
// it, or a Node stream's writableLength. sonic-boom's own maxLength is not used: it would drop any line, access
// lines included.
import type { Writable } from 'node:stream';
import type pino from 'pino';

type SonicBoom = ReturnType<typeof pino.destination>;

/** How often a destination that stays behind is reported. */
export const DROP_REPORT_INTERVAL_MS = 10_000;

/** Access, error and lifecycle lines may use this many times the cap before they are dropped too. */
export const KEPT_LINES_FACTOR = 4;

export type DropReport = {
  /** "stdout", or the file. */
  destination: string;
  /** Traffic lines shed since the last report. */
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
  out: SonicBoom | Writable;
  /** The name reports use: "stdout" or the file path. */
  name: string;
  maxBytes: number;
  /** Turns each JSON line into what is written (pino-pretty); lines are written as they are without it. */
  format?: ((line: string) => string) | undefined;
};

function isSonicBoom(out: SonicBoom | Writable): out is SonicBoom {
  return !('writableLength' in out);
}

type Out = { boom: SonicBoom; stream?: undefined } | { boom?: undefined; stream: Writable };

/** The destination pino writes to: every line passes through write(); the traffic log asks shed() first. */
export class LogQueue {
  readonly name: string;
  readonly maxBytes: number;
  #out: Out;
  #format: ((line: string) => string) | undefined;
  /** For sonic-boom: bytes handed over minus bytes it reported written. */
  #handed = 0;
  #dropped = 0;
  #droppedOther = 0;
  #behindSince: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reporter: ((report: DropReport) => void) | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: LogQueueOptions) {
    this.name = options.name;
    this.maxBytes = options.maxBytes;
    this.#format = options.format;
    const out = options.out;
    if (isSonicBoom(out)) {
      this.#out = { boom: out };
      out.on('write', (n: number) => {
        this.#handed = Math.max(0, this.#handed - n);
        this.#checkRecovered();
      });
    } else {
      this.#out = { stream: out };
      out.on('drain', () => this.#checkRecovered());
    }
  }

  /** Where `log.dropped` lines go (the main logger; for the main destination, itself). */
  reportTo(reporter: (report: DropReport) => void): void {
    this.#reporter = reporter;
  }

  /** Bytes written to the destination but not yet taken by the disk or the pipe. */
  pendingBytes(): number {
    return this.#out.stream === undefined ? this.#handed : this.#out.stream.writableLength;
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
    this.#behind();
    return true;
  }

  /** pino's write: a line that must not be shed, kept unless even the hard ceiling is reached. */
  write(line: string): boolean {
    if (this.pendingBytes() > this.maxBytes * KEPT_LINES_FACTOR) {
      this.#droppedOther++;
      this.#behind();
      return false;
    }
    const text = this.#format === undefined ? line : this.#format(line);
    const { boom, stream } = this.#out;
    if (stream !== undefined) return stream.write(text);
    this.#handed += Buffer.byteLength(text);
    return boom.write(text);
  }

  /** pino's logger.flush(cb) ends here. */
  flush(cb?: (err?: Error | null) => void): void {
    const { boom, stream } = this.#out;
    if (stream === undefined) {
      boom.flush(cb);
      return;
    }
    if (cb === undefined) return;
    if (stream.writableLength === 0) cb();
    else stream.once('drain', () => cb());
  }

  /** Ends the destination once everything is written; a second call waits for the same end. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#report(true);
      const out = this.#out.boom ?? this.#out.stream;
      out.once('close', () => resolve());
      out.end();
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
    if (recovered) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#behindSince = undefined;
    }
    if (dropped === 0 && droppedOther === 0) return;
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
