// Counts wsgate's log lines as the soak reads the log file back: all lines, traffic lines (ws.frame, ws.message), and
// what wsgate's bounded log queue says it dropped (`log.dropped` lines carry counts since their previous report), so
// the report can tell lines never written from lines never logged. Fed chunk by chunk (the file can reach hundreds of
// MB); a line split across chunks is joined. Pure, unit-tested.

export type LogCounts = { lines: number; trafficLines: number; droppedTraffic: number; droppedOther: number };

const TRAFFIC = /"event":"ws\.(frame|message)"/;

export class LogTally {
  #partial = '';
  readonly counts: LogCounts = { lines: 0, trafficLines: 0, droppedTraffic: 0, droppedOther: 0 };

  push(chunk: string): void {
    const parts = (this.#partial + chunk).split('\n');
    this.#partial = parts.pop() ?? '';
    for (const line of parts) this.#line(line);
  }

  /** Counts a last line that had no newline. */
  end(): LogCounts {
    if (this.#partial !== '') this.#line(this.#partial);
    this.#partial = '';
    return this.counts;
  }

  #line(line: string): void {
    if (line === '') return;
    this.counts.lines++;
    if (TRAFFIC.test(line)) this.counts.trafficLines++;
    else if (line.includes('"event":"log.dropped"')) {
      try {
        const r = JSON.parse(line) as { dropped?: unknown; droppedOther?: unknown };
        if (typeof r.dropped === 'number') this.counts.droppedTraffic += r.dropped;
        if (typeof r.droppedOther === 'number') this.counts.droppedOther += r.droppedOther;
      } catch {
        // a pretty-printed or cut line: counted as a line only
      }
    }
  }
}
