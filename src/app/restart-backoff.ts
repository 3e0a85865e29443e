// How long the primary waits before it replaces a worker that crashed or failed to start: 100 ms, 200 ms, … up to
// 30 s, so a worker that cannot run does not spin the machine; a worker that ran for a while resets the sequence.
// Pure: the caller owns the timer.

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 30_000;
/** A worker that ran this long before it exited counts as a fresh failure, not one more in a streak. */
export const STABLE_MS = 10_000;

export class RestartBackoff {
  #streak = 0;

  /**
   * The delay before the next start, given how long the worker that exited had run (0 for one that never started),
   * and which attempt in the current streak that start is (1 for the first).
   */
  next(uptimeMs: number): { delayMs: number; attempt: number } {
    if (uptimeMs >= STABLE_MS) this.#streak = 0;
    const delayMs = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.#streak);
    this.#streak += 1;
    return { delayMs, attempt: this.#streak };
  }
}
