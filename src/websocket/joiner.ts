// Joins a client socket and an upstream socket after a 101: every byte is forwarded unchanged, in order,
// with backpressure both ways (pause the reader when the writer's buffer is full, resume on 'drain').
// Observers see the same chunks after they have been written onward; they must not keep or mutate them.
// The join also records who ended the connection first and how, because a bare 1006 tells a user nothing.
import type net from 'node:net';
import type { Direction } from '../events.ts';
import { canReadPooled, switchToPooledReads } from './pooled-reads.ts';

export type { Direction } from '../events.ts';

export type EndCause = {
  /** Who ended the connection first. */
  by: 'client' | 'upstream' | 'wsgate';
  /**
   * How: a TCP FIN, a reset or socket error, an idle timeout, wsgate shutting down, or wsgate closing for a broken
   * limit or another protocol violation (tap.onViolation: close), or a fault a rule asked for (link-shaper.ts), or
   * a Close wsgate was asked to send (a rule's close, the admin API).
   */
  how: 'fin' | 'rst' | 'error' | 'idle' | 'shutdown' | 'limit' | 'violation' | 'fault' | 'close';
  detail?: string;
};

export type JoinStats = {
  bytesToUpstream: number;
  bytesToClient: number;
  durationMs: number;
  cause: EndCause;
};

export type JoinOptions = {
  /** No bytes either way for this long ends the connection (0 = off). */
  idleTimeout: number;
  /** After one side has sent FIN, how long the other may keep sending before both are destroyed. */
  halfCloseLinger: number;
  onChunk?: ((direction: Direction, chunk: Buffer) => void) | undefined;
  /**
   * Writes a chunk onward instead of `to.write(chunk)`, returning write()'s answer: for a tap that must judge the
   * bytes before they leave (tap.onViolation: close). Not called in a halted direction.
   */
  forward?: ((direction: Direction, chunk: Buffer, to: net.Socket) => boolean) | undefined;
  /**
   * Passes a reader's FIN on instead of `to.end()`: a link shaper ends the receiver only once the bytes it holds are
   * written, or never (halfOpen). The reader's socket closing then leaves the receiver to it, for halfCloseLinger at
   * most.
   */
  endOnward?: ((direction: Direction, to: net.Socket) => void) | undefined;
};

export type Joined = {
  /** Resolves once both sockets are closed. */
  done: Promise<JoinStats>;
  /** Ends both sides now, recording wsgate as the one that ended it. */
  terminate(how: EndCause['how'], detail?: string): void;
  /**
   * Writes `bytes` to the receiver of `direction` and forwards nothing more in that direction (chunks still reach
   * onChunk, so the observer sees the peer's answer). Shutdown uses it to send a Close frame between frames.
   */
  haltAndSend(direction: Direction, bytes: Buffer): void;
  /** Records the cause if none is recorded yet (e.g. wsgate started a closing handshake). */
  markCause(cause: EndCause): void;
  /** Half-closes both sockets (FIN), once a closing handshake is complete. */
  endBoth(): void;
};

const RST_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

export function joinSockets(client: net.Socket, upstream: net.Socket, options: JoinOptions): Joined {
  const started = performance.now();
  let bytesToUpstream = 0;
  let bytesToClient = 0;
  let cause: EndCause | undefined;
  let linger: NodeJS.Timeout | undefined;
  const onChunk = options.onChunk;
  const forward = options.forward;

  const record = (c: EndCause) => {
    cause ??= c;
  };

  const halted = { toUpstream: false, toClient: false };

  const pump = (from: net.Socket, to: net.Socket, direction: Direction) => {
    const onData = (chunk: Buffer): boolean => {
      if (direction === 'toUpstream') bytesToUpstream += chunk.length;
      else bytesToClient += chunk.length;
      const ok = halted[direction] || (forward ? forward(direction, chunk, to) : to.write(chunk));
      if (onChunk) onChunk(direction, chunk);
      return ok;
    };
    // A forward hook (the close-mode gate, a link shaper) may keep chunks, so only a plain join reads pooled.
    const pooled = forward === undefined && canReadPooled(from);
    const onDataEvent = (chunk: Buffer) => {
      if (!onData(chunk)) from.pause();
      else if (pooled && switchToPooledReads(from, to, onData)) from.off('data', onDataEvent);
    };
    from.on('data', onDataEvent);
    to.on('drain', () => from.resume());
    from.on('end', () => {
      record({ by: from === client ? 'client' : 'upstream', how: 'fin' });
      // Propagate the half-close; the other side may still send its remaining frames.
      if (options.endOnward) options.endOnward(direction, to);
      else if (!to.destroyed) to.end();
      if (!linger) {
        linger = setTimeout(() => {
          client.destroy();
          upstream.destroy();
        }, options.halfCloseLinger);
        linger.unref();
      }
    });
    from.on('error', (err: NodeJS.ErrnoException) => {
      record({
        by: from === client ? 'client' : 'upstream',
        how: err.code !== undefined && RST_CODES.has(err.code) ? 'rst' : 'error',
        detail: err.code ?? err.message,
      });
      to.destroy();
    });
  };

  pump(client, upstream, 'toUpstream');
  pump(upstream, client, 'toClient');

  if (options.idleTimeout > 0) {
    // Socket timeouts count reads and writes, and every byte passes the client socket one way or the other.
    client.setTimeout(options.idleTimeout, () => {
      record({ by: 'wsgate', how: 'idle', detail: `no traffic for ${options.idleTimeout} ms` });
      client.destroy();
      upstream.destroy();
    });
  }

  // One promise, settled once both sockets have closed: a Promise.all over one promise per socket, and their
  // 'close' listeners, held about 700 bytes more for every idle connection.
  let open = 2;
  let settle!: (stats: JoinStats) => void;
  const done = new Promise<JoinStats>((resolve) => {
    settle = resolve;
  });
  const closedOne = () => {
    open -= 1;
    if (open > 0) return;
    // After every listener of this 'close' has run, as when each socket had a promise of its own: a cause one of
    // them records still counts.
    queueMicrotask(() => {
      if (linger) clearTimeout(linger);
      settle({
        bytesToUpstream,
        bytesToClient,
        durationMs: Math.round(performance.now() - started),
        cause: cause ?? { by: 'wsgate', how: 'error' },
      });
    });
  };
  const watchClose = (socket: net.Socket, other: net.Socket, by: 'client' | 'upstream') => {
    if (socket.closed) closedOne();
    else {
      socket.on('close', () => {
        record({ by, how: 'rst' });
        // A socket that closed after its FIN had that FIN passed on through endOnward: a link shaper may still hold
        // bytes toward the other socket (the peer's Close among them) and ends it once they are written. Destroying
        // it now would cut them off (the peer sees 1006); the linger armed at the FIN bounds a peer that never reads.
        if (options.endOnward === undefined || !socket.readableEnded) other.destroy();
        closedOne();
      });
    }
  };
  watchClose(client, upstream, 'client');
  watchClose(upstream, client, 'upstream');

  return {
    done,
    terminate(how, detail) {
      record(detail === undefined ? { by: 'wsgate', how } : { by: 'wsgate', how, detail });
      client.destroy();
      upstream.destroy();
    },
    haltAndSend(direction, bytes) {
      if (halted[direction]) return;
      halted[direction] = true;
      const to = direction === 'toUpstream' ? upstream : client;
      if (!to.destroyed && to.writable) to.write(bytes);
    },
    markCause: record,
    endBoth() {
      if (!client.destroyed) client.end();
      if (!upstream.destroyed) upstream.end();
    },
  };
}
