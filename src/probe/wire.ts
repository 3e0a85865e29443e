// Socket helpers the probe's steps share: reading one HTTP response head (a proxy's answer to CONNECT, the answer
// to the Upgrade) with a deadline, and telling how a socket ended (FIN, RST, timeout). Every wait is bounded and
// every listener is removed when it is over, so a step never leaves the socket in a state the next step trips on.
import type { Socket } from 'node:net';
import { parseResponseHead, type ResponseHead } from '../http/head.ts';
import { isInterimStatus } from '../http/status.ts';

/** The largest response head read (proxies' error pages put their detail in the body, not the head). */
const MAX_HEAD_BYTES = 64 * 1024;

export type HeadRead =
  | { ok: true; head: ResponseHead; rest: Buffer }
  | { ok: false; why: 'timeout' | 'closed' | 'invalid' | 'error'; detail: string; received: number };

/**
 * Reads a response head from the socket; what follows it is returned as `rest` (the socket is left paused). With
 * `interim`, 1xx heads before the answer (100 Continue, 103 Early Hints; not 101, which is an answer) go to it and
 * the wait goes on, as a client does (RFC 9110 §15.2); all the heads together stay within the head bound.
 */
export function readHead(socket: Socket, timeoutMs: number, interim?: (head: ResponseHead) => void): Promise<HeadRead> {
  return new Promise((resolve) => {
    let buffered = Buffer.alloc(0);
    // Bytes of interim heads already read past: the answer's head has what is left of the bound.
    let interimBytes = 0;
    const done = (result: HeadRead) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      socket.pause();
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      let parsed = parseResponseHead(buffered, MAX_HEAD_BYTES - interimBytes);
      while (interim !== undefined && parsed.state === 'complete' && isInterimStatus(parsed.head.statusCode)) {
        interimBytes += parsed.head.length;
        interim(parsed.head);
        buffered = buffered.subarray(parsed.head.length);
        parsed = parseResponseHead(buffered, MAX_HEAD_BYTES - interimBytes);
      }
      if (parsed.state === 'incomplete') return;
      if (parsed.state === 'invalid') {
        done({ ok: false, why: 'invalid', detail: parsed.detail, received: buffered.length });
        return;
      }
      done({ ok: true, head: parsed.head, rest: buffered.subarray(parsed.head.length) });
    };
    const onEnd = () =>
      done({
        ok: false,
        why: 'closed',
        detail:
          buffered.length === 0
            ? 'the connection was closed without an answer'
            : `the connection was closed after ${buffered.length} bytes of an incomplete answer`,
        received: buffered.length,
      });
    const onError = (err: Error) =>
      done({ ok: false, why: 'error', detail: (err as NodeJS.ErrnoException).code ?? err.message, received: 0 });
    const timer = setTimeout(
      () => done({ ok: false, why: 'timeout', detail: `no answer within ${timeoutMs} ms`, received: buffered.length }),
      timeoutMs,
    );
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
    socket.resume();
  });
}

/** An interim 1xx head read past before the answer: the connect and upgrade steps' `interim` facts. */
export type InterimHead = { status: number; statusLine: string; headers: [string, string][] };

/**
 * Collects the interim heads readHead reads past (`onHead`), and names them the one way both steps show them:
 * `after` for the verdict's detail (" (after interim 100 Continue)"), `facts` spread into the step's facts.
 */
export function interimHeads(): { onHead: (head: ResponseHead) => void; after: () => string; facts: () => object } {
  const heads: InterimHead[] = [];
  return {
    onHead: (h) =>
      heads.push({ status: h.statusCode, statusLine: `${h.statusCode} ${h.statusMessage}`.trim(), headers: h.headers }),
    after: () => (heads.length === 0 ? '' : ` (after interim ${heads.map((h) => h.statusLine).join(', ')})`),
    facts: () => (heads.length === 0 ? {} : { interim: heads }),
  };
}

/** Up to `max` bytes of a body: what already arrived plus what comes within `waitMs` (for an error page's text). */
export function readSome(socket: Socket, already: Buffer, max: number, waitMs: number): Promise<Buffer> {
  if (already.length >= max || socket.destroyed) return Promise.resolve(already.subarray(0, max));
  return new Promise((resolve) => {
    let buffered = already;
    const done = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', done);
      socket.off('close', done);
      socket.pause();
      resolve(buffered.subarray(0, max));
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length >= max) done();
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', onData);
    socket.once('end', done);
    socket.once('close', done);
    socket.resume();
  });
}

/** An error page as one line: HTML tags dropped, whitespace folded, cut at `max` characters. */
export function bodyPreview(body: Buffer, max = 160): string {
  const text = body
    .toString('utf8')
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&[a-z]+;/gi, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function elapsed(start: number): number {
  return Math.round(performance.now() - start);
}
