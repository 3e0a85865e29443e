// --idle bisect: how long a WebSocket may stay silent on this path. Fresh connections stay silent for 1 s, 2 s,
// 4 s, … and then ping. A connection that a middlebox ends during its silence (FIN, RST or a Close) gives the
// cut-off directly: the moment it ended. One that dies silently (no pong after the silence: a NAT or firewall that
// forgot it without telling anyone) only bounds it, so the search then halves the interval between the longest
// silence survived and the shortest one that killed, down to a tenth of the value or 250 ms. The whole search stays
// within the budget (--timeout); when the budget runs out first, the report says what was learned so far.
// A try waits for its pong at least three times as long as the ping step's round trip took, so a slow path (latency,
// a buffering proxy) is not mistaken for a dead one; when the ping step got no pong at all (pings swallowed), tries
// send no ping and only a Close, FIN or RST ends them.
import type { IdleEnd } from './judge.ts';
import { judgeIdle, UNCHECKED_HINT } from './judge.ts';
import { ok, type StepResult, warn } from './report.ts';
import { elapsed } from './wire.ts';
import { type Handshake, openConn, watchIdle } from './ws-steps.ts';

const FIRST_SILENCE_MS = 1000;
const MIN_GAP_MS = 250;
/** How long a try waits at least for its pong after the silence: a fast live path answers well within it. */
const PONG_WAIT_MS = 2000;

type Try = { silenceMs: number; end: IdleEnd | { how: 'unreachable' } };

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * `open(leftMs)` makes a try's connection, each of its steps waiting at most what is left of the budget, so a path
 * that stops answering new connections cannot hold the search past it.
 * `pingRttMs`: the ping step's round trip, or undefined when it got no pong (then no try sends a ping, and a try
 * that is not ended during its silence counts as survived, unconfirmed).
 */
export async function idleBisect(
  open: (leftMs: number) => Promise<Handshake | undefined>,
  budgetMs: number,
  stepTimeoutMs: number,
  pingRttMs: number | undefined,
): Promise<StepResult> {
  const start = performance.now();
  const deadline = start + budgetMs;
  const tries: Try[] = [];
  const pongWait = pingRttMs === undefined ? undefined : Math.min(stepTimeoutMs, Math.max(PONG_WAIT_MS, 3 * pingRttMs));
  // Each try costs its silence plus a handshake and a pong; leave room for both.
  const fits = (silence: number) => performance.now() + silence + (pongWait ?? 0) <= deadline;
  const attempt = async (silenceMs: number): Promise<Try> => {
    const handshake = await open(Math.max(1, Math.round(deadline - performance.now())));
    if (handshake === undefined) return { silenceMs, end: { how: 'unreachable' } };
    const conn = openConn(handshake);
    try {
      return { silenceMs, end: await watchIdle(conn, silenceMs, pongWait) };
    } finally {
      conn.destroy();
    }
  };
  let survived = 0;
  let died: { atMs: number; end: IdleEnd } | undefined;
  let silence = FIRST_SILENCE_MS;
  while (died === undefined && fits(silence)) {
    const t = await attempt(silence);
    tries.push(t);
    if (t.end.how === 'unreachable') break;
    if (t.end.how === 'alive' || t.end.how === 'unchecked') {
      survived = silence;
      silence *= 2;
    } else {
      died = { atMs: t.end.how === 'silent' ? silence : t.end.afterMs, end: t.end };
    }
  }
  // Only a silent death leaves an interval to narrow; a FIN, RST or Close was seen when it happened.
  while (
    died !== undefined &&
    died.end.how === 'silent' &&
    died.atMs - survived > Math.max(MIN_GAP_MS, survived * 0.1)
  ) {
    const mid = Math.round((survived + died.atMs) / 2);
    if (!fits(mid)) break;
    const t = await attempt(mid);
    tries.push(t);
    if (t.end.how === 'unreachable') break;
    if (t.end.how === 'alive') survived = mid;
    else died = { atMs: t.end.how === 'silent' ? mid : t.end.afterMs, end: t.end };
  }
  const facts = { budgetMs, survivedMs: survived, cutMs: died?.atMs ?? null, tries };
  const ms = elapsed(start);
  if (tries.at(-1)?.end.how === 'unreachable' && died === undefined) {
    return {
      step: 'idle',
      ms,
      verdict: warn('IDLE_BISECT_INCOMPLETE', `a new connection could not be opened after ${tries.length - 1} tries`),
      facts,
    };
  }
  if (died === undefined) {
    return {
      step: 'idle',
      ms,
      verdict:
        survived === 0
          ? warn(
              'IDLE_BISECT_INCOMPLETE',
              `the budget of ${secs(budgetMs)} is too short for a first try: raise --timeout`,
            )
          : pongWait === undefined
            ? warn(
                'IDLE_SURVIVED',
                `no Close, FIN or RST during ${secs(survived)} of silence (not confirmed with a ping, as pings get no pong on this path); no cut-off found within the ${secs(budgetMs)} budget (--timeout)`,
                UNCHECKED_HINT,
              )
            : ok(
                'IDLE_SURVIVED',
                `survived ${secs(survived)} of silence; no cut-off found within the ${secs(budgetMs)} budget (--timeout)`,
              ),
      facts,
    };
  }
  const verdict = judgeIdle(died.end.how === 'silent' ? { how: 'silent', afterMs: died.atMs } : died.end, died.atMs);
  const range = died.end.how === 'silent' ? ` (survived ${secs(survived)}, dead after ${secs(died.atMs)})` : '';
  return { step: 'idle', ms, verdict: { ...verdict, detail: `${verdict.detail}${range}` }, facts };
}
