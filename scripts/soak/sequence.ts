// What the soak checks on every connection: each message carries a sequence number and its connection's id, and the
// echo must come back exactly once, in the order sent. The tracker keeps only the messages in flight (a handful per
// connection at one message a second), so 10,000 of them cost little. Pure, unit-tested.

/** The text sent: "<seq>:<conn>:" padded with dots to the configured size, so the echo names its connection. */
export function formatMessage(conn: number, seq: number, size: number): string {
  const head = `${seq}:${conn}:`;
  return head.length >= size ? head : head + '.'.repeat(size - head.length);
}

/** seq and conn of an echoed message; null when it is not one of ours (cut, altered, or another's format). */
export function parseMessage(text: string): { seq: number; conn: number } | null {
  const m = /^(\d{1,9}):(\d{1,9}):\.*$/.exec(text);
  if (!m) return null;
  return { seq: Number(m[1]), conn: Number(m[2]) };
}

export type EchoOutcome =
  | { kind: 'in-order'; rttMs: number }
  /** It came back after an echo of a later message: the round trip still counts. */
  | { kind: 'reordered'; rttMs: number }
  /** Not in flight: a second copy, or a sequence number never sent. */
  | { kind: 'unexpected' };

/** One connection's sent and echoed sequence numbers. */
export class SequenceTracker {
  #inFlight = new Map<number, number>();
  #nextSeq = 0;
  #highestEchoed = -1;
  received = 0;
  reordered = 0;
  unexpected = 0;

  get sent(): number {
    return this.#nextSeq;
  }

  /** Messages sent whose echo has not come back (yet); at the end of the run these are the lost ones. */
  get outstanding(): number {
    return this.#inFlight.size;
  }

  /** Records a send at time now (ms) and returns its sequence number. */
  send(now: number): number {
    const seq = this.#nextSeq++;
    this.#inFlight.set(seq, now);
    return seq;
  }

  echo(seq: number, now: number): EchoOutcome {
    const sentAt = this.#inFlight.get(seq);
    if (sentAt === undefined) {
      this.unexpected++;
      return { kind: 'unexpected' };
    }
    this.#inFlight.delete(seq);
    this.received++;
    const rttMs = now - sentAt;
    if (seq < this.#highestEchoed) {
      this.reordered++;
      return { kind: 'reordered', rttMs };
    }
    this.#highestEchoed = seq;
    return { kind: 'in-order', rttMs };
  }
}

/** The sum over a client's connections, and over clients. */
export type SequenceTotals = { sent: number; received: number; lost: number; reordered: number; unexpected: number };

export function emptyTotals(): SequenceTotals {
  return { sent: 0, received: 0, lost: 0, reordered: 0, unexpected: 0 };
}

/** Adds a finished tracker (its outstanding messages count as lost) into totals. */
export function addTracker(totals: SequenceTotals, t: SequenceTracker): SequenceTotals {
  totals.sent += t.sent;
  totals.received += t.received;
  totals.lost += t.outstanding;
  totals.reordered += t.reordered;
  totals.unexpected += t.unexpected;
  return totals;
}

export function addTotals(a: SequenceTotals, b: SequenceTotals): SequenceTotals {
  return {
    sent: a.sent + b.sent,
    received: a.received + b.received,
    lost: a.lost + b.lost,
    reordered: a.reordered + b.reordered,
    unexpected: a.unexpected + b.unexpected,
  };
}
